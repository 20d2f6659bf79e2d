"""The grading command against hostile answers: what the student's functions return, and the channel itself.

One run of ``python -m autograder grade`` over assignment 01_neurons grades
the honest submission beside one student per attack on the wire; each
attacking ``tlu`` answers honestly when the notebook calls it and attacks
only when the grader's service does.  Every attack gets its exact status,
costs at most its own part, and leaves the other parts and students at full
marks; no message a student sees holds a grader path or traceback; and the
worker processes' peak memory (VmHWM, read from /proc while the run goes
on) stays bounded.  Smaller runs cover in-place edits of arrays inside a
list (05_vanishing), the worker memory limit, and the clean-up of a killed
worker's scratch folder.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from autograder import course, mutation, notebooks
from autograder.grading import pool
from autograder.grading.limits import Limits

sys.path.insert(0, str(Path(__file__).parent))
from test_grading import ASSIGNMENT, FULL, _notebook, _write  # noqa: E402

pytestmark = pytest.mark.slow
MB = 1 << 20
PEAK_MB = 700  # a worker's peak resident memory over the whole run, attacks included
CELL_TIMEOUT = 10  # of the main run, below its notebook timeout: a per-call deadline is told from the total one

HONEST_TLU = "(X @ w + b >= 0).astype(float)"


def _tlu(attack: str, prelude: str = "") -> str:
    """A ``tlu`` that is right when the notebook calls it and runs ``attack`` (ending in a return) when the
    grader's service does."""
    body = "\n".join("        " + line for line in attack.strip().splitlines())
    return (f"import sys\nimport numpy as np\n{prelude}\n"
            f"def tlu(X, w, b):\n"
            f"    if sys._getframe(1).f_code.co_name == '__grader_service':\n{body}\n"
            f"    return {HONEST_TLU}\n")


# Writes onto the service's own socket, as a student's code can (the socket object is in the kernel's heap).
CHANNEL = """
import gc, socket, struct
def grader_socket():
    return next(o for o in gc.get_objects() if isinstance(o, socket.socket) and o.family == socket.AF_UNIX)
"""
FORGED_FRAME = """
body = json.dumps({"ok": [{}] * 600000, "id": None}).encode()
grader_socket().sendall(struct.pack("!Q", len(body)) + body)
return HONEST
"""
FORGED_LINE = """
grader_socket().sendall(json.dumps([{}] * 600000).encode() + b"\\n")
return HONEST
"""
TRICKLE = """
s = grader_socket()
s.sendall(struct.pack("!Q", 100))
for _ in range(100):
    s.sendall(b" ")
    time.sleep(1)
return HONEST
"""
# Binds the service's socket addresses, old and new, before the grader could, and tries to replace them.
SQUAT = """
import glob, os, socket, sys
connection = sys.argv[sys.argv.index("-f") + 1]
for path in [".grader.sock", os.path.join(os.path.dirname(connection), "grader.sock")]:
    try:
        if os.path.exists(path):
            os.unlink(path)
        squat = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        squat.bind(path)
        squat.listen(1)
        print("squatted", path)
    except OSError as error:
        print("refused", type(error).__name__)
"""

# student: (source of the tlu cell, status, part test_tlu's message or the error, pattern)
ATTACKS = {
    "opaque_flood": (_tlu("return [object() for _ in range(600000)]"), "graded", "more than 1,000,000 items"),
    "forged_frame": (_tlu(FORGED_FRAME.replace("HONEST", HONEST_TLU), "import json" + CHANNEL), "graded",
                     "more than 1,000,000 items"),
    "forged_line": (_tlu(FORGED_LINE.replace("HONEST", HONEST_TLU), "import json" + CHANNEL), "failed",
                    "wrote to the grader's channel"),
    "float128": (_tlu(f"return ({HONEST_TLU}).astype(np.longdouble)"), "graded", "ndarray[float128]"),
    "huge_int": (_tlu("return [10 ** 400] * len(X)"), "graded", "integer too large for a float"),
    "huger_int": (_tlu("return [10 ** 5000] * len(X)"), "graded", "cannot be written as JSON"),
    "complex": (_tlu(f"return ({HONEST_TLU}).astype(complex)"), "graded", "ndarray[complex128]"),
    "over_cap": (_tlu("return 'x' * (65 * 2**20)"), "graded", "more than the 64 MB the grader reads"),
    "too_many_items": (_tlu("return np.zeros(2000000)"), "graded", "more than 1,000,000 items"),
    "trickled_frame": (_tlu(TRICKLE.replace("HONEST", HONEST_TLU), "import time" + CHANNEL), "failed",
                       f"timeout: a function of the notebook ran (or sent its answer) longer than {CELL_TIMEOUT} s"),
    "long_call": (_tlu("while True:\n    pass"), "failed",
                  f"timeout: a function of the notebook ran (or sent its answer) longer than {CELL_TIMEOUT} s"),
    # the notebook lowers its own CPU limit, then a call runs past it: named, and not taken for a timeout
    "out_of_cpu": ("import resource\nresource.setrlimit(resource.RLIMIT_CPU, (4, resource.getrlimit("
                   "resource.RLIMIT_CPU)[1]))\n" + _tlu("while True:\n    pass"), "failed",
                   "the kernel died while being graded: it ran out of CPU time"),
    "squatter": (SQUAT + _tlu(f"return {HONEST_TLU}"), "graded", None),
}
GRADER_TEXT = ("Traceback", "autograder/", "/tmp/", "nnref-grade", ".py\"", "GraderFault")


def _run(args: list[str], env: dict | None = None) -> tuple[subprocess.CompletedProcess, dict[int, int]]:
    """Run the grading command; its result and the peak resident memory (kB) of each of its workers."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    peaks: dict[int, int] = {}
    done = threading.Event()

    def watch():
        while not done.is_set():
            for entry in Path("/proc").iterdir():
                try:
                    if not entry.name.isdigit() or b"--serve" not in (entry / "cmdline").read_bytes():
                        continue
                    if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) != proc.pid:
                        continue
                    status = (entry / "status").read_text()
                    peaks[int(entry.name)] = max(peaks.get(int(entry.name), 0),
                                                 int(status.split("VmHWM:")[1].split()[0]))
                except (OSError, IndexError, ValueError):
                    continue
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    out, err = proc.communicate(timeout=600)
    done.set()
    watcher.join()
    return subprocess.CompletedProcess(args, proc.returncode, out, err), peaks


def _command(assignment: str, folder: Path, root: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "autograder", "grade", assignment, "--submissions", str(folder),
            "--db", str(root / "gradebook.db"), "--report", str(root / "report.json"), "--workers", "2", *extra]


@pytest.fixture
def own_tmp():
    """A temporary folder for one command (checked empty afterwards), with a short path: the kernels'
    sockets lie under it, and a Unix socket's path has at most 107 bytes."""
    folder = Path(tempfile.mkdtemp(prefix="nnh-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _env(tmp: Path) -> dict:
    return {**os.environ, "TMPDIR": str(tmp)}


def _results(root: Path) -> dict:
    return {r["student"]: r for r in json.loads((root / "report.json").read_text())["results"]}


def _student_text(result: dict) -> str:
    return " ".join([str(result.get("error") or "")] + [p["message"] for p in result["parts"]])


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    tmp = Path(tempfile.mkdtemp(prefix="nnh-", dir="/tmp"))
    folder = root / "submitted"
    _write(folder, "honest", _notebook())
    for student, (source, *_) in ATTACKS.items():
        _write(folder, student, _notebook("tlu", source))
    started = time.monotonic()
    run, peaks = _run(_command(ASSIGNMENT.name, folder, root, "--timeout", "30", "--cell-timeout",
                               str(CELL_TIMEOUT)), _env(tmp))
    left = list(tmp.iterdir())
    shutil.rmtree(tmp, ignore_errors=True)
    assert run.returncode == 0, run.stderr[-3000:]
    print(f"main run: {time.monotonic() - started:.1f} s, worker peaks (MB): "
          f"{sorted(round(kb / 1024) for kb in peaks.values())}")
    return left, _results(root), peaks, run


def test_honest_submission_keeps_full_marks(graded):
    honest = graded[1]["honest"]
    assert honest["status"] == "graded" and honest["score"] == FULL, honest


@pytest.mark.parametrize("student", list(ATTACKS))
def test_each_answer_attack_costs_its_part_alone(graded, student):
    result = graded[1][student]
    _, status, pattern = ATTACKS[student]
    assert result["status"] == status, result
    assert result["score"] <= FULL
    parts = {p["id"]: p for p in result["parts"]}
    if status == "graded":
        others = [p for gid, p in parts.items() if gid != "test_tlu"]
        assert all(p["score"] == p["max_score"] for p in others), others
        if pattern is None:
            assert result["score"] == FULL, result
        else:
            assert parts["test_tlu"]["score"] == 0 and pattern in parts["test_tlu"]["message"], parts["test_tlu"]
    else:
        assert result["score"] == 0 and pattern in result["error"], result
    text = _student_text(result)
    assert not any(marker in text for marker in GRADER_TEXT), text


def test_workers_memory_stays_bounded(graded):
    peaks = graded[2]
    assert peaks, "no worker was seen"
    assert max(peaks.values()) < PEAK_MB * 1024, {pid: kb // 1024 for pid, kb in peaks.items()}


def test_no_scratch_folder_outlives_the_run(graded):
    assert graded[0] == []


# 05_vanishing: clip_by_norm and clip_by_value edit the arrays of their list argument in place.
VANISHING = course.get("05_vanishing")
IN_PLACE = {
    "clip_by_norm": """
def clip_by_norm(grads, max_norm):
    total = np.sqrt(sum(np.sum(g * g) for g in grads))
    if total > max_norm:
        for g in grads:
            g *= max_norm / total
    return grads
""",
    "clip_by_value": """
def clip_by_value(grads, clip_value):
    for g in grads:
        np.clip(g, -clip_value, clip_value, out=g)
    return grads
""",
}


def test_in_place_edits_of_arrays_inside_a_list_score_zero(tmp_path, own_tmp):
    """Through the command as when the hidden check is called directly: zero on those parts alone."""
    release, solution = (notebooks.read(p) for p in (VANISHING.release(), VANISHING.source()))
    honest = mutation.submission(release, solution)
    edits = json.loads(json.dumps(honest))
    for cell in edits["cells"]:
        if notebooks.grade_id(cell) in IN_PLACE:
            cell["source"] = IN_PLACE[notebooks.grade_id(cell)]
    folder = tmp_path / "submitted"
    for student, notebook in (("honest", honest), ("edits_in_place", edits)):
        (folder / student / VANISHING.name).mkdir(parents=True)
        (folder / student / VANISHING.name / VANISHING.notebook).write_text(json.dumps(notebook))
    run, _ = _run(_command(VANISHING.name, folder, tmp_path), _env(own_tmp))
    assert run.returncode == 0, run.stderr[-3000:]
    results = _results(tmp_path)
    assert results["honest"]["score"] == results["honest"]["max_score"], results["honest"]
    parts = {p["id"]: p for p in results["edits_in_place"]["parts"]}
    for name in IN_PLACE:
        assert parts[f"test_{name}"]["score"] == 0, parts[f"test_{name}"]
        assert "in place" in parts[f"test_{name}"]["message"], parts[f"test_{name}"]
        namespace = {"np": np}
        exec(IN_PLACE[name], namespace)  # the hidden check called directly agrees
        with pytest.raises(AssertionError, match="in place"):
            VANISHING.parts()[f"test_{name}"].check(namespace[name])
    assert all(p["score"] == p["max_score"] for gid, p in parts.items() if gid[5:] not in IN_PLACE), parts
    assert list(own_tmp.iterdir()) == []


# An answer within the answer and item limits (900,000 strings, 56 MB) whose reading needs more than the
# worker memory limit of this run leaves (the worker's address space peaks at about 310 MB grading the
# honest submission, 530 MB with this answer under no limit).
WORKER_MEMORY_MB = 420
MEMORY_HOG = _tlu("return ['x' * 55 + str(i).zfill(7) for i in range(900000)]")


def test_a_worker_past_its_memory_limit_fails_that_student_and_the_run_goes_on(tmp_path, own_tmp):
    folder = tmp_path / "submitted"
    _write(folder, "honest", _notebook())
    _write(folder, "memory_hog", _notebook("tlu", MEMORY_HOG))
    _write(folder, "after", _notebook())
    run, _ = _run(_command(ASSIGNMENT.name, folder, tmp_path, "--workers", "1", "--worker-memory",
                           str(WORKER_MEMORY_MB)), _env(own_tmp))
    assert run.returncode == 0, run.stderr[-3000:]
    results = _results(tmp_path)
    assert results["memory_hog"]["status"] == "failed" and results["memory_hog"]["score"] == 0
    assert "the grader's memory limit" in results["memory_hog"]["error"], results["memory_hog"]
    assert not any(marker in _student_text(results["memory_hog"]) for marker in GRADER_TEXT)
    for student in ("honest", "after"):
        assert results[student]["status"] == "graded" and results[student]["score"] == FULL, results[student]
    assert list(own_tmp.iterdir()) == []


def test_a_killed_worker_leaves_no_scratch_folder(own_tmp, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(own_tmp))
    monkeypatch.setattr("tempfile.tempdir", None)
    worker = pool.Worker(Limits())
    try:
        deadline = time.monotonic() + 30  # its first box is launched before any job comes
        while time.monotonic() < deadline and not list(Path(worker.scratch).glob("nnref-grade-*")):
            time.sleep(0.1)
        assert list(Path(worker.scratch).glob("nnref-grade-*")), "the worker launched no box"
        os.kill(worker.proc.pid, signal.SIGKILL)
    finally:
        worker.stop()
    assert list(own_tmp.iterdir()) == []


def test_the_wire_bounds_what_it_reads():
    """Nesting past the parser's depth, more items than ``wire.MAX_ITEMS`` and non-JSON are refused with a
    reason before anything is built; stand-ins share one class per name however many come back."""
    from autograder.grading import wire

    for frame, reason in ((b"[" * 100000 + b"]" * 100000, "not valid JSON"),
                          (json.dumps([{}] * 600000).encode(), "more than 1,000,000 items"),
                          (b"{\"ok\": [1, 2", "not valid JSON")):
        with pytest.raises(wire.Unreadable, match=reason):
            wire.loads(frame)
    flood = wire.decode([{"__opaque__": f"Thing{i % 3}", "module": "m"} for i in range(100000)])
    assert len({type(item) for item in flood}) == 3
    assert isinstance(wire.decode({"__scalar__": "float64", "value": 10 ** 400}), wire.Opaque)
