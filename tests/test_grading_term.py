"""A term of grading with the command: the grader's faults are never a student's grade, and reruns pick up
exactly what changed.

An ``error`` is the grader's own fault (a kernel that cannot start, a worker
killed from outside, a check that raises, a gradebook or disk that fails):
no grade and no feedback are written, the cause is listed, the command exits
non-zero and the next run grades the submission.  When the first results of
a run all fail that way for one reason, the circuit breaker stops the run
before it costs a whole class.  A rerun grades what is new or changed (the
notebook's bytes or nbgrader's ``timestamp.txt``), earlier errors, and the
students named with ``--student``; a student with no folder is ``missing``
until one appears.  The worker killed from outside is in ``test_grading.py``.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import pytest
from nbgrader.api import Gradebook
from sqlalchemy.exc import OperationalError

from autograder.grading import grader, jobs, recorder, run, submission
from autograder.grading.gradebook import url_of
from autograder.grading.limits import Limits
from autograder.parts import Part

sys.path.insert(0, str(Path(__file__).parent))
from test_grading import ASSIGNMENT, FULL, _grade, _journal, _notebook, _write  # noqa: E402

pytestmark = pytest.mark.slow


def _results(report: Path) -> dict[str, dict]:
    return {r["student"]: r for r in json.loads(report.read_text())["results"]}


def _submissions(db: Path) -> list[str]:
    with Gradebook(url_of(str(db)), course_id="nnref") as gb:
        return sorted(s.student.id for s in gb.assignment_submissions(ASSIGNMENT.name))


def test_a_kernel_that_cannot_start_stops_the_run_and_records_nothing(tmp_path):
    """A set-up fault (here a memory limit too small for a kernel to start) hits the first three
    submissions alike: the breaker stops the run with the cause, nobody gets a grade or feedback, and the
    same command with the set-up fixed grades everyone."""
    folder, db, report = tmp_path / "submitted", tmp_path / "gradebook.db", tmp_path / "report.json"
    for student in ("ann", "bob", "cid", "dee", "eve"):
        _write(folder, student, _notebook())
    broken = _grade(folder, db, "--memory", "40", report=report)
    assert broken.returncode == run.EXIT_BREAKER, broken.stderr[-3000:]
    assert "stopped: the first 3 submissions all ended in error with the same cause" in broken.stderr
    # out of memory, as Python's MemoryError or the kernel's ENOMEM, whichever the kernel meets first
    assert "the kernel could not start" in broken.stderr
    assert "MemoryError" in broken.stderr or "Errno 12" in broken.stderr, broken.stderr[-3000:]
    results = _results(report)
    assert [r["status"] for r in results.values()] == ["error"] * 3
    assert all(r["score"] is None and r["parts"] == [] for r in results.values())
    assert "2 not started" in broken.stdout
    assert _journal(db) == {} and _submissions(db) == []
    assert not (tmp_path / "feedback").exists() and not (tmp_path / "autograded").exists()
    fixed = _grade(folder, db, report=report)
    assert fixed.returncode == 0, fixed.stderr[-3000:]
    assert "to grade: 5 (5 new)" in fixed.stderr
    assert {s: r["score"] for s, r in _results(report).items()} == dict.fromkeys(["ann", "bob", "cid", "dee", "eve"],
                                                                                 FULL)


def test_reruns_grade_what_changed_and_skip_the_rest(tmp_path):
    """Over a term: a resubmission (new notebook, or only a new timestamp) is regraded; an unchanged one is
    skipped; an ungradable folder the instructor repairs is graded; a student with no folder is missing
    until one appears; ``--student`` regrades just that student."""
    folder, db, report = tmp_path / "submitted", tmp_path / "gradebook.db", tmp_path / "report.json"
    wrong = _notebook("tlu", "def tlu(X, w, b):\n    return np.zeros(len(X))\n")
    _write(folder, "ann", _notebook())
    _write(folder, "bob", wrong)
    (folder / "bob" / ASSIGNMENT.name / "timestamp.txt").write_text("2026-03-02 17:58:23.948203 UTC\n")
    _write(folder, "cid", _notebook(), name="neurons (1).ipynb")  # saved under a browser's name
    (folder / "dan" / "02_logistic").mkdir(parents=True)  # submitted something else only
    first = _grade(folder, db, report=report)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "to grade: 3 (3 new); missing: 1 with no folder (dan)" in first.stderr
    results = _results(report)
    assert {s: r["status"] for s, r in results.items()} == {"ann": "graded", "bob": "graded", "cid": "ungradable",
                                                            "dan": "missing"}
    assert results["bob"]["score"] < FULL and results["bob"]["timestamp"] == "2026-03-02 17:58:23.948203 UTC"
    assert not (tmp_path / "feedback" / "dan").exists() and _submissions(db) == ["ann", "bob", "cid"]
    journal = _journal(db)

    # bob resubmits, the instructor renames cid's notebook, dan submits; ann changes nothing
    _write(folder, "bob", _notebook())
    (folder / "bob" / ASSIGNMENT.name / "timestamp.txt").write_text("2026-03-03 09:00:00.000000 UTC\n")
    (folder / "cid" / ASSIGNMENT.name / "neurons (1).ipynb").rename(folder / "cid" / ASSIGNMENT.name / "neurons.ipynb")
    _write(folder, "dan", _notebook())
    second = _grade(folder, db, report=report)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "to grade: 3 (2 changed, 1 new); skipped: 1 unchanged since recorded (1 graded;" in second.stderr
    results = _results(report)
    assert {s: (r["status"], r["score"]) for s, r in results.items()} == {s: ("graded", FULL) for s in results}
    assert _journal(db)["ann"] == journal["ann"]  # not regraded
    assert _submissions(db) == ["ann", "bob", "cid", "dan"]

    # only a new timestamp: a resubmission of the same notebook, graded again (its lateness may differ)
    (folder / "ann" / ASSIGNMENT.name / "timestamp.txt").write_text("2026-03-04 09:00:00.000000 UTC\n")
    third = _grade(folder, db)
    assert "to grade: 1 (1 changed); skipped: 3 unchanged" in third.stderr
    before = _journal(db)
    chosen = _grade(folder, db, "--student", "dan", "--student", "cid", report=report)
    assert chosen.returncode == 0 and "to grade: 2 (2 chosen)" in chosen.stderr
    after = _journal(db)
    assert {s for s in after if after[s] != before[s]} == {"cid", "dan"}
    assert set(_results(report)) == {"cid", "dan"}


def test_a_check_that_raises_is_the_graders_error_not_the_students(monkeypatch, tmp_path):
    """A check (or an oracle inside it) that raises anything but an AssertionError is a bug of the grader:
    the submission gets ``error`` with the cause for the instructor, not a zero for that part."""
    parts = ASSIGNMENT.parts()

    def broken(tlu):
        raise KeyError("oracle table")

    monkeypatch.setitem(parts, "test_tlu", Part("test_tlu", parts["test_tlu"].points, parts["test_tlu"].uses, broken))
    folder = tmp_path / "ann" / ASSIGNMENT.name
    _write(tmp_path, "ann", _notebook())
    result = grader.grade(jobs.make_job(ASSIGNMENT.name, "ann", folder, Limits()))
    assert result["status"] == "error" and result["score"] is None
    assert result["error"] == "the check of test_tlu raised KeyError: 'oracle table'"
    assert "Traceback" in result["detail"]


class _UnreachableBook:
    def record(self, result, notebook=None):
        raise OperationalError("INSERT INTO grade", {}, sqlite3.OperationalError("disk I/O error"))


def test_a_grade_that_cannot_be_recorded_is_an_error_with_no_feedback_left(tmp_path):
    """The gradebook fails as the grade is written: the student gets ``error`` (retried next run), and the
    feedback page and graded notebook written just before are removed, so no feedback exists without its
    grade."""
    job = jobs.make_job(ASSIGNMENT.name, "ann", tmp_path, Limits())
    result = jobs.result(job, ASSIGNMENT.parts(), jobs.GRADED, parts=[jobs.part(gid, p.points, p.points)
                                                                       for gid, p in ASSIGNMENT.parts().items()])
    result["notebook"] = _notebook()
    feedback = tmp_path / "feedback"
    out = recorder.record(result, ASSIGNMENT, feedback, _UnreachableBook())
    assert out["status"] == "error" and out["score"] is None
    assert out["error"].startswith("the grade could not be recorded: OperationalError:")
    assert list(feedback.rglob("*.html")) == [] and list((tmp_path / "autograded").rglob("*.ipynb")) == []


class _BookWithOneBadRow:
    """A batch's transaction fails; alone, every row is written but bob's."""

    def __init__(self):
        self.rows = []

    def record_many(self, items):
        raise OperationalError("INSERT INTO grade", {}, sqlite3.OperationalError("disk I/O error"))

    def record(self, result, notebook=None):
        if result["student"] == "bob":
            raise OperationalError("INSERT INTO grade", {}, sqlite3.OperationalError("disk I/O error"))
        self.rows.append(result["student"])


def test_a_batch_that_cannot_be_recorded_costs_only_the_result_at_fault(tmp_path):
    """The recorder writes a batch of results in one transaction; when it fails, each is recorded alone: the
    fault is bob's row alone, so ann and cy keep their grades and feedback, and bob gets ``error`` with his
    files removed."""
    feedback = tmp_path / "feedback"
    results = []
    for student in ("ann", "bob", "cy"):
        job = jobs.make_job(ASSIGNMENT.name, student, tmp_path, Limits())
        result = jobs.result(job, ASSIGNMENT.parts(), jobs.GRADED, parts=[jobs.part(gid, p.points, p.points)
                                                                           for gid, p in ASSIGNMENT.parts().items()])
        results.append({**result, "notebook": _notebook()})
    book = _BookWithOneBadRow()
    out = {r["student"]: r for r in recorder.record_batch(results, ASSIGNMENT, feedback, book)}
    assert book.rows == ["ann", "cy"]
    assert {s: r["status"] for s, r in out.items()} == {"ann": "graded", "bob": "error", "cy": "graded"}
    assert all("notebook" not in r and "page" not in r for r in out.values())
    pages = sorted(p.relative_to(feedback).parts[0] for p in feedback.rglob("*.html"))
    assert pages == ["ann", "cy"]
    assert sorted(p.relative_to(tmp_path / "autograded").parts[0]
                  for p in (tmp_path / "autograded").rglob("*.ipynb")) == ["ann", "cy"]


def test_fingerprints_change_with_the_notebook_or_timestamp_only(tmp_path):
    folder = tmp_path / "ann" / ASSIGNMENT.name
    folder.mkdir(parents=True)
    empty = submission.fingerprint(folder, ASSIGNMENT.notebook)
    (folder / "neurons (1).ipynb").write_text("{}")
    misnamed = submission.fingerprint(folder, ASSIGNMENT.notebook)
    (folder / "neurons (1).ipynb").rename(folder / ASSIGNMENT.notebook)
    named = submission.fingerprint(folder, ASSIGNMENT.notebook)
    (folder / "data.csv").write_text("1,2\n")  # a file the grader ignores
    assert submission.fingerprint(folder, ASSIGNMENT.notebook) == named
    (folder / "timestamp.txt").write_text("2026-03-04 09:00:00 UTC")
    stamped = submission.fingerprint(folder, ASSIGNMENT.notebook)
    assert len({empty, misnamed, named, stamped}) == 4
    assert submission.timestamp(folder) == "2026-03-04 09:00:00 UTC"
    (folder / "timestamp.txt").unlink()
    (folder / "timestamp.txt").symlink_to("/etc/hostname")  # never followed
    assert submission.timestamp(folder) is None


def test_circuit_breaker_needs_one_cause_for_all_the_first_results():
    def error(cause):
        return jobs.no_grade({"student": "x"}, jobs.ERROR, cause)
    same = [error(f"the kernel could not start; log /tmp/nnref-grade-{i}/kernel.log line {i}") for i in range(3)]
    assert run.tripped(same)
    assert not run.tripped(same[:2])
    assert not run.tripped([*same[:2], error("the check of test_tlu raised KeyError: 'x'")])
    # one kind of fault whose details differ from student to student is still one cause
    assert run.tripped([error("the kernel could not start (MemoryError: ); the last line of its log: x"),
                        error("the kernel could not start (OSError: [Errno 12] Cannot allocate memory); y"),
                        error("the kernel could not start (MemoryError: ); the last line of its log: z")])
    assert not run.tripped([error("the grader raised KeyError: 'a'"), error("the grader raised KeyError: 'b'"),
                            error("the grader raised TypeError: 'c'")])
    graded = jobs.result({"student": "y"}, ASSIGNMENT.parts(), jobs.GRADED,
                         parts=[jobs.part(g, p.points) for g, p in ASSIGNMENT.parts().items()])
    assert not run.tripped([*same[:2], graded])
    with pytest.raises(ValueError, match="records a grade"):
        jobs.no_grade({"student": "z"}, jobs.GRADED, "x")
