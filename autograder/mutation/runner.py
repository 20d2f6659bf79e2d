"""Grade the mutant catalogue of an assignment with real ``nbgrader autograde`` and judge the result.

All submissions of one assignment (the solutions, the untouched release and
one per mutant, each as its own "student") go through a single
``nbgrader autograde`` run in a temporary course directory with its own
gradebook; the repository's course directory is never touched.  Oracles are
cached on disk for the run (``AUTOGRADER_ORACLE_CACHE``), so torch is
imported by the first submission only.
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from .. import course, notebooks
from ..checks import mistake_of
from ..oracles import CACHE_ENV
from . import Mutant, catalogue, expected_failures, must_keep, submission

SOLUTION, RELEASE = "solution", "release"
DOCS = course.ROOT / "docs" / "mutants.md"


@dataclass
class Outcome:
    """What one submission scored, and whether that is what it had to score."""

    student: str
    mutant: Mutant | None
    scores: dict
    zero: tuple
    full: tuple

    @property
    def problems(self) -> list[str]:
        out = []
        for gid in self.zero:
            score, top = self.scores.get(gid, (None, None))
            if score is None or score != 0:
                out.append(f"{gid} scored {score}/{top}, expected 0")
        for gid in self.full:
            score, top = self.scores.get(gid, (None, None))
            if score is None or score != top:
                out.append(f"{gid} scored {score}/{top}, expected full marks")
        return out

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def total(self) -> tuple[float, float]:
        return sum(s for s, _ in self.scores.values()), sum(t for _, t in self.scores.values())


def submissions(assignment: course.Assignment, root: Path = course.ROOT,
                mutants: list[Mutant] | None = None) -> dict[str, tuple[Mutant | None, dict]]:
    """``{student: (mutant, notebook)}``: the solutions, the untouched release, and every mutant (or only
    ``mutants``)."""
    solution = notebooks.read(assignment.source(root))
    release = notebooks.read(assignment.release(root))
    out = {SOLUTION: (None, submission(release, solution)), RELEASE: (None, release)}
    for mutant in catalogue(assignment) if mutants is None else mutants:
        out[mutant.id] = (mutant, submission(release, solution, mutant))
    return out


def sample(assignment: course.Assignment) -> list[Mutant]:
    """A few mutants that stand for the catalogue: the first bug of every answer cell and the first correct
    variant.  Every mutant runs in-process (:func:`quick_scores`); these also go through real nbgrader,
    which costs seconds per submission, to show that both ways score alike."""
    chosen, cells = [], set()
    for mutant in catalogue(assignment):
        if not mutant.correct and mutant.cell not in cells:
            cells.add(mutant.cell)
            chosen.append(mutant)
    chosen += [m for m in catalogue(assignment) if m.correct][:1]
    return chosen


def grade(assignment: course.Assignment, workdir: Path, root: Path = course.ROOT,
          mutants: list[Mutant] | None = None) -> dict:
    """Autograde every submission of the catalogue (or the solutions, the release and ``mutants``) in
    ``workdir``; returns the gradebook's scores."""
    workdir = Path(workdir)
    course.make_course(workdir, [assignment.name], root)
    course.generate_release(assignment.name, workdir)
    for student, (_, notebook) in submissions(assignment, root, mutants).items():
        course.submit(workdir, assignment, student, notebook)
    course.nbgrader("autograde", assignment.name, cwd=workdir, env={CACHE_ENV: str(workdir / "oracle-cache")})
    return course.scores(workdir, assignment.name)


def quick_scores(assignment: course.Assignment, root: Path = course.ROOT, mutants: list[Mutant] | None = None) -> dict:
    """The same scores without nbgrader: each notebook's cells run in this process, about a hundred times
    faster (the catalogue's test in CI, and an authoring aid)."""
    return quick_run(assignment, root, mutants)[0]


def run_cells(notebook: dict, student: str, source_of=notebooks.cell_text):
    """Run ``notebook``'s code cells top to bottom in one fresh namespace in this process, each cell's text
    given by ``source_of(cell)``; yields ``(cell, the exception it raised or None)``.  A failing cell does not
    stop the ones after it, as in nbgrader."""
    namespace = {"__name__": "__main__"}
    for cell in filter(notebooks.is_code, notebook["cells"]):
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                exec(compile(source_of(cell), f"<{student}:{notebooks.grade_id(cell)}>", "exec"), namespace)
            yield cell, None
        except Exception as error:  # the cell's verdict, reported to the caller
            yield cell, error


def quick_run(assignment: course.Assignment, root: Path = course.ROOT,
              mutants: list[Mutant] | None = None) -> tuple[dict, dict]:
    """(:func:`quick_scores`, ``{student: {grade_id: mistake code}}`` of every part that lost points)."""
    solution = notebooks.read(assignment.source(root))
    tests, points = notebooks.test_cells(solution), notebooks.graded_parts(solution)

    def restored(cell: dict) -> str:  # test cells run as the instructor wrote them, as nbgrader restores them
        return notebooks.cell_text(tests.get(notebooks.grade_id(cell), cell))

    out, codes = {}, {}
    for student, (_, notebook) in tqdm(submissions(assignment, root, mutants).items(), desc=assignment.name,
                                       leave=False):
        out[student], codes[student] = {}, {}
        for cell, error in run_cells(notebook, student, restored):
            gid = notebooks.grade_id(cell)
            if gid in tests:
                out[student][gid] = (points[gid] if error is None else 0.0, points[gid])
                if error is not None:
                    codes[student][gid] = mistake_of(error) if isinstance(error, AssertionError) else "crashed"
    return out, codes


def visible_failures(assignment: course.Assignment, root: Path = course.ROOT,
                     mutants: list[Mutant] | None = None) -> dict[str, list[str]]:
    """``{student: [grade_id of each test cell that failed]}`` when each submission runs top to bottom as the
    student has it, with the release's visible tests only (what ``nbgrader validate`` reports before they
    submit)."""
    return {student: [notebooks.grade_id(cell) for cell, error in run_cells(notebook, student)
                      if error is not None and notebooks.is_test_cell(cell)]
            for student, (_, notebook) in submissions(assignment, root, mutants).items()}


def visible_misses(assignment: course.Assignment, root: Path = course.ROOT) -> list[str]:
    """The catalogued bugs that lose hidden points yet pass every visible test: what a student would submit
    believing it right (issue 15 wants none); a bug the catalogue lists as ``unseen`` (no public case can catch
    it, and why) is not counted, unless a visible test catches it after all: then its reason is out of date."""
    failures = visible_failures(assignment, root)
    bugs = [m for m in catalogue(assignment) if not m.correct]
    return ([m.id for m in bugs if not failures.get(m.id) and m.unseen is None]
            + [f"{m.id} (listed as unseen: {m.unseen}; yet a visible test catches it)"
               for m in bugs if failures.get(m.id) and m.unseen is not None])


def wrong_codes(assignment: course.Assignment, codes: dict, root: Path = course.ROOT) -> list[str]:
    """The bugs whose first lost part carries another mistake code than the catalogue states."""
    table, problems = assignment.parts(), []
    for mutant in catalogue(assignment):
        if mutant.correct:
            continue
        first = expected_failures(mutant, table)[0]
        found = codes.get(mutant.id, {}).get(first)
        if found != mutant.mistake:
            problems.append(f"{mutant.id}: {first} carries mistake {found!r}, the catalogue says {mutant.mistake!r}")
    return problems


def judge(assignment: course.Assignment, scores: dict, root: Path = course.ROOT,
          mutants: list[Mutant] | None = None) -> list[Outcome]:
    """Compare every submission's scores (the solutions', the release's, and every mutant's or only
    ``mutants``') with what it must score."""
    table = assignment.parts()
    everything = tuple(table)
    outcomes = [Outcome(SOLUTION, None, scores.get(SOLUTION, {}), (), everything),
                Outcome(RELEASE, None, scores.get(RELEASE, {}), everything, ())]
    for mutant in catalogue(assignment) if mutants is None else mutants:
        outcomes.append(Outcome(mutant.id, mutant, scores.get(mutant.id, {}),
                                expected_failures(mutant, table), must_keep(mutant, table)))
    return outcomes


def summary(outcomes: list[Outcome]) -> dict:
    bugs = [o for o in outcomes if o.mutant is not None and not o.mutant.correct]
    correct = [o for o in outcomes if o.mutant is not None and o.mutant.correct]
    return {"bugs": len(bugs), "caught": sum(o.ok for o in bugs),
            "variants": len(correct), "rejected": sum(not o.ok for o in correct),
            "solution_full": outcomes[0].ok, "release_zero": outcomes[1].ok}


def _result(outcome: Outcome) -> str:
    scored, top = outcome.total
    if outcome.mutant is None or outcome.mutant.correct:
        return f"full marks ({scored:g}/{top:g})" if outcome.ok else "REJECTED: " + "; ".join(outcome.problems)
    if not outcome.ok:
        return "NOT CAUGHT: " + "; ".join(outcome.problems)
    lost = ", ".join(f"`{gid}` 0/{outcome.scores[gid][1]:g}" for gid in outcome.zero)
    return f"caught: {lost} (total {scored:g}/{top:g})"


def section(assignment: course.Assignment, outcomes: list[Outcome]) -> str:
    """The assignment's section of docs/mutants.md."""
    s = summary(outcomes)
    lines = [f"## {assignment.name}", "",
             f"{s['caught']} of {s['bugs']} buggy versions caught; {s['variants'] - s['rejected']} of "
             f"{s['variants']} correct variants given full marks; the solutions: {_result(outcomes[0])}; "
             f"the untouched release: {'zero on every part' if outcomes[1].ok else 'NOT ZERO'}.", "",
             "| mutant | function | kind | what it does | must lose | result |",
             "| --- | --- | --- | --- | --- | --- |"]
    for outcome in outcomes[2:]:
        m = outcome.mutant
        kind = "correct" if m.correct else "bug"
        lose = ", ".join(f"`{g}`" for g in outcome.zero) or "nothing"
        description = m.description.replace("|", "\\|")
        lines.append(f"| `{m.name}` | `{m.cell}` | {kind} | {description} | {lose} | {_result(outcome)} |")
    return "\n".join(lines) + "\n"


HEADER = """# The mutant catalogue

Generated by `python -m autograder.mutation --write` (do not edit by hand); `tests/test_mutants.py`
checks that it is up to date.  Every mutant below went through real `nbgrader autograde`: a *bug* must
score zero on the parts listed under "must lose" and keep full marks on the parts that do not depend on
it; a *correct* variant must get full marks.  In CI every mutant runs in-process, and the solutions, the
release and one bug per answer cell also through real nbgrader.  See `autograder/mutation/__init__.py` for the rules and
docs/instructors.md for adding a mutant.
"""


def write_docs(sections: dict[str, str], path: Path = DOCS) -> None:
    """Replace (or add) the given assignments' sections of docs/mutants.md, keeping the others."""
    current = read_sections(path)
    current.update(sections)
    counts = [0, 0, 0, 0]
    for text in current.values():
        found = re.search(r"(\d+) of (\d+) buggy versions caught; (\d+) of (\d+) correct variants", text)
        counts = [c + int(v) for c, v in zip(counts, found.groups())] if found else counts
    total = (f"In all: {counts[0]} of {counts[1]} buggy versions caught, {counts[2]} of {counts[3]} correct "
             "variants given full marks.\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + "\n" + total + "\n" + "\n".join(current[name] for name in sorted(current)))


def read_sections(path: Path = DOCS) -> dict[str, str]:
    """``{assignment: section text}`` of docs/mutants.md."""
    if not Path(path).exists():
        return {}
    text = Path(path).read_text()
    chunks = text.split("\n## ")[1:]
    return {chunk.split("\n", 1)[0].strip(): "## " + chunk.rstrip("\n") + "\n" for chunk in chunks}


def run(names: list[str], quick: bool = False, write: bool = False, workdir: Path | None = None) -> bool:
    """Grade and judge the catalogues of ``names``; print a summary; optionally rewrite the docs."""
    ok, sections = True, {}
    for name in names:
        assignment = course.get(name)
        start = time.perf_counter()
        if quick:
            scores = quick_scores(assignment)
        else:
            with tempfile.TemporaryDirectory(prefix=f"mutants-{name}-", dir=workdir) as tmp:
                scores = grade(assignment, Path(tmp))
        outcomes = judge(assignment, scores)
        s = summary(outcomes)
        print(f"{name}: {s['caught']}/{s['bugs']} bugs caught, {s['rejected']}/{s['variants']} correct variants "
              f"rejected, solution full marks: {s['solution_full']}, release zero: {s['release_zero']} "
              f"({time.perf_counter() - start:.0f} s)")
        for outcome in outcomes:
            if not outcome.ok:
                ok = False
                print(f"  {outcome.student}: " + "; ".join(outcome.problems), file=sys.stderr)
        sections[name] = section(assignment, outcomes)
    if write:
        write_docs(sections)
    return ok
