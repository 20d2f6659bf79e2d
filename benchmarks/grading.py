"""Row 5: grading throughput and per-submission overhead.

One class of submissions to one assignment, built in a temporary course
directory (a copy of the course's nbgrader configuration and sources, its
own gradebook), is graded three ways in the same run:

a. plain serial ``nbgrader autograde ASSIGNMENT``, one invocation over the
   whole class, as an instructor would run it;
b. ``python -m autograder grade`` with ``--workers 2`` over the whole class,
   and with ``--workers 1`` over a sample of it (which separates the cost of
   one sandboxed submission from the gain of running two at once);
c. a bare nbclient run (a fresh kernel each, no sandbox, no grading) of the
   same sample's notebooks, one after the other.

The issue's target is (a) / (b, 2 workers) >= 3 on 2 cores with the sandbox
on, each the wall time of the whole command, start-up included: what the
person grading waits for.  The per-submission overhead of the command is its
time per submission with one worker minus the bare nbclient time per
notebook, on the same notebooks.  The command overlaps its fixed work
(imports, opening the gradebook, the oracles) with its first submissions, so
its time per submission comes from two runs with one worker, of k and j
submissions: (T_k - T_j) / (k - j); a run with nothing to grade is reported
beside it.  Both graders must give each student the same total; a student
they disagree on is reported as a finding.

The whole class goes through both graders for real; only the two
per-submission runs use a sample, to keep the row within its share of
``make bench``'s time.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .report import Row
from .timing import Stats

# 01_neurons: a notebook of typical length (19 code cells, 9 graded parts) whose hidden tests need no torch
# oracle, so that neither grader gains from where torch runs (nbgrader imports it in every student's kernel
# for the assignments that need it, the command once per run): the comparison is of the grading machinery
# alone, which favours nbgrader.
ASSIGNMENT = "01_neurons"
CLASS_SIZE, QUICK_CLASS_SIZE = 40, 4
SAMPLE, QUICK_SAMPLE = 8, 3
WORKERS = 2
TARGET = 3.0
# The sandbox gives every kernel one BLAS thread; the other runs get the same, so that all three run the same code.
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
NBGRADER_DONE = re.compile(r"Setting destination file permissions")
COMMAND_DONE = re.compile(r"(\d+)/\d+ \[")
PROTECTION = re.compile(r"^sandbox: (.*)$", re.MULTILINE)
DONE_IN = re.compile(r"done in ([0-9.]+) s")


@dataclass(frozen=True)
class Student:
    """One submission of the benchmark class: honest work, a mutant of the catalogue, or the untouched release."""

    name: str
    kind: str  # "honest", "mutant" or "release"
    notebook: dict
    mutant: str | None = None


def default_progress(items, desc):
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, leave=False, file=sys.stderr)


def composition(size: int) -> dict[str, int]:
    """A realistic class: about a quarter hand in a common mistake, a few hand in the release untouched."""
    if size < 3:
        raise ValueError(f"a class needs at least 3 submissions (honest, mutant, release), got {size}")
    releases = max(1, round(0.075 * size))
    mutants = max(1, round(0.25 * size))
    return {"honest": size - releases - mutants, "mutant": mutants, "release": releases}


def make_class(release: dict, solution: dict, mutants: list, size: int) -> list[Student]:
    """``size`` submissions: honest, mutants spread over the whole catalogue (every answer cell, bugs and
    correct variants alike), untouched releases; mixed in a fixed order so that no kind comes in one block."""
    from autograder.mutation import submission

    counts = composition(size)
    if not mutants:
        raise ValueError("the assignment's mutant catalogue is empty")
    picked = [mutants[(i * len(mutants)) // counts["mutant"]] for i in range(counts["mutant"])]
    pool = ([("honest", None)] * counts["honest"] + [("mutant", m) for m in picked]
            + [("release", None)] * counts["release"])
    # a fixed interleaving: position i of the class takes pool[(i * stride) % size] with stride coprime to size
    stride = next(s for s in range(7, 7 + size) if math.gcd(s, size) == 1)
    students = []
    for i in range(size):
        kind, mutant = pool[(i * stride) % size]
        notebook = release if kind == "release" else submission(release, solution, mutant)
        label = mutant.id if mutant is not None else kind
        students.append(Student(f"s{i:02d}-{label}", kind, notebook, None if mutant is None else mutant.id))
    return students


def sample_of(students: list[Student], size: int) -> list[Student]:
    """``size`` students with the class's mix of kinds (at least one honest), in class order."""
    size = min(size, len(students))
    by_kind = {k: [s for s in students if s.kind == k] for k in ("honest", "mutant", "release")}
    take = {k: math.floor(size * len(v) / len(students) + 0.5) for k, v in by_kind.items()}
    take["honest"] = max(1, size - take["mutant"] - take["release"])
    while sum(take.values()) > size:
        biggest = max(("release", "mutant"), key=lambda k: take[k])
        take[biggest] -= 1
    chosen = {s.name for k, v in by_kind.items() for s in v[:take[k]]}
    return [s for s in students if s.name in chosen]


class Watch:
    """A command run in the background; iterating yields once per submission it reports finished.

    Progress is read from the command's own log (stderr, in a file), so the
    command runs exactly as it would from a terminal.  ``seconds`` is its wall
    time, start-up included.
    """

    def __init__(self, command: list[str], cwd: Path, env: dict, log: Path, done: re.Pattern, total: int,
                 counts_last: bool = False):
        self.command, self.cwd, self.env, self.log = command, cwd, env, log
        self.done, self.total, self.counts_last = done, total, counts_last
        self.seconds = math.nan
        self.returncode: int | None = None
        self.stderr = ""
        # far beyond any sane run (a minute a submission): only a hung grader ever reaches it
        self.limit = 300.0 + 60.0 * total
        self.timed_out = False
        self.load = math.nan  # the 1-minute load average when it started: other users' work slows it down

    def __len__(self) -> int:
        return self.total

    def _finished(self, text: str) -> int:
        if self.counts_last:  # a tqdm bar: the last "n/total [" it drew
            found = self.done.findall(text)
            return int(found[-1]) if found else 0
        return len(self.done.findall(text))

    def __iter__(self) -> Iterator[int]:
        reported = 0
        with open(self.log, "wb") as err, open(self.log.with_suffix(".out"), "wb") as out:
            self.load = os.getloadavg()[0]
            start = time.perf_counter()
            proc = subprocess.Popen(self.command, cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=err, start_new_session=True)
            try:
                while True:
                    try:
                        proc.wait(timeout=0.25)
                        break
                    except subprocess.TimeoutExpired:
                        if time.perf_counter() - start > self.limit:
                            self.timed_out = True
                            break
                    finished = min(self._finished(self.log.read_text(errors="replace")), self.total)
                    while reported < finished:
                        reported += 1
                        yield reported
            finally:  # interrupted (Ctrl-C, or the loop abandoned): leave no grading running
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)  # its own session: nbgrader's kernel goes too
                    proc.wait()
            self.seconds = time.perf_counter() - start
            self.returncode = proc.poll()
        self.stderr = self.log.read_text(errors="replace")  # kept: the log goes with the temporary course
        while reported < self.total:  # the last ones, finished between two looks at the log
            reported += 1
            yield reported

    def check(self, what: str) -> None:
        if self.timed_out:
            raise RuntimeError(f"{what} ran past the benchmark's limit of {self.limit:.0f} s and was stopped")
        if self.returncode != 0:
            tail = "\n".join(self.stderr.strip().splitlines()[-15:])
            raise RuntimeError(f"{what} ended with status {self.returncode}: {' '.join(self.command)}\n{tail}")


def _env() -> dict:
    # this interpreter's scripts first on PATH: nbgrader runs alembic when it creates a gradebook
    return {**os.environ, **ONE_THREAD, "PATH": str(Path(sys.executable).parent) + os.pathsep
            + os.environ.get("PATH", "")}


def _drain(watch: Watch, progress: Callable, desc: str) -> Watch:
    for _ in progress(watch, desc=desc):
        pass
    return watch


def nbgrader_serial(course_dir: Path, assignment: str, total: int, progress) -> tuple[Watch, dict[str, float]]:
    """(a): one ``nbgrader autograde`` over the class; its wall time and each student's total."""
    from autograder import course

    watch = Watch([sys.executable, "-m", "nbgrader", "autograde", assignment], course_dir, _env(),
                  course_dir / "nbgrader.log", NBGRADER_DONE, total)
    _drain(watch, progress, f"row 5: serial nbgrader autograde, {total} submissions").check("nbgrader autograde")
    scores = course.scores(course_dir, assignment)
    return watch, {student: sum(s for s, _ in parts.values()) for student, parts in scores.items()}


def command(course_dir: Path, assignment: str, submissions: Path, workers: int, total: int, tag: str,
            progress) -> tuple[Watch, dict[str, dict]]:
    """(b): ``python -m autograder grade`` with a fresh gradebook; its wall time and each student's result."""
    report = course_dir / f"report-{tag}.json"
    watch = Watch([sys.executable, "-m", "autograder", "grade", assignment, "--submissions", str(submissions),
                   "--workers", str(workers), "--db", str(course_dir / f"gradebook-{tag}.db"),
                   "--report", str(report), "--force"],
                  course_dir, _env(), course_dir / f"command-{tag}.log", COMMAND_DONE, total, counts_last=True)
    _drain(watch, progress, f"row 5: grade --workers {workers}, {total} submissions").check(
        f"python -m autograder grade --workers {workers}")
    results = {r["student"]: r for r in json.loads(report.read_text())["results"]}
    return watch, results


def bare_nbclient(paths: list[Path], workdir: Path, progress) -> list[float]:
    """(c): each notebook run once by nbclient in a fresh kernel, no sandbox, no grading: seconds per notebook."""
    import nbformat
    from jupyter_client import AsyncKernelManager
    from nbclient import NotebookClient

    seconds = []
    for i, path in enumerate(progress(paths, desc=f"row 5: bare nbclient, {len(paths)} notebooks")):
        nb = nbformat.read(path, as_version=4)
        # IPC, as the command's kernels use; TCP would also print a warning per kernel
        km = AsyncKernelManager(transport="ipc", ip=str(workdir / f"nbclient-{i}"))
        client = NotebookClient(nb, km=km, timeout=120, allow_errors=True,
                                resources={"metadata": {"path": str(path.parent)}})
        start = time.perf_counter()
        client.execute(env=_env(), stderr=subprocess.DEVNULL)
        seconds.append(time.perf_counter() - start)
    return seconds


def protections(stderr: str) -> tuple[list[str], list[str]]:
    """(active, missing) protections, as the command printed them at start."""
    active, missing = [], []
    for line in PROTECTION.findall(stderr):
        if line.startswith("MISSING protection: "):
            missing.append(line.removeprefix("MISSING protection: "))
        else:
            active += [p.strip() for p in line.split(";") if p.strip()]
    return active, missing


def disagreements(reference: dict[str, float], results: dict[str, dict], students) -> list[str]:
    """Students whose total under the command differs from ``reference`` (or who are missing from either)."""
    out = []
    for student in students:
        theirs = reference.get(student)
        ours = results.get(student)
        if theirs is None or ours is None:
            out.append(f"{student}: missing from {'nbgrader' if theirs is None else 'the command'}")
        elif not math.isclose(theirs, ours["score"], abs_tol=1e-9):
            why = f", {ours['status']}: {str(ours.get('error') or '')[:120]}" if ours["status"] != "graded" else ""
            out.append(f"{student}: nbgrader {theirs:g}, command {ours['score']:g}{why}")
    return out


def build_course(folder: Path, assignment_name: str, size: int) -> tuple[list[Student], Path]:
    """A temporary course with the release generated (the gradebook knows the assignment) and the class
    submitted under ``submitted/``."""
    from autograder import course, notebooks
    from autograder.mutation import catalogue

    assignment = course.get(assignment_name)
    course.make_course(folder, [assignment.name])
    release_dir = course.generate_release(assignment.name, folder)
    release = notebooks.read(release_dir / assignment.notebook)
    solution = notebooks.read(assignment.source())
    students = make_class(release, solution, catalogue(assignment), size)
    for student in students:
        course.submit(folder, assignment, student.name, student.notebook)
    return students, folder / "submitted"


def run(cfg, progress: Callable | None = None) -> Row:
    row = Row("5", "grading throughput and per-submission overhead")
    try:
        _measure(row, cfg, progress or default_progress)
    except (RuntimeError, ValueError, OSError) as error:
        row.status = "failed"
        row.entries.clear()
        row.notes.insert(0, f"failed: {error}")
    return row


@dataclass
class Measured:
    """Everything one run of the row measured."""

    students: list[Student]
    sample: list[Student]
    startup: Watch
    serial: Watch
    parallel: Watch
    single: Watch
    single_small: Watch  # the first few of the sample, also with one worker: the two give the fixed cost
    bare: list[float]
    nbgrader_totals: dict[str, float]
    parallel_results: dict[str, dict]
    single_results: dict[str, dict]


def _measure(row: Row, cfg, progress) -> None:
    from autograder import course

    name = getattr(cfg, "grading_assignment", ASSIGNMENT)
    size = getattr(cfg, "grading_submissions", QUICK_CLASS_SIZE if cfg.quick else CLASS_SIZE)
    sample_size = getattr(cfg, "grading_sample", QUICK_SAMPLE if cfg.quick else SAMPLE)
    assignment = course.get(name)
    with tempfile.TemporaryDirectory(prefix="nnref-grading-bench-") as tmp:
        full_dir, sample_dir, empty = Path(tmp) / "course", Path(tmp) / "sample", Path(tmp) / "empty"
        students, submitted = build_course(full_dir, name, size)
        sample = sample_of(students, sample_size)
        small_dir = Path(tmp) / "small"
        small = sample[:_small_size(len(sample))]
        for folder, students_ in ((sample_dir, sample), (small_dir, small)):  # classes of their own, --workers 1
            for student in students_:
                course.submit(folder, assignment, student.name, student.notebook)
        empty.mkdir()
        # the command's fixed cost (imports, probing the sandbox, creating the gradebook), so that the
        # time per submission can leave it out
        startup, _ = command(full_dir, name, empty, 1, 0, "empty", progress)
        serial, nbgrader_totals = nbgrader_serial(full_dir, name, size, progress)
        parallel, parallel_results = command(full_dir, name, submitted, WORKERS, size, f"w{WORKERS}", progress)
        single, single_results = command(full_dir, name, sample_dir / "submitted", 1, len(sample), "w1", progress)
        single_small, _ = command(full_dir, name, small_dir / "submitted", 1, len(small), "w1-small", progress)
        bare = bare_nbclient([submitted / s.name / name / assignment.notebook for s in sample], Path(tmp), progress)
    m = Measured(students, sample, startup, serial, parallel, single, single_small, bare, nbgrader_totals,
                 parallel_results, single_results)
    differ = disagreements(nbgrader_totals, parallel_results, [s.name for s in students])
    _entries(row, m, differ)
    _notes(row, name, assignment, m, differ)


def _entries(row: Row, m: Measured, differ: list[str]) -> None:
    size, k, one = len(m.students), len(m.sample), Stats.of
    serial, parallel = m.serial.seconds, m.parallel.seconds
    row.add(f"serial nbgrader autograde, {size} submissions", "time", "s", one([serial]))
    row.add(f"grade --workers {WORKERS}, the same {size} submissions", "time", "s", one([parallel]))
    row.add_ratio(f"serial nbgrader / grade --workers {WORKERS} ({size} submissions)", one([serial / parallel]),
                  best=serial / parallel, at_least=TARGET)
    row.add(f"grade --workers {WORKERS}: throughput", "throughput", "submissions/min", one([60 * size / parallel]))
    row.add("serial nbgrader: throughput", "throughput", "submissions/min", one([60 * size / serial]))
    agree = size - len(differ)
    row.add(f"students with the same total under nbgrader and grade --workers {WORKERS}", "count", "students",
            one([agree]), target=f"all {size}", met=agree == size)

    sampled = f"sample of {k}"
    startup = m.startup.seconds
    # the command overlaps its fixed work (imports, gradebook, oracles) with the first submissions, so a run
    # with nothing to grade overstates what a run spends apart from its submissions: the fixed cost is taken
    # from two runs with one worker instead, k and j submissions: per submission (T_k - T_j) / (k - j)
    j = _small_size(k)
    per_single = (m.single.seconds - m.single_small.seconds) / (k - j)
    fixed = max(0.0, m.single_small.seconds - j * per_single)
    per_parallel = (parallel - fixed) / size
    per_bare = sum(m.bare) / k
    per_serial = serial / size
    row.add("grade: a run with nothing to grade", "time", "s", one([startup]))
    row.add("grade: fixed cost of a run, apart from its submissions", "time", "s", one([fixed]),
            note=f"1 worker, from runs of {k} and {j} submissions")
    row.add("serial nbgrader: time per submission", "time", "s", one([per_serial]),
            note=f"all {size}, start-up included")
    row.add("grade --workers 1: time per submission", "time", "s", one([per_single]),
            note=f"{sampled}: (T{k} - T{j}) / {k - j}, fixed cost excluded")
    row.add("bare nbclient, fresh kernel, same notebooks: time per notebook", "time", "s", one(m.bare), note=sampled)
    row.add("per-submission overhead: grade --workers 1 - bare nbclient", "time", "s",
            one([per_single - per_bare]), note=f"{sampled}; mean per notebook")
    row.add_ratio("grade --workers 1 / bare nbclient, per submission", one([per_single / per_bare]), note=sampled)
    row.add_ratio("serial nbgrader / bare nbclient, per submission", one([per_serial / per_bare]),
                  note=f"nbgrader: all {size}; nbclient: {sampled}")
    row.add_ratio(f"speed-up of {WORKERS} workers over 1, per submission", one([per_single / per_parallel]),
                  note=f"fixed cost excluded; 1 worker: {sampled}")


def _small_size(k: int) -> int:
    return max(1, k // 4)


def _notes(row: Row, name: str, assignment, m: Measured, differ: list[str]) -> None:
    size = len(m.students)
    kinds = composition(size)
    mutants = sorted({s.mutant for s in m.students if s.mutant})
    row.notes.append(f"assignment {name} ({assignment.notebook}): its hidden tests need no torch oracle, so "
                     "neither grader gains from where torch runs and the comparison is of the grading machinery "
                     "alone (on an assignment with torch oracles nbgrader imports torch in every kernel)")
    row.notes.append(f"class of {size}: {kinds['honest']} honest (the solutions filled into the release), "
                     f"{kinds['mutant']} from the mutant catalogue ({', '.join(mutants)}), {kinds['release']} "
                     "untouched release(s); one temporary course directory with the course's nbgrader_config.py "
                     "and a fresh gradebook for each run; every time is the wall time of the whole command "
                     "unless said otherwise; kernels get one BLAS thread in every run, as in the sandbox")
    row.notes.append(f"grade --workers 1 and bare nbclient ran on a sample of {len(m.sample)} of the {size} "
                     f"({', '.join(s.name for s in m.sample)}), not the whole class, to keep the row within its "
                     "time budget; the per-submission overhead compares them on the same notebooks, a fresh "
                     "kernel each; the command's fixed cost is left out of its time per submission (from runs "
                     f"of {len(m.sample)} and {_small_size(len(m.sample))} submissions with one worker); the bare "
                     "run executes the submitted notebook as is (visible tests included), with no sandbox and "
                     "no grading")
    statuses: dict[str, int] = {}
    for result in m.parallel_results.values():
        statuses[result["status"]] = statuses.get(result["status"], 0) + 1
    reported = DONE_IN.findall(m.parallel.stderr)
    row.notes.append(f"grade --workers {WORKERS}: " + ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
                     + (f"; it reported 'done in {reported[-1]} s' ({m.parallel.seconds:.1f} s wall with the "
                        "interpreter's start-up)" if reported else ""))
    row.notes.append(f"load average (1 min, {os.cpu_count()} cores) at the start of each run: command start-up "
                     f"{m.startup.load:.1f}, serial nbgrader {m.serial.load:.1f}, grade --workers {WORKERS} "
                     f"{m.parallel.load:.1f}, grade --workers 1 {m.single.load:.1f}")
    active, missing = protections(m.parallel.stderr)
    row.notes.append("sandbox protections active: " + ("; ".join(active) if active else "none printed"))
    row.notes.append("sandbox protections MISSING: " + ("; ".join(missing) if missing else "none"))
    if differ:
        row.notes.append(f"FINDING: {len(differ)} of {size} students get a different total from nbgrader and "
                         "from the command: " + "; ".join(differ[:6]) + (" ..." if len(differ) > 6 else ""))
    else:
        row.notes.append(f"every one of the {size} students gets the same total from nbgrader and from the command")
    sample_differ = [f"{s.name}: {WORKERS} workers {m.parallel_results[s.name]['score']:g}, 1 worker "
                     f"{m.single_results[s.name]['score']:g}" for s in m.sample
                     if s.name in m.single_results and s.name in m.parallel_results
                     and m.single_results[s.name]["score"] != m.parallel_results[s.name]["score"]]
    if sample_differ:
        row.notes.append("FINDING: the command gives different totals with 1 and 2 workers: "
                         + "; ".join(sample_differ[:6]))
