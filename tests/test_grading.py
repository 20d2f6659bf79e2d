"""The class-scale grading command on assignment 01_neurons: honest work, faults and attacks.

One run of ``python -m autograder grade`` over a folder of submissions (two
workers) is shared by the tests; each submission is the student release with
the solutions filled in (as in the mutant catalogue) and one cell changed,
or the notebook or its folder damaged.  Every attack and fault gets its
exact status; none scores more than the honest submission; the gradebook,
the course's solutions and tests, and the other students' files are left as
they were.  The attacks that only a jail can stop (reading the course,
writing the gradebook, signalling every process, fork storms) run where the
host can build it (root with namespaces, as on CI) and are skipped, with the
reason, elsewhere.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import numpy as np
import pytest
from nbgrader.api import Gradebook, MissingEntry

from autograder import course, mutation, notebooks
from autograder.grading import cli, limits, pool, sandbox, submission, wire
from autograder.grading.gradebook import JOURNAL, url_of
from autograder.grading.limits import Limits
from autograder.grading.pool import Worker

pytestmark = pytest.mark.slow
ASSIGNMENT = course.get("01_neurons")
FULL = 14.0
JAIL, WHY_NO_JAIL = sandbox.jail_available()
GATES = ["test_and", "test_or", "test_not", "test_nand"]

# Cell sources replacing one answer cell (by grade_id) of the honest submission.
ALWAYS_EQUAL = """
class Always:
    def __eq__(self, other):
        return True
    __ne__ = lambda self, other: False
    def __bool__(self):
        return True

def tlu(X, w, b):
    return Always()
"""
SUBCLASS = """
class Agreeable(np.ndarray):
    def __eq__(self, other):
        return np.ones(np.shape(other), dtype=bool)

def tlu(X, w, b):
    return np.zeros(len(X)).view(Agreeable)
"""
PATCHED = """
import sys
np.allclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
sys.excepthook = lambda *a: None
get_ipython().showtraceback = lambda *a, **k: None
print("all tests passed")

def tlu(X, w, b):
    return np.zeros(len(X))
"""
REPLACES_CHECKS = """
import builtins
check_tlu = lambda tlu: None
builtins.AssertionError = type("NeverRaised", (Exception,), {})

def tlu(X, w, b):
    return np.zeros(len(X))
"""
WRONG_TLU = "def tlu(X, w, b):\n    return np.zeros(len(X))\n"
# Looks for the course through the grader's processes and the known path, and copies the answer from there.
READS_SOLUTIONS = """
import glob, json, os
found = None
places = [COURSE] + [os.readlink(p) for p in glob.glob("/proc/*/cwd") if os.path.exists(p)]
for p in glob.glob("/proc/*/environ"):
    places += open(p, "rb").read().decode(errors="ignore").split("\\0")
for place in places:
    for path in glob.glob(os.path.join(str(place).split("=")[-1], "solutions", "01_neurons", "*.ipynb")):
        cells = json.load(open(path))["cells"]
        found = [c for c in cells if c["metadata"].get("nbgrader", {}).get("grade_id") == "tlu"]
if found:
    exec("".join(found[0]["source"]))
else:
""" + "    " + WRONG_TLU.replace("\n", "\n    ")
# Writes a score into the gradebook, a file into the solutions, and over another student's notebook.
WRITES_EVERYWHERE = """
import os, sqlite3
for attempt in (lambda: sqlite3.connect(DB).execute("update grade set auto_score = 99").connection.commit(),
                lambda: open(os.path.join(COURSE, "solutions", "pwned.txt"), "w").write("x"),
                lambda: open(OTHER, "w").write("{}"),
                lambda: open("/tmp/left-behind-by-a-student", "w").write("x")):
    try:
        attempt()
    except Exception as error:
        print(type(error).__name__, error)
""" + WRONG_TLU.replace("np.zeros(len(X))", "(X @ w + b >= 0).astype(float)")
# One file past the size limit, then files until the scratch space is full: each write fails, nothing leaks out.
FILLS_DISK = """
chunk = b"x" * 2**20
with open("big.bin", "wb") as f:
    for _ in range(100):
        f.write(chunk)
"""
FILLS_SCRATCH = """
import itertools
chunk = b"x" * 2**20
for i in itertools.count():
    with open(f"part{i}.bin", "wb") as f:
        for _ in range(32):
            f.write(chunk)
"""
FORK_STORM = """
import os, time
while True:
    if os.fork() == 0:
        time.sleep(600)
        os._exit(0)
"""

# student: (cell, source, status, error pattern or None, parts that must score 0, needs the jail)
ATTACKS = {
    "always_equal": ("tlu", ALWAYS_EQUAL, "graded", None, ["test_tlu"], False),
    "ndarray_subclass": ("tlu", SUBCLASS, "graded", None, ["test_tlu"], False),
    "patched_numpy": ("tlu", PATCHED, "graded", None, ["test_tlu"], False),
    "replaces_checks": ("tlu", REPLACES_CHECKS, "graded", None, ["test_tlu"], False),
    "os_exit": ("gates", "import os\nos._exit(1)", "failed", "kernel died", None, False),
    "sys_exit": ("gates", "import sys\nsys.exit(3)", "graded", None, GATES, False),
    "kills_itself": ("gates", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", "failed", "kernel died",
                     None, False),
    "kills_its_group": ("gates", "import os, signal\nos.killpg(0, signal.SIGKILL)", "failed", "kernel died",
                        None, False),
    "infinite_loop": ("gates", "while True:\n    pass", "failed", "timeout", None, False),
    "ignores_interrupts": ("gates", "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                                    "while True:\n    pass", "failed", "timeout", None, False),
    "loops_when_graded": ("tlu", "def tlu(X, w, b):\n    while True:\n        pass", "failed", "timeout", None,
                          False),
    "floods_output": ("gates", "while True:\n    print('x' * 100000)", "failed", "MB of output|kernel died", None,
                      False),
    "memory_bomb": ("gates", "big = np.ones(10**10)", "graded", None, GATES, False),
    # in the jail the kernel's parent is the jail's init, which ignores it; outside, the grading job dies
    "kills_parent": ("gates", "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)", "graded", None, GATES,
                     True),
    # kill(-1) reaches every process the kernel may signal but itself and init: in the jail, none
    "kills_everyone": ("gates", "import os, signal\nos.kill(-1, signal.SIGKILL)", "graded", None, GATES, True),
    "fork_storm": ("gates", FORK_STORM, "graded", None, GATES, True),
    "file_too_large": ("gates", FILLS_DISK, "graded", None, GATES, True),
    "fills_scratch": ("gates", FILLS_SCRATCH, "graded", None, GATES, True),
    "reads_solutions": ("tlu", READS_SOLUTIONS, "graded", None, ["test_tlu"], True),
    "writes_everywhere": ("tlu", WRITES_EVERYWHERE, "graded", None, [], True),
}
# student: (how the notebook or folder is damaged, status, message in error or warnings)
DAMAGED = {
    "tests_deleted": ("delete", "graded", "locked cell test_tlu was deleted"),
    "test_duplicated": ("duplicate", "graded", "locked cell test_xor appears 2 times"),
    "tests_moved": ("move", "graded", "locked cells were moved"),
    "test_edited": ("edit", "graded", "locked cell test_tlu was edited"),
    "points_edited": ("points", "graded", "the points of test_tlu were changed to 100"),
    "metadata_edited": ("metadata", "graded", "locked cell test_tlu was deleted"),
    "extra_notebook": ("extra", "graded", "ignored extra files in the submission: scratch.ipynb"),
    "wrongly_named": ("rename", "ungradable", "missing notebook neurons.ipynb; the submission holds ['Neurons.ipynb']"),
    "no_notebook": ("remove", "ungradable", "missing notebook neurons.ipynb"),
    "no_assignment_folder": ("nofolder", "missing", "no folder no_assignment_folder/01_neurons"),
    "empty_file": ("empty", "ungradable", "empty file"),
    "nbformat_3": ("nbformat3", "ungradable", "nbformat 3"),
    "cells_missing": ("nocells", "ungradable", "no list of cells"),
    "invalid_json": ("json", "ungradable", "not valid JSON"),
}


def _notebook(cell: str | None = None, source: str | None = None) -> dict:
    release, solution = (notebooks.read(p) for p in (ASSIGNMENT.release(), ASSIGNMENT.source()))
    notebook = mutation.submission(release, solution)
    if cell is not None:
        for c in notebook["cells"]:
            if notebooks.grade_id(c) == cell:
                c["source"] = source
    return notebook


def _write(folder: Path, student: str, notebook, name: str | None = None) -> Path:
    path = folder / student / ASSIGNMENT.name / (name or ASSIGNMENT.notebook)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(notebook if isinstance(notebook, str) else json.dumps(notebook))
    return path


def _cell_index(notebook: dict, grade_id: str) -> int:
    return next(i for i, c in enumerate(notebook["cells"]) if notebooks.grade_id(c) == grade_id)


def _damage(folder: Path, student: str, how: str) -> None:
    nb = _notebook()
    cells = nb["cells"]
    if how == "delete":
        nb["cells"] = [c for c in cells if not notebooks.nbgrader(c).get("grade")]
    elif how == "duplicate":
        cells.insert(_cell_index(nb, "test_xor"), json.loads(json.dumps(cells[_cell_index(nb, "test_xor")])))
    elif how == "move":
        cells.insert(0, cells.pop(_cell_index(nb, "test_separable")))
    elif how == "edit":
        cells[_cell_index(nb, "test_tlu")]["source"] = "print('all tests passed')"
    elif how == "points":
        cells[_cell_index(nb, "test_tlu")]["metadata"]["nbgrader"]["points"] = 100
    elif how == "metadata":  # the test cell passed off as an ordinary answer cell under another name
        cells[_cell_index(nb, "test_tlu")]["metadata"]["nbgrader"].update(grade_id="my_cell", grade=False,
                                                                           solution=True, locked=False)
    elif how == "extra":
        _write(folder, student, nb, "scratch.ipynb")
    if how in ("delete", "duplicate", "move", "edit", "points", "metadata", "extra"):
        _write(folder, student, nb)
    elif how == "rename":
        _write(folder, student, nb, "Neurons.ipynb")
    elif how == "remove":
        (folder / student / ASSIGNMENT.name).mkdir(parents=True)
    elif how == "nofolder":
        (folder / student / "02_logistic").mkdir(parents=True)
    else:
        _write(folder, student, {"empty": "", "nbformat3": '{"nbformat": 3, "cells": []}',
                                 "nocells": '{"nbformat": 4}', "json": '{"cells": ['}[how])


def _grade(folder: Path, db: Path, *extra: str, report: Path | None = None, **popen):
    args = [sys.executable, "-m", "autograder", "grade", ASSIGNMENT.name, "--submissions", str(folder),
            "--db", str(db), "--workers", "2", "--timeout", "10", *extra]
    if report:
        args += ["--report", str(report)]
    return subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=folder.parent, **popen)


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


def _cmdline(pid: int) -> bytes:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes()
    except OSError:
        return b""


def _stat(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name: [state, parent PID, ...]; [] if it is gone."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _parent(pid: int) -> int:
    fields = _stat(pid)
    return int(fields[1]) if len(fields) > 1 else 0


def _sandbox_processes(wait: float = 10.0) -> list[int]:
    """Processes a finished run left behind (there must be none): grading workers whose command is gone,
    and live processes of jails whose worker is gone.  A jail's user id names its worker
    (``sandbox.worker_of``); a worker still serving its command belongs to a run going on beside
    this one (pytest runs two workers), and neither it nor its jails are counted.  A jail's processes die
    by SIGKILL when its init does, which the kernel delivers at once but the host reaps a moment later:
    zombies are not counted, and the survivors get ``wait`` seconds to go."""

    def serving(pid: int) -> bool:  # a worker whose command (a Python process) is still there
        return b"--serve" in _cmdline(pid) and b"python" in _cmdline(_parent(pid))

    deadline = time.monotonic() + wait
    while True:
        found = []
        for entry in Path("/proc").iterdir():
            try:
                if not entry.name.isdigit():
                    continue
                pid, uid = int(entry.name), entry.stat().st_uid
                if pool.WORKER.encode() + b"\0--serve" in _cmdline(pid) and not serving(pid):
                    found.append(pid)
                elif sandbox.worker_of(uid) is not None and not serving(sandbox.worker_of(uid)) \
                        and _stat(pid)[:1] not in ([], ["Z"]):
                    found.append(pid)
            except OSError:
                continue
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can start a process as a sandbox user")
def test_the_leak_check_sees_a_jail_whose_worker_is_gone():
    """The check above is not vacuous: a process of a sandbox user whose worker PID is not a grading
    worker (here PID 1's) is reported, and gone from the report once it ends."""
    uid = sandbox.kernel_uid(1, 7)

    def become():
        os.setgid(uid)
        os.setuid(uid)

    stray = subprocess.Popen(["sleep", "60"], preexec_fn=become)  # noqa: PLW1509 - runs before exec only
    try:
        assert stray.pid in _sandbox_processes(wait=0)
    finally:
        stray.kill()
        stray.wait()
    assert stray.pid not in _sandbox_processes(wait=0)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    folder, db, report = root / "submitted", root / "gradebook.db", root / "report.json"
    _write(folder, "honest", _notebook())
    other = _write(folder, "release", notebooks.read(ASSIGNMENT.release()))
    for student, (cell, source, *_, jail_only) in ATTACKS.items():
        if JAIL or not jail_only:
            source = source.replace("COURSE", repr(str(course.ROOT))).replace("DB", repr(str(db)))
            _write(folder, student, _notebook(cell, source.replace("OTHER", repr(str(other)))))
    for student, (how, *_) in DAMAGED.items():
        _damage(folder, student, how)
    before = {"course": {d: _digest(course.ROOT / d) for d in ("solutions", "autograder", "exercises")},
              "submissions": _digest(folder)}
    run = _grade(folder, db, report=report)
    assert run.returncode == 0, run.stderr[-3000:]
    results = {r["student"]: r for r in json.loads(report.read_text())["results"]}
    after = {"course": {d: _digest(course.ROOT / d) for d in ("solutions", "autograder", "exercises")},
             "submissions": _digest(folder)}
    return root, folder, db, report, results, run, before, after


def test_honest_and_release(graded):
    results = graded[4]
    assert results["honest"]["status"] == "graded" and results["honest"]["score"] == FULL
    assert results["honest"]["max_score"] == FULL and results["honest"]["warnings"] == []
    assert all(p["score"] == p["max_score"] for p in results["honest"]["parts"])
    assert results["release"]["status"] == "graded" and results["release"]["score"] == 0
    assert "not written yet" in results["release"]["parts"][0]["message"]


def _attack(student):
    *_, jail_only = ATTACKS[student]
    marks = [pytest.mark.skipif(not JAIL, reason=f"needs the jail, which this host cannot build: {WHY_NO_JAIL}")]
    return pytest.param(student, marks=marks if jail_only else [])


@pytest.mark.parametrize("student", [_attack(s) for s in ATTACKS])
def test_each_attack_gets_its_exact_status_and_costs_only_its_parts(graded, student):
    cell, _, status, error, zero, _ = ATTACKS[student]
    result = graded[4][student]
    assert result["status"] == status, result
    assert result["score"] <= FULL
    if status == "failed":
        assert result["score"] == 0 and re.search(error, result["error"]), result["error"]
    else:
        parts = {p["id"]: p for p in result["parts"]}
        lost = [gid for gid, p in parts.items() if p["score"] < p["max_score"]]
        assert lost == zero, {gid: parts[gid]["message"] for gid in lost}
        assert all(parts[gid]["score"] == 0 and parts[gid]["message"] for gid in zero)
    assert graded[4]["honest"]["score"] == FULL  # graded in the same run, beside it


@pytest.mark.parametrize("student", list(DAMAGED))
def test_damaged_notebooks_get_a_clear_status(graded, student):
    _, status, message = DAMAGED[student]
    result = graded[4][student]
    assert result["status"] == status
    if status == "graded":  # the locked cells come from the instructor's copy: nothing to gain, nothing lost
        assert result["score"] == FULL and any(message in w for w in result["warnings"]), result["warnings"]
    elif status == "missing":  # nothing to grade: no score at all, rather than a zero
        assert result["score"] is None and result["parts"] == [] and message in result["error"]
    else:
        assert result["score"] == 0 and message in result["error"]


def test_nothing_outside_the_sandbox_changed(graded):
    root, folder, db, report, results, run, before, after = graded
    assert after["course"] == before["course"]  # solutions, hidden tests, releases
    assert after["submissions"] == before["submissions"]  # no student wrote over another's notebook
    assert not (course.ROOT / "solutions" / "pwned.txt").exists()
    assert not Path("/tmp/left-behind-by-a-student").exists()
    assert _sandbox_processes() == []  # the fork storm went with its jail
    assert not list(folder.rglob(".grader-*"))  # no exchange file left behind
    with Gradebook(url_of(str(db)), course_id="nnref") as gb:
        for student, result in results.items():
            if result["status"] == "missing":
                with pytest.raises(MissingEntry):
                    gb.find_submission("01_neurons", student)
                continue
            submitted = gb.find_submission("01_neurons", student)
            assert submitted.score == result["score"] <= FULL
            assert {g.name: g.auto_score for g in submitted.notebooks[0].grades} == \
                {p["id"]: p["score"] for p in result["parts"]}


def test_report_csv_and_gradebook(graded):
    root, folder, db, report, results, run, *_ = graded
    data = json.loads(report.read_text())
    assert data["assignment"] == "01_neurons"
    assert set(results) == {"honest", "release", *DAMAGED, *(s for s in ATTACKS if JAIL or not ATTACKS[s][5])}
    for r in data["results"]:
        assert set(r) == {"student", "status", "score", "max_score", "parts", "error", "warnings", "timestamp",
                          "late_seconds", "penalty", "detail"}
    rows = report.with_suffix(".csv").read_text().splitlines()
    assert rows[0].startswith("student,status,score,max_score,late_seconds,penalty,test_tlu")
    assert any(row.startswith("honest,graded,14.0,14.0,0.0,0.0") for row in rows)
    assert any(row.startswith("no_assignment_folder,missing,,,0.0,0.0,,") for row in rows)
    assert "sandbox: " in run.stderr  # the protections in force, and any missing, said once at start
    assert run.stderr.count("sandbox: ") == 1 + run.stderr.count("MISSING protection")
    if JAIL:
        assert "MISSING" not in run.stderr


def test_feedback_for_every_student(graded):
    root, folder, db, report, results, *_ = graded
    for student, result in results.items():
        page = root / "feedback" / student / "01_neurons" / "neurons.html"
        notebook = root / "autograded" / student / "01_neurons" / "neurons.ipynb"
        if result["status"] == "missing":
            assert not page.exists() and not notebook.exists()
            continue
        text = page.read_text()
        assert result["status"] in text and f"{result['score']:g}" in text
        assert notebook.exists() == (result["status"] != "ungradable")
        # what the grader tells a student never shows its code, paths or tracebacks (what the student's own
        # code printed, shown on the page too, may of course quote anything it found)
        told = [result["error"] or "", *(p["message"] for p in result["parts"])]
        for leak in ("Traceback", str(course.ROOT), "autograder/", "site-packages", 'File "', "/tmp/"):
            assert not any(leak in line for line in told), (student, leak, told)
    honest = (root / "feedback" / "honest" / "01_neurons" / "neurons.html").read_text()
    assert "BEGIN HIDDEN TESTS" not in honest and "test_tlu" in honest


def _journal(db: Path) -> dict:
    """``{student: finished_at}``, read without writing: nbgrader's Gradebook would create tables of its own
    in a gradebook the command is still creating."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as connection:
        return dict(connection.execute(f"SELECT student, finished_at FROM {JOURNAL.name}").fetchall())


def test_rerun_skips_and_force_regrades(tmp_path):
    folder, db = tmp_path / "submitted", tmp_path / "gradebook.db"
    _write(folder, "alice", _notebook())
    assert _grade(folder, db).returncode == 0
    first = _journal(db)
    again = _grade(folder, db)
    assert "1 unchanged since recorded and skipped" in again.stdout and _journal(db) == first
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
    assert f"{len(done)} unchanged since recorded and skipped" in rerun.stdout
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
        submission.load(tmp_path, "neurons.ipynb")


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
    (["01_neurons", "--submissions", ".", "--memory", "0"], "--memory (memory_mb) must be a positive number, got 0"),
    (["01_neurons", "--submissions", ".", "--cell-timeout", "-1"], "--cell-timeout (cell_timeout_s) must be a "
                                                                   "positive number, got -1.0"),
    (["01_neurons", "--submissions", "no/such/dir"], "is not a directory")])
def test_bad_arguments_are_named(args, message, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["grade", *args])
    assert stop.value.code == 2 and message in capsys.readouterr().err


GRADE = ["grade", "01_neurons", "--submissions", "."]


def _limits_of(argv: list[str]) -> Limits:
    return limits.from_options(cli.parser().parse_args(GRADE + argv))


def _grade_help(capsys) -> str:
    """``python -m autograder grade --help``, its white space folded."""
    capsys.readouterr()
    with pytest.raises(SystemExit):
        cli.main(["grade", "--help"])
    return " ".join(capsys.readouterr().out.split())


def test_each_limit_is_an_option_with_the_declared_default_and_help(capsys):
    fields = dataclasses.fields(Limits)
    assert _limits_of([]) == Limits()  # no default of the command's own
    assert {f.metadata["flag"] for f in fields} >= {"--memory", "--timeout", "--cell-timeout", "--output", "--cpu"}
    shown = _grade_help(capsys)
    for f in fields:
        assert f"{f.metadata['flag']} {limits.metavar(f.name)} {f.metadata['help']} " \
               f"(default: {limits.default_text(f.name)})" in shown, f.name
    given = _limits_of(["--timeout", "300", "--cell-timeout", "40", "--memory", "4096", "--output", "2",
                        "--answer", "8", "--file-size", "16", "--disk", "128", "--processes", "32",
                        "--open-files", "64"])
    assert given == Limits(notebook_timeout_s=300.0, cell_timeout_s=40.0, memory_mb=4096, output_mb=2.0,
                           answer_mb=8, file_mb=16, disk_mb=128, processes=32, open_files=64)
    assert given.cpu_s == 300 + limits.CPU_MARGIN_S and _limits_of(["--cpu", "50"]).cpu_s == 50
    assert _limits_of(["--timeout", "10"]).cell_timeout_s == 10  # a cell has no longer than its notebook


def test_the_command_line_follows_an_edited_declaration(monkeypatch, capsys):
    """Edit every default and help text where the limits are declared: the parsed command line and its
    help follow, with nothing to change in the command."""
    for f in dataclasses.fields(Limits):
        if f.default is not None:
            monkeypatch.setattr(f, "default", f.default * 3 if f.type == "int" else f.default * 2.5)
        monkeypatch.setattr(f, "metadata", types.MappingProxyType({**f.metadata, "help": f"edited {f.name}"}))
    parsed, shown = _limits_of([]), _grade_help(capsys)
    for f in dataclasses.fields(Limits):
        if f.default is not None:
            assert getattr(parsed, f.name) == f.default, f.name
        assert f"edited {f.name} (default: {limits.default_text(f.name)})" in shown, f.name
    assert parsed.memory_mb == 3 * 2048 and parsed.notebook_timeout_s == 2.5 * 120 and "(default: 6144 MB)" in shown


def test_the_guide_states_the_declared_limits():
    """docs/instructors.md holds the table of limits made from the declaration, and no other default."""
    guide = (course.ROOT / "docs" / "instructors.md").read_text()
    flat = " ".join(guide.split())
    stated = " ".join(limits.guide().split())
    assert stated in flat, "docs/instructors.md states other limits than autograder/grading/limits.py; " \
                           f"replace its table of limits with:\n{limits.guide()}"
    rest = flat.replace(stated, "")
    for f in dataclasses.fields(Limits):
        for found in re.finditer(re.escape(f"`{f.metadata['flag']}"), rest):
            sentence = re.split(r"(?<=[.;])\s", rest[found.start():], maxsplit=1)[0]
            assert "default" not in sentence, f"the guide states a default of {f.metadata['flag']} outside " \
                                              f"the table: {sentence!r}"


def test_no_private_name_crosses_a_grading_module():
    """``module._name`` never appears between the grading modules, nor in their tests."""
    folder = course.ROOT / "autograder" / "grading"
    modules = {p.stem for p in folder.glob("*.py")} | {"grading"}
    files = [*folder.glob("*.py"), *(course.ROOT / "tests").glob("test_grading*.py")]
    found = [f"{p.name}: {m.group(0)}" for p in files for m in re.finditer(r"\b([a-z_]+)\._[a-z]\w*", p.read_text())
             if m.group(1) in modules]
    assert found == []


def _workers_of(command_pid: int) -> list[int]:
    """The grading worker processes started by the command ``command_pid``."""
    return [int(e.name) for e in Path("/proc").iterdir()
            if e.name.isdigit() and _parent(int(e.name)) == command_pid and b"--serve" in _cmdline(int(e.name))]


def test_a_worker_killed_from_outside_is_an_error_retried_by_the_next_run(tmp_path):
    """The worker grading a slow notebook is killed mid-job from outside: the grader's fault, so that
    submission ends in ``error`` (no grade, no feedback, the cause listed, exit status 1), the pool starts a
    new worker and grades every other submission, and the next run grades it and skips the rest."""
    folder, db, report = tmp_path / "submitted", tmp_path / "gradebook.db", tmp_path / "report.json"
    _write(folder, "slow", _notebook("gates", "import time\ntime.sleep(8)\n" + _solution("gates")))
    for student in ("ann", "bob", "cid"):
        _write(folder, student, _notebook())
    args = [sys.executable, "-m", "autograder", "grade", ASSIGNMENT.name, "--submissions", str(folder),
            "--db", str(db), "--workers", "1", "--timeout", "30", "--report", str(report)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120  # one worker, students in name order: ann, bob, cid, then slow
    while time.monotonic() < deadline and len(_safe_journal(db)) < 3:
        time.sleep(0.2)
    time.sleep(2)  # "slow" is in its 8 s cell now
    workers = _workers_of(proc.pid)
    assert len(workers) == 1, workers
    os.kill(workers[0], signal.SIGKILL)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err[-2000:]
    results = {r["student"]: r for r in json.loads(report.read_text())["results"]}
    assert results["slow"]["status"] == "error" and results["slow"]["score"] is None
    assert "a grading worker ended with code -9" in results["slow"]["error"]
    assert "1 error" in out and "slow: a grading worker ended" in out
    assert all(results[s]["status"] == "graded" and results[s]["score"] == FULL for s in ("ann", "bob", "cid"))
    assert set(_journal(db)) == {"ann", "bob", "cid"}
    assert not (tmp_path / "feedback" / "slow").exists() and not (tmp_path / "autograded" / "slow").exists()
    with Gradebook(url_of(str(db)), course_id="nnref") as gb, pytest.raises(MissingEntry):
        gb.find_submission("01_neurons", "slow")
    assert _sandbox_processes() == []
    rerun = _grade(folder, db, "--timeout", "30", report=report)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "to grade: 1 (1 new); skipped: 3 unchanged since recorded (3 graded" in rerun.stderr
    results = {r["student"]: r for r in json.loads(report.read_text())["results"]}
    assert results["slow"]["status"] == "graded" and results["slow"]["score"] == FULL
    assert (tmp_path / "feedback" / "slow" / "01_neurons" / "neurons.html").exists()


def test_two_threads_stopping_one_worker_at_once():
    """As a run ends, the pool's thread and the command's clean-up both stop each worker: whichever comes
    second must find it stopped, not half-stopped (CI once failed on exactly this)."""

    for _ in range(3):
        worker = Worker(Limits())
        time.sleep(1)  # serving: its stdin is read, so a graceful stop takes a moment, which both threads wait out
        pid, errors, ready = worker.proc.pid, [], threading.Barrier(2)

        def stop(worker=worker, errors=errors, ready=ready):
            ready.wait()
            try:
                worker.stop(graceful=True)
            except Exception as error:  # collected: an exception in a thread would not fail the test
                errors.append(error)

        threads = [threading.Thread(target=stop) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert errors == [] and worker.proc is None
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def _solution(cell: str) -> str:
    text = notebooks.cell_text(notebooks.code_cells(notebooks.read(ASSIGNMENT.source()))[cell])
    return notebooks.strip_solution_markers(text) + "\n"



def test_new_gradebooks_get_nbgrader_s_own_alembic_stamp(tmp_path, monkeypatch):
    """The head revision read from nbgrader's migration files is the one ``alembic heads`` gives nbgrader,
    and a gradebook the command creates carries it, as one nbgrader creates would."""
    from nbgrader import api as nbgrader_api
    from sqlalchemy import text

    from autograder.grading.gradebook import Book, alembic_head

    monkeypatch.setenv("PATH", str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    assert alembic_head() == nbgrader_api.get_alembic_version()
    book = Book(str(tmp_path / "gradebook.db"), "01_neurons", "neurons.ipynb", {})
    try:
        stamp = book.gb.db.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    finally:
        book.close()
    assert stamp == alembic_head()
    assert nbgrader_api.get_alembic_version is not alembic_head  # nbgrader's own function is back in place
