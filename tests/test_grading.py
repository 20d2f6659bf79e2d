"""The class-scale grading command on assignment 01_neurons: honest work, faults and attacks.

One run of ``python -m autograder grade`` over a folder of submissions (two
workers) is shared by the tests; each submission is the student release with
the solutions filled in (as in the mutant catalogue) and one cell changed.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from nbgrader.api import Gradebook

from autograder import course
from autograder.grading import job, wire
from autograder.grading.gradebook import JOURNAL, url_of
from autograder.mutants import submission

pytestmark = pytest.mark.slow
ASSIGNMENT = course.get("01_neurons")
FULL = 14.0

# Cell sources replacing one answer cell (by grade_id) of the honest submission.
ALWAYS_EQUAL = '''
class Always:
    def __eq__(self, other):
        return True
    __ne__ = lambda self, other: False
    def __bool__(self):
        return True

def tlu(X, w, b):
    return Always()
'''
SUBCLASS = '''
class Agreeable(np.ndarray):
    def __eq__(self, other):
        return np.ones(np.shape(other), dtype=bool)

def tlu(X, w, b):
    return np.zeros(len(X)).view(Agreeable)
'''
PATCHED = '''
import sys
np.allclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
sys.excepthook = lambda *a: None
get_ipython().showtraceback = lambda *a, **k: None
print("all tests passed")

def tlu(X, w, b):
    return np.zeros(len(X))
'''
ATTACKS = {  # student: (cell, source, status, parts that must score 0)
    "always_equal": ("tlu", ALWAYS_EQUAL, "graded", ["test_tlu"]),
    "ndarray_subclass": ("tlu", SUBCLASS, "graded", ["test_tlu"]),
    "patched_numpy": ("tlu", PATCHED, "graded", ["test_tlu"]),
    "os_exit": ("gates", "import os\nos._exit(1)", "failed", None),
    "infinite_loop": ("gates", "while True:\n    pass", "failed", None),
    "floods_output": ("gates", "while True:\n    print('x' * 100000)", "failed", None),
    "memory_bomb": ("gates", "big = np.ones(10**10)", "graded", ["test_and", "test_or", "test_not", "test_nand"]),
    "kills_parent": ("gates", "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)", "failed", None),
}


def _notebook(cell: str | None = None, source: str | None = None) -> dict:
    release, solution = (course.read_notebook(p) for p in (ASSIGNMENT.release(), ASSIGNMENT.source()))
    notebook = submission(release, solution)
    if cell is not None:
        for c in notebook["cells"]:
            if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == cell:
                c["source"] = source
    return notebook


def _write(folder: Path, student: str, notebook) -> None:
    path = folder / student / ASSIGNMENT.name / ASSIGNMENT.notebook
    path.parent.mkdir(parents=True)
    path.write_text(notebook if isinstance(notebook, str) else json.dumps(notebook))


def _grade(folder: Path, db: Path, *extra: str, report: Path | None = None, **popen):
    args = [sys.executable, "-m", "autograder", "grade", ASSIGNMENT.name, "--submissions", str(folder),
            "--db", str(db), "--workers", "2", "--timeout", "10", *extra]
    if report:
        args += ["--report", str(report)]
    return subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=folder.parent, **popen)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    folder, db, report = root / "submitted", root / "gradebook.db", root / "report.json"
    _write(folder, "honest", _notebook())
    _write(folder, "release", course.read_notebook(ASSIGNMENT.release()))
    _write(folder, "invalid_json", '{"cells": [')
    for student, (cell, source, _, _) in ATTACKS.items():
        _write(folder, student, _notebook(cell, source))
    run = _grade(folder, db, report=report)
    assert run.returncode == 0, run.stderr[-3000:]
    results = {r["student"]: r for r in json.loads(report.read_text())["results"]}
    return root, folder, db, report, results, run


def test_honest_and_release(graded):
    results = graded[4]
    assert results["honest"]["status"] == "graded" and results["honest"]["score"] == FULL
    assert results["honest"]["max_score"] == FULL
    assert all(p["score"] == p["max_score"] for p in results["honest"]["parts"])
    assert results["release"]["status"] == "graded" and results["release"]["score"] == 0
    assert "not written yet" in results["release"]["parts"][0]["message"]


def test_invalid_json_is_ungradable(graded):
    result = graded[4]["invalid_json"]
    assert result["status"] == "ungradable" and result["score"] == 0
    assert "not valid JSON" in result["error"]


@pytest.mark.parametrize("student, expected", [("os_exit", "kernel died"), ("infinite_loop", "timeout"),
                                               ("kills_parent", "grading process ended"),
                                               ("floods_output", "MB of output|kernel died")])
def test_kernel_faults_fail_that_submission_alone(graded, student, expected):
    """A flood of output is stopped by the output cap, or earlier by the kernel's memory limit when its
    own output buffer outgrows it (which comes first depends on how fast the grader drains it)."""
    result = graded[4][student]
    assert result["status"] == "failed" and result["score"] == 0
    assert re.search(expected, result["error"]), result["error"]
    assert graded[4]["honest"]["score"] == FULL  # graded in the same run, beside it


@pytest.mark.parametrize("student", ["always_equal", "ndarray_subclass", "patched_numpy"])
def test_cheats_earn_nothing(graded, student):
    result = graded[4][student]
    parts = {p["id"]: p for p in result["parts"]}
    assert result["status"] == "graded"
    assert parts["test_tlu"]["score"] == 0 and parts["test_tlu"]["message"]
    # everything else in these notebooks is the honest solution: the points lost are exactly the cheat's
    assert result["score"] == FULL - parts["test_tlu"]["max_score"]


def test_memory_bomb_costs_its_own_parts(graded):
    result = graded[4]["memory_bomb"]
    parts = {p["id"]: p for p in result["parts"]}
    assert result["status"] == "graded"
    assert [gid for gid, p in parts.items() if p["score"] == 0] == ATTACKS["memory_bomb"][3]
    assert "GATES must be a dict" in parts["test_and"]["message"]


def test_report_csv_and_gradebook(graded):
    root, folder, db, report, results, run = graded
    data = json.loads(report.read_text())
    assert data["assignment"] == "01_neurons"
    assert set(results) == {"honest", "release", "invalid_json", *ATTACKS}
    for r in data["results"]:
        assert set(r) == {"student", "status", "score", "max_score", "parts", "error"}
    rows = report.with_suffix(".csv").read_text().splitlines()
    assert rows[0].startswith("student,status,score,max_score,test_tlu")
    assert any(row.startswith("honest,graded,14.0,14.0") for row in rows)
    with Gradebook(url_of(str(db)), course_id="nnref") as gb:
        for student, result in results.items():
            assert gb.find_submission("01_neurons", student).score == result["score"]
    assert "sandbox: " in run.stderr  # the protections in force, and any missing, said once at start
    assert run.stderr.count("sandbox: ") == 1 + run.stderr.count("MISSING protection")
    assert not list(folder.rglob(".grader-*"))  # no exchange file left behind


def _journal(db: Path) -> dict:
    with Gradebook(url_of(str(db)), course_id="nnref") as gb:
        return {row.student: row.finished_at for row in gb.db.execute(JOURNAL.select())}


def test_rerun_skips_and_force_regrades(tmp_path):
    folder, db = tmp_path / "submitted", tmp_path / "gradebook.db"
    _write(folder, "alice", _notebook())
    assert _grade(folder, db).returncode == 0
    first = _journal(db)
    again = _grade(folder, db)
    assert "1 already graded and skipped" in again.stdout and _journal(db) == first
    forced = _grade(folder, db, "--force")
    assert "1 graded (1 with full marks)" in forced.stdout
    assert _journal(db)["alice"] > first["alice"]
    with Gradebook(url_of(str(db)), course_id="nnref") as gb:
        assert len(gb.assignment_submissions("01_neurons")) == 1
        assert gb.find_submission("01_neurons", "alice").score == FULL


def test_sigkill_then_resume_grades_each_once(tmp_path):
    folder, db = tmp_path / "submitted", tmp_path / "gradebook.db"
    for student in ("ann", "bob", "cid"):
        _write(folder, student, _notebook())
    args = [sys.executable, "-m", "autograder", "grade", ASSIGNMENT.name, "--submissions", str(folder),
            "--db", str(db), "--workers", "1"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (db.exists() and _safe_journal(db)):
        time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = _safe_journal(db)
    assert 1 <= len(done) < 3, done
    rerun = _grade(folder, db)
    assert f"{len(done)} already graded and skipped" in rerun.stdout
    journal = _journal(db)
    assert set(journal) == {"ann", "bob", "cid"}
    assert all(journal[s] == t for s, t in done.items())  # finished ones were not re-run
    with Gradebook(url_of(str(db)), course_id="nnref") as gb:
        assert sorted(s.student.id for s in gb.assignment_submissions("01_neurons")) == ["ann", "bob", "cid"]
        assert all(s.score == FULL for s in gb.assignment_submissions("01_neurons"))


def _safe_journal(db: Path) -> dict:
    try:
        return _journal(db)
    except Exception:  # the table may not exist yet
        return {}


@pytest.mark.parametrize("content, message", [
    (None, "missing notebook neurons.ipynb"), ("", "empty file"), ("{not json", "not valid JSON"),
    ('{"nbformat": 3, "cells": []}', "nbformat 3"), ('{"nbformat": 4}', "no list of cells"),
    ('{"nbformat": 4, "cells": [{"cell_type": "code"}]}', "cell 0 is malformed")])
def test_malformed_submissions_are_refused_clearly(tmp_path, content, message):
    if content is not None:
        (tmp_path / "neurons.ipynb").write_text(content)
    else:
        (tmp_path / "Neurons (copy).ipynb").write_text("{}")
    with pytest.raises(ValueError, match=re.escape(message)):
        job.load_submission(tmp_path, "neurons.ipynb")


def test_wire_decodes_only_plain_data():
    array = np.arange(6.0).reshape(2, 3)
    assert type(wire.decode(wire.encode(array))) is np.ndarray
    assert np.array_equal(wire.decode(wire.encode(array)), array)
    assert wire.decode(wire.encode((1, [2.0], {"a": array})))[2]["a"].shape == (2, 3)
    for bad in ({"__ndarray__": "object", "shape": [1], "data": [1]}, {"__ndarray__": "float64", "shape": [2],
                                                                       "data": ["x", 1]}, {"weird": 1}):
        assert isinstance(wire.decode(bad), wire.Opaque)
    assert wire.decode({"__opaque__": "Always", "module": "__main__"}).__class__.__name__ == "Always"


@pytest.mark.parametrize("args, message", [
    (["99_nope", "--submissions", "."], "unknown assignment '99_nope'"),
    (["01_neurons", "--submissions", ".", "--workers", "0"], "--workers must be positive, got 0"),
    (["01_neurons", "--submissions", "no/such/dir"], "is not a directory")])
def test_bad_arguments_are_named(args, message, capsys):
    from autograder.grading import cli

    with pytest.raises(SystemExit) as stop:
        cli.main(["grade", *args])
    assert stop.value.code == 2 and message in capsys.readouterr().err
