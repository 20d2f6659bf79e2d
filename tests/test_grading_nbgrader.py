"""The grading command and nbgrader's own tools on one gradebook, in turn: they agree on every score.

A class of three on 01_neurons (the smallest assignment): ``ada`` hands in the
solutions an hour before the due date, ``bob`` the solutions with the XOR
network's output unit computing OR (a mutant of the catalogue: test_xor
fails) two hours late, and ``cy`` the untouched release without nbgrader's
``timestamp.txt``.  The due date is set with ``nbgrader db assignment add``
and the course takes a mark off per hour late (nbgrader's example plugin
``SubMarks``, configured in the temporary course's ``nbgrader_config.py``).

The instructor types, in this order: the grading command, ``nbgrader
generate_feedback``, ``nbgrader export``, opens the formgrader, ``nbgrader
autograde --force`` and the command again.  After each step the gradebook
holds, cell by cell, the scores of the command's report; nbgrader's tools
read what the command wrote; and ``autograde`` writes the gradebook and the
graded notebooks the command wrote.
"""

from __future__ import annotations

import contextlib
import csv
import html
import json
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbconvert import HTMLExporter
from nbgrader.api import Gradebook
from nbgrader.nbgraderformat import MetadataValidator
from nbgrader.server_extensions.formgrader import handlers as formgrader

from autograder import course, mutation, notebooks
from autograder.grading import jobs, merge
from autograder.grading.gradebook import COURSE_ID, JOURNAL

ASSIGNMENT = course.get("01_neurons")
NOTEBOOK = Path(ASSIGNMENT.notebook).stem
DUE = "2024-05-01 12:00:00 UTC"
# student: (what they hand in: the solutions, a mutant of them or the release; their timestamp.txt or None)
CLASS = {"ada": ("solutions", "2024-05-01 11:00:00.000000 UTC"),
         "bob": ("xor_network--output_or", "2024-05-01 14:00:00.000000 UTC"),
         "cy": ("release", None)}
LATE = {"ada": (0.0, 0.0), "bob": (7200.0, 2.0), "cy": (0.0, 0.0)}  # student: (seconds late, points taken off)
# nbgrader's example late-submission plugin ("Late submission plugin" in its documentation)
SUBMARKS = '''from nbgrader.plugins import BasePlugin


class SubMarks(BasePlugin):
    def late_submission_penalty(self, student_id, score, total_seconds_late):
        """Penalty of 1 mark per hour late"""
        hours_late = total_seconds_late / 3600
        return round(hours_late, 0)
'''
STEPS = ["command", "generate_feedback", "export", "autograde --force", "command again"]


def _hand_in(root: Path) -> None:
    release, solution = (notebooks.read(p) for p in (ASSIGNMENT.release(), ASSIGNMENT.source()))
    mutants = {m.id: m for m in mutation.catalogue(ASSIGNMENT)}
    for student, (work, stamp) in CLASS.items():
        notebook = release if work == "release" else mutation.submission(release, solution, mutants.get(work))
        path = course.submit(root, ASSIGNMENT, student, notebook)
        if stamp is not None:
            (path.parent / "timestamp.txt").write_text(stamp + "\n")


def _command(root: Path, *extra: str) -> dict[str, dict]:
    """The grading command run in the course root, as the guide types it; its report by student."""
    run = subprocess.run([sys.executable, "-m", "autograder", "grade", ASSIGNMENT.name, "--submissions",
                          "submitted", "--db", str(root / "gradebook.db"), "--workers", "2", "--report",
                          "report.json", *extra], cwd=root, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]
    return {r["student"]: r for r in json.loads((root / "report.json").read_text())["results"]}


def _gradebook(root: Path) -> dict[str, dict]:
    """Per student what the gradebook holds of their submission."""
    out = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", course_id=COURSE_ID) as gb:
        for submission in gb.assignment_submissions(ASSIGNMENT.name):
            notebook = gb.find_submission_notebook(NOTEBOOK, ASSIGNMENT.name, submission.student.id)
            out[submission.student.id] = {
                "grades": {g.name: g.score for g in notebook.grades},
                "comments": {c.name: c.auto_comment for c in notebook.comments},
                "needs_manual_grade": sorted(g.name for g in notebook.grades if g.needs_manual_grade),
                "late": (submission.total_seconds_late, notebook.late_submission_penalty or 0.0),
                "timestamp": submission.timestamp}
    return out


def _journal(root: Path) -> dict[str, dict]:
    with contextlib.closing(sqlite3.connect(f"file:{root / 'gradebook.db'}?mode=ro", uri=True)) as connection:
        rows = connection.execute(f"SELECT student, result FROM {JOURNAL.name}").fetchall()
    return {student: json.loads(result) for student, result in rows}


def _cells(root: Path) -> dict:
    """The notebook and cells the gradebook records for the assignment, as nbgrader's API gives them."""
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", course_id=COURSE_ID) as gb:
        notebook = gb.find_notebook(NOTEBOOK, ASSIGNMENT.name)
        out = {"kernelspec": json.loads(notebook.kernelspec or "null")}
        for kind in ("grade_cells", "solution_cells", "task_cells", "source_cells"):
            out[kind] = {c.name: {k: v for k, v in c.to_dict().items() if k != "id"} for c in getattr(notebook, kind)}
    return out


@pytest.fixture(scope="module")
def term(tmp_path_factory) -> dict:
    """The course after each step of the sequence: the gradebook, the command's reports and journal, the files
    written.  A step that fails is kept with its output under ``"failed"``, and the steps after it do not run."""
    root = course.make_course(tmp_path_factory.mktemp("course"), [ASSIGNMENT.name])
    (root / "late.py").write_text(SUBMARKS)
    with (root / "nbgrader_config.py").open("a") as config:
        config.write('\nc.AssignLatePenalties.plugin_class = "late.SubMarks"\n')
    _hand_in(root)
    course.nbgrader("db", "assignment", "add", ASSIGNMENT.name, f"--duedate={DUE}", cwd=root)
    seen: dict = {"root": root, "reports": {}}

    def command(again: bool) -> None:
        seen["reports"]["command again" if again else "command"] = _command(root, *(["--force"] if again else []))
        if not again:
            seen["journal"], seen["cells"] = _journal(root), _cells(root)
            shutil.copytree(root / "autograded", root / "autograded by the command")

    def generate_feedback() -> None:
        course.nbgrader("generate_feedback", ASSIGNMENT.name, "--force", cwd=root)
        shutil.copytree(root / "feedback", root / "feedback by nbgrader")

    def autograde() -> None:
        course.nbgrader("autograde", ASSIGNMENT.name, "--force", cwd=root)
        shutil.copytree(root / "autograded", root / "autograded by nbgrader")

    actions = {"command": lambda: command(again=False), "generate_feedback": generate_feedback,
               "export": lambda: course.nbgrader("export", "--to", "grades.csv", cwd=root),
               "autograde --force": autograde,
               "command again": lambda: command(again=True)}
    for step in STEPS:
        try:
            actions[step]()
        except (AssertionError, RuntimeError) as error:
            seen["failed"] = f"{step} failed: {error}"
            break
        seen[step] = _gradebook(root)
    return seen


def _after(term: dict, step: str):
    """What the step left, or the test fails with the step that failed before it."""
    if step not in term:
        failed = term["failed"]
        pytest.fail(failed if len(failed) < 5000 else f"{failed[:500]}\n[...]\n{failed[-4000:]}")
    return term[step]


def _scores(report: dict) -> dict[str, dict[str, float]]:
    return {student: {p["id"]: p["score"] for p in result["parts"]} for student, result in report.items()}


@pytest.mark.slow
def test_the_command_records_the_cells_generate_assignment_records(term, tmp_path):
    """Every cell nbgrader records, with its type, source, checksum and points, and the kernel: as a
    gradebook that ``nbgrader generate_assignment`` made."""
    reference = course.make_course(tmp_path, [ASSIGNMENT.name])
    course.generate_release(ASSIGNMENT.name, reference)
    expected = _cells(reference)
    _after(term, "command")
    assert {kind: sorted(cells) for kind, cells in term["cells"].items() if kind != "kernelspec"} == \
        {kind: sorted(cells) for kind, cells in expected.items() if kind != "kernelspec"}
    assert term["cells"] == expected
    assert len(expected["grade_cells"]) == len(ASSIGNMENT.parts()) and expected["solution_cells"]


@pytest.mark.slow
@pytest.mark.parametrize("step", STEPS)
def test_after_each_step_the_gradebook_holds_the_report_s_scores(term, step):
    book = _after(term, step)
    report = term["reports"]["command"]
    assert set(book) == set(CLASS)
    assert {s: b["grades"] for s, b in book.items()} == _scores(report), step
    assert all(b["needs_manual_grade"] == [] for b in book.values()), step
    assert {s: b["late"] for s, b in book.items()} == LATE, step
    # answer cells the student left as released: nbgrader's "No response."
    assert set(book["cy"]["comments"].values()) == {"No response."}
    assert set(book["ada"]["comments"].values()) == set(book["bob"]["comments"].values()) == {None}
    assert book["cy"]["timestamp"] is None and str(book["bob"]["timestamp"]) == "2024-05-01 14:00:00"


@pytest.mark.slow
def test_the_report_scores_the_class_as_expected(term):
    _after(term, "command again")
    report = term["reports"]["command"]
    total, xor = ASSIGNMENT.parts().total, ASSIGNMENT.parts()["test_xor"].points
    assert {s: (r["status"], r["score"]) for s, r in report.items()} == \
        {"ada": ("graded", total), "bob": ("graded", total - xor), "cy": ("graded", 0.0)}
    assert [p["id"] for p in report["bob"]["parts"] if p["score"] < p["max_score"]] == ["test_xor"]
    assert _scores(term["reports"]["command again"]) == _scores(report)


@pytest.mark.slow
def test_the_late_penalty_is_nbgrader_s(term):
    """The command takes off what ``nbgrader autograde`` takes off with the course's plugin, and says how late."""
    commanded = _after(term, "command")
    assert {s: (r.get("late_seconds"), r.get("penalty")) for s, r in term["journal"].items()} == LATE
    assert commanded["bob"]["late"] == _after(term, "autograde --force")["bob"]["late"] == (7200.0, 2.0)


@pytest.mark.slow
def test_export_gives_the_report_s_totals_less_the_penalty(term):
    _after(term, "export")
    report = term["reports"]["command"]
    with (term["root"] / "grades.csv").open() as f:
        rows = {row["student_id"]: row for row in csv.DictReader(f) if row["assignment"] == ASSIGNMENT.name}
    assert set(rows) == set(CLASS)
    for student, row in rows.items():
        seconds, penalty = LATE[student]
        assert float(row["raw_score"]) == report[student]["score"], student
        assert float(row["late_submission_penalty"] or 0) == penalty, student
        assert float(row["score"]) == report[student]["score"] - penalty, student
        assert float(row["max_score"]) == report[student]["max_score"] == ASSIGNMENT.parts().total


def _hidden_lines() -> list[str]:
    """The lines of the source's hidden tests."""
    lines = []
    for cell in notebooks.test_cells(notebooks.read(ASSIGNMENT.source())).values():
        text = notebooks.cell_text(cell)
        hidden = text[text.index(notebooks.BEGIN_HIDDEN) + len(notebooks.BEGIN_HIDDEN):text.index(notebooks.END_HIDDEN)]
        lines += [line.strip() for line in hidden.split("\n") if line.strip()]
    assert lines
    return lines


@pytest.mark.slow
def test_generate_feedback_shows_each_lost_part_s_message_and_no_hidden_test(term):
    _after(term, "generate_feedback")
    report = term["reports"]["command"]
    for student, result in report.items():
        page = term["root"] / "feedback by nbgrader" / student / ASSIGNMENT.name / f"{NOTEBOOK}.html"
        page = html.unescape(page.read_text())
        lost = [p for p in result["parts"] if p["score"] < p["max_score"]]
        for part in lost:
            assert part["message"] and part["message"] in page, (student, part["id"])
        assert len(lost) == (0 if student == "ada" else 1 if student == "bob" else len(result["parts"]))
        penalty = LATE[student][1]
        assert f"(Score: {result['score'] - penalty:.1f} / {result['max_score']:.1f})" in page, student
        assert [line for line in _hidden_lines() if line in page] == [], student
        assert notebooks.BEGIN_HIDDEN not in page


def _formgrader_view(path: Path, student: str) -> str:
    """The formgrader's manual grading page of a graded notebook, as its SubmissionHandler renders it."""
    exporter = HTMLExporter(template_name="formgrade", extra_template_basedirs=[formgrader.template_path])
    resources = {"assignment_id": ASSIGNMENT.name, "notebook_id": NOTEBOOK, "submission_id": student, "index": 0,
                 "total": len(CLASS), "base_url": "", "student": student, "last_name": None, "first_name": None,
                 "notebook_path": str(path)}
    body, _ = exporter.from_filename(str(path), resources=resources)
    return body


@pytest.mark.slow
def test_the_formgrader_shows_every_cell_with_its_grade_and_comment(term):
    """Each grade cell and answer cell of the page the formgrader shows for manual grading has its grade or
    comment row (the page's fields are matched to the rows by name), and each row its field."""
    _after(term, "command")
    root = term["root"]
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", course_id=COURSE_ID) as gb:
        for student in CLASS:
            notebook = gb.find_submission_notebook(NOTEBOOK, ASSIGNMENT.name, student)
            page = _formgrader_view(root / "autograded by the command" / student / ASSIGNMENT.name /
                                    ASSIGNMENT.notebook, student)
            fields = set(re.findall(r'<input(?=[^>]*class="score tabbable")[^>]*\sid="([\w-]+)"', page))
            comments = set(re.findall(r'<textarea(?=[^>]*class="comment tabbable")[^>]*\sid="([\w-]+)-comment"', page))
            assert fields == {g.name for g in notebook.grades} and fields, student
            assert comments == {c.name for c in notebook.comments} and comments, student
            assert all(g.auto_score is not None for g in notebook.grades), student


def _stdout(cell: dict) -> str:
    return "".join(notebooks.text(out.get("text")) for out in cell.get("outputs", []) if out.get("name") == "stdout")


@pytest.mark.slow
def test_autograde_writes_the_graded_notebooks_the_command_wrote(term):
    """Cell by cell, nbgrader's graded notebook and the command's hold the same source and nbgrader metadata,
    the same printed output in the student's code cells, and an error in the same test cells; the command's
    error carries the part's message."""
    _after(term, "autograde --force")
    root = term["root"]
    for student, result in term["reports"]["command"].items():
        relative = Path(student) / ASSIGNMENT.name / ASSIGNMENT.notebook
        ours, theirs = (notebooks.read(root / folder / relative) for folder in ("autograded by the command",
                                                                                  "autograded by nbgrader"))
        assert ours["metadata"]["kernelspec"] == theirs["metadata"]["kernelspec"]
        assert len(ours["cells"]) == len(theirs["cells"]), student
        lost = {p["id"]: p["message"] for p in result["parts"] if p["score"] < p["max_score"]}
        for mine, nbgrader_s in zip(ours["cells"], theirs["cells"]):
            where = (student, notebooks.grade_id(mine) or notebooks.cell_text(mine)[:40])
            assert mine["cell_type"] == nbgrader_s["cell_type"], where
            assert notebooks.cell_text(mine) == notebooks.cell_text(nbgrader_s), where
            assert notebooks.nbgrader(mine) == notebooks.nbgrader(nbgrader_s), where
            if notebooks.is_test_cell(mine):
                gid = notebooks.grade_id(mine)
                errors = [out["evalue"] for out in mine["outputs"] if out["output_type"] == "error"]
                assert errors == ([lost[gid]] if gid in lost else []), where
                assert any(out["output_type"] == "error" for out in nbgrader_s["outputs"]) == (gid in lost), where
            elif notebooks.is_code(mine):
                assert _stdout(mine) == _stdout(nbgrader_s), where


def test_a_tampered_notebook_is_graded_into_one_nbgrader_accepts():
    """Test cells deleted or passed off as answers under another name, an answer cell duplicated, cell ids
    repeated or missing: the graded notebook holds each cell the gradebook records once, with the metadata
    it records, and passes nbformat's and nbgrader's own checks; a test cell the student lost comes back with
    its hidden tests and its part's failure."""
    release, source = (notebooks.read(p) for p in (ASSIGNMENT.release(), ASSIGNMENT.source()))
    student = mutation.submission(release, source)
    cells = student["cells"]
    by_id = {notebooks.grade_id(cell): cell for cell in cells}
    by_id["test_xor"]["metadata"]["nbgrader"].update(grade_id="my_cell", grade=False, solution=True, locked=False)
    gates = by_id["gates"]
    cells.insert(cells.index(gates), json.loads(json.dumps(gates)))  # an earlier copy of the answer cell
    cells.remove(by_id["test_tlu"])
    cells[0]["id"], cells[1]["id"] = "same", "same"
    cells[2].pop("id")
    parts = [jobs.part(gid, part.points, score=0 if gid == "test_tlu" else part.points,
                       message="tlu is wrong" if gid == "test_tlu" else "")
             for gid, part in ASSIGNMENT.parts().items()]
    graded = merge.autograded(student, source, {}, parts)

    node = nbformat.from_dict(graded)
    nbformat.validate(node)
    MetadataValidator().validate_nb(node)
    expected = merge.recorded_cells(merge.registered(source))
    kept = [notebooks.grade_id(cell) for cell in graded["cells"] if notebooks.nbgrader(cell)]
    assert sorted(kept) == sorted(set(kept)) and set(kept) <= set(expected)
    assert set(ASSIGNMENT.parts()) <= set(kept)
    for gid, cell in merge.recorded_cells(graded).items():
        assert cell.metadata.nbgrader == expected[gid].metadata.nbgrader, gid
    tlu = merge.recorded_cells(graded)["test_tlu"]
    assert "was missing from the submitted notebook" in tlu.source and notebooks.BEGIN_HIDDEN in tlu.source
    assert [(out.ename, out.evalue) for out in tlu.outputs] == [("AssertionError", "tlu is wrong")]
    copies = [cell for cell in graded["cells"] if notebooks.cell_text(cell) == notebooks.cell_text(gates)]
    assert [notebooks.grade_id(cell) for cell in copies] == [None, "gates"]  # the last copy counts, as in nbgrader
    assert len({cell["id"] for cell in graded["cells"]}) == len(graded["cells"])
