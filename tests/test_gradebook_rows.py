"""The gradebook rows of a first submission, inserted a table at a time, are the rows nbgrader's API writes.

``Book.record_many`` inserts a student's first submission of an assignment
with one statement per table for the whole batch, and updates a submission
the gradebook already holds through nbgrader's own ``add_submission`` rows.
Both must leave the same gradebook: the same students, timestamps, scores,
flags for manual grading, automatic comments, late penalties and journal.
The same class is recorded twice, into a gradebook where nobody has
submitted yet and into one where nbgrader's ``add_submission`` made every
submission first, and the two are compared table by table, row ids aside.
That the API's rows are what ``nbgrader autograde`` writes is
``tests/test_grading_nbgrader.py``'s business.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import sys
from pathlib import Path

import pytest

from autograder import mutation, notebooks
from autograder.grading import jobs
from autograder.grading.gradebook import JOURNAL, Book
from autograder.grading.limits import Limits

sys.path.insert(0, str(Path(__file__).parent))
from test_grading import ASSIGNMENT, _notebook  # noqa: E402

NOTEBOOK = Path(ASSIGNMENT.notebook).stem
DUE = "2024-05-01 12:00:00"


def _class(folder: Path) -> list[tuple[dict, dict | None]]:
    """(result, graded notebook) of: full marks on time, half marks two hours late, the untouched release
    (answers left as released), a notebook that did not run (no notebook), and no timestamp at all."""
    parts = ASSIGNMENT.parts()
    release = notebooks.read(ASSIGNMENT.release())
    cases = [("ann", "2024-05-01 11:00:00.000000 UTC", 1.0, _notebook(), jobs.GRADED),
             ("bob", "2024-05-01 14:00:00.000000 UTC", 0.5, _notebook(), jobs.GRADED),
             ("cy", "2024-05-02 12:30:00.000000 UTC", 0.0, mutation.submission(release, release), jobs.GRADED),
             ("dee", "2024-05-01 13:00:00.000000 UTC", 0.0, None, jobs.UNGRADABLE),
             ("eve", None, 1.0, _notebook(), jobs.GRADED)]
    out = []
    for student, stamp, share, notebook, status in cases:
        job = jobs.make_job(ASSIGNMENT.name, student, folder, Limits())
        result = jobs.result(job, parts, status, error=None if status == jobs.GRADED else "cannot be read",
                             parts=[jobs.part(gid, p.points, share * p.points) for gid, p in parts.items()]
                             if status == jobs.GRADED else None)
        if stamp is not None:
            result["timestamp"] = stamp
        out.append((result, notebook))
    return out


def _book(db: Path, submitted_first: bool) -> Book:
    """A gradebook with the assignment due at DUE, a penalty of one point per hour late (of the score), and,
    if ``submitted_first``, every student of the class already submitted through nbgrader's API."""
    book = Book(str(db), ASSIGNMENT.name, ASSIGNMENT.notebook, ASSIGNMENT.parts())
    book.gb.update_or_create_assignment(ASSIGNMENT.name, duedate=DUE)  # as `nbgrader db assignment add` before
    book.close()
    book = Book(str(db), ASSIGNMENT.name, ASSIGNMENT.notebook, ASSIGNMENT.parts())
    book.late.plugin_inst.late_submission_penalty = lambda student, score, late: round(late / 3600)
    if submitted_first:
        for result, _ in _class(db.parent):
            book.gb.add_student(result["student"])
            book.gb.add_submission(ASSIGNMENT.name, result["student"])
    return book


def _rows(db: Path) -> dict:
    """Every row the grading writes, keyed by student and cell name instead of row ids."""
    queries = {
        "students": "SELECT id, first_name, last_name, email, lms_user_id FROM student",
        "submissions": "SELECT student_id, timestamp, extension FROM submitted_assignment",
        "notebooks": "SELECT s.student_id, n.name, sn.flagged, sn.late_submission_penalty FROM submitted_notebook sn "
                     "JOIN submitted_assignment s ON sn.assignment_id = s.id JOIN notebook n ON sn.notebook_id = n.id",
        "grades": "SELECT s.student_id, c.name, g.auto_score, g.manual_score, g.extra_credit, g.needs_manual_grade "
                  "FROM grade g JOIN submitted_notebook sn ON g.notebook_id = sn.id JOIN submitted_assignment s "
                  "ON sn.assignment_id = s.id JOIN base_cell c ON g.cell_id = c.id",
        "comments": "SELECT s.student_id, c.name, m.auto_comment, m.manual_comment FROM comment m JOIN "
                    "submitted_notebook sn ON m.notebook_id = sn.id JOIN submitted_assignment s "
                    "ON sn.assignment_id = s.id JOIN base_cell c ON m.cell_id = c.id",
    }
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as connection:
        rows = {name: sorted(connection.execute(query).fetchall(), key=repr) for name, query in queries.items()}
        journal = connection.execute(f"SELECT assignment, student, status, result FROM {JOURNAL.name}").fetchall()
    rows["journal"] = sorted((a, s, status, json.loads(result)) for a, s, status, result in journal)
    return rows


@pytest.fixture(scope="module")
def gradebooks(tmp_path_factory) -> dict[str, dict]:
    """The class recorded in one batch into a gradebook with no submissions, and into one where nbgrader's
    API made them first; the rows of each and the results as recorded."""
    out = {}
    for kind, first in (("inserted", False), ("through nbgrader's API", True)):
        db = tmp_path_factory.mktemp(kind.replace(" ", "-").replace("'", "")) / "gradebook.db"
        book = _book(db, first)
        items = _class(db.parent)
        try:
            book.record_many(items)
        finally:
            book.close()
        out[kind] = {"rows": _rows(db), "results": {r["student"]: r for r, _ in items}}
    return out


def test_the_class_exercises_every_kind_of_row(gradebooks):
    """Not a comparison of empty tables: five submissions, late penalties, comments of both kinds, every grade
    cell of every submission scored (01_neurons has no cell that a person grades)."""
    rows = gradebooks["inserted"]["rows"]
    assert [r[0] for r in rows["students"]] == ["ann", "bob", "cy", "dee", "eve"]
    assert {r[3] for r in rows["notebooks"]} >= {None, 2.0}  # on time, and two hours late
    assert {r[2] for r in rows["comments"]} >= {None, "No response."}
    assert {r[2] for r in rows["grades"]} >= {0.0, 1.0} and {r[5] for r in rows["grades"]} == {0}
    assert len(rows["grades"]) == 5 * len(ASSIGNMENT.parts()) and len(rows["journal"]) == 5


@pytest.mark.parametrize("table", ["students", "submissions", "notebooks", "grades", "comments", "journal"])
def test_inserted_rows_equal_the_rows_of_nbgrader_s_api(gradebooks, table):
    inserted, through_api = (gradebooks[kind]["rows"][table] for kind in ("inserted", "through nbgrader's API"))
    assert inserted == through_api


def test_late_seconds_and_penalties_reach_the_results(gradebooks):
    """Each result carries its lateness and penalty (the report and the LMS export read them): bob two hours
    late loses two points, cy a day and a half late loses at most what he scored, zero."""
    for kind in gradebooks:
        late = {s: (r["late_seconds"], r["penalty"]) for s, r in gradebooks[kind]["results"].items()}
        assert late == {"ann": (0.0, 0.0), "bob": (7200.0, 2.0), "cy": (88200.0, 0.0), "dee": (3600.0, 0.0),
                        "eve": (0.0, 0.0)}, kind
