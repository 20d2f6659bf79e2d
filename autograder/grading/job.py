"""One submission = one independent job with a plain-data result: the scale-out seam.

A job is a dict of strings and numbers (assignment, student, the path of
the submitted notebook, the limits); its result is the dict the report
stores for that student.  :func:`grade` does all the work; the command runs
jobs in worker processes (``python -m autograder.grading.job --serve FD``),
apart from itself, so that a student who brings down the process grading
them costs only their own result.  A cluster engine (Dask distributed) can run :func:`grade` on other
machines unchanged: it needs nothing but the job and the course files.
"""

from __future__ import annotations

import ctypes
import dataclasses
import importlib
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import traceback
from pathlib import Path

from .. import course
from . import sandbox

CHECK_CALL = re.compile(r"^\s*(check_\w+)\((\w+)\)\s*$", re.MULTILINE)

GRADED, FAILED, UNGRADABLE = "graded", "failed", "ungradable"
PR_SET_PDEATHSIG = 1
_PRIVATE_MOUNTS = False  # set by main(): this process has a mount namespace of its own
_JOBS_GRADED = 0
PR_SET_CHILD_SUBREAPER = 36


def test_arguments(source: dict) -> dict[str, str]:
    """``{grade_id: name}``: the notebook variable each hidden test cell hands to its check."""
    out = {}
    for cell in source["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell["cell_type"] == "code" and meta.get("grade") and not meta.get("solution"):
            found = CHECK_CALL.search("".join(cell["source"]))
            if found:
                out[meta["grade_id"]] = found.group(2)
    return out


def make_job(assignment: str, student: str, folder: Path, limits: sandbox.Limits) -> dict:
    """The job for ``folder`` = ``DIR/<student>/<assignment>``."""
    return {"assignment": assignment, "student": student, "folder": str(folder), "limits": limits.__dict__}


def _result(job, parts_table, status, error=None, parts=None) -> dict:
    parts = parts or [{"id": gid, "score": 0.0, "max_score": p.points, "message": error or ""}
                      for gid, p in parts_table.items()]
    return {"student": job["student"], "status": status, "score": float(sum(p["score"] for p in parts)),
            "max_score": float(sum(p.points for p in parts_table.values())), "parts": parts, "error": error}


def load_submission(folder: Path, notebook_name: str) -> dict:
    """The student's notebook as a dict; ``ValueError`` with a clear message when it cannot be graded."""
    if not folder.is_dir():
        raise ValueError(f"no folder {folder.name} in the submission")
    path = folder / notebook_name
    if not path.is_file():
        found = sorted(p.name for p in folder.glob("*.ipynb"))
        raise ValueError(f"missing notebook {notebook_name}; the submission holds {found or 'no notebook'}")
    text = path.read_bytes()
    if not text.strip():
        raise ValueError(f"{notebook_name} is an empty file")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise ValueError(f"{notebook_name} is not valid JSON: {str(error)[:200]}") from None
    if type(data) is not dict or type(data.get("cells")) is not list:
        raise ValueError(f"{notebook_name} is not a notebook: it has no list of cells")
    if data.get("nbformat") != 4:
        raise ValueError(f"{notebook_name} has nbformat {data.get('nbformat')!r}; nbformat 4 is expected")
    for i, cell in enumerate(data["cells"]):
        if type(cell) is not dict or "source" not in cell or type(cell.get("metadata", {})) is not dict:
            raise ValueError(f"{notebook_name}: cell {i} is malformed")
    return data


def _source_text(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if type(source) is list else str(source)


def tampering(student: dict, release: dict, folder: Path | None = None, notebook_name: str = "") -> list[str]:
    """What the student changed that the grader ignores, said plainly for the report.

    Locked cells (tests, given code) are always taken from the instructor's
    copy and test cells never run in the sandbox, so deleting, duplicating,
    moving or editing them, or editing their points, changes no score; the
    report says it happened so that an instructor can follow up.
    """
    notes, locked = [], {}
    for cell in release["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("locked"):
            locked[meta["grade_id"]] = cell
    seen = []
    for cell in student["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader")
        gid = meta.get("grade_id") if type(meta) is dict else None
        if gid in locked:
            seen.append(gid)
            original = locked[gid]
            if _source_text(cell) != _source_text(original):
                notes.append(f"locked cell {gid} was edited; the instructor's version was used")
            points = original["metadata"]["nbgrader"].get("points")
            if points is not None and meta.get("points") != points:
                notes.append(f"the points of {gid} were changed to {meta.get('points')!r}; they are {points:g}")
    for gid in locked:
        count = seen.count(gid)
        if count == 0:
            notes.append(f"locked cell {gid} was deleted; it was graded from the instructor's copy")
        elif count > 1:
            notes.append(f"locked cell {gid} appears {count} times; it was graded once")
    order = [gid for gid in dict.fromkeys(seen)]
    if order != [gid for gid in locked if gid in order]:
        notes.append("locked cells were moved; they were graded in the instructor's order")
    if folder is not None:  # nbgrader's own timestamp.txt and hidden files (checkpoints) are expected
        extra = sorted(p.name for p in folder.iterdir()
                       if p.name not in (notebook_name, "timestamp.txt") and not p.name.startswith("."))
        if extra:
            notes.append(f"ignored extra files in the submission: {', '.join(extra[:10])}"
                         + (f" and {len(extra) - 10} more" if len(extra) > 10 else ""))
    return notes


def grade(job: dict) -> dict:
    """Grade one submission; never raises (a failure of the grader itself is a "failed" result)."""
    assignment = course.get(job["assignment"])
    parts_table = importlib.import_module(assignment.tests_module).PARTS
    try:
        student_nb = load_submission(Path(job["folder"]), assignment.notebook)
    except ValueError as error:
        return _result(job, parts_table, UNGRADABLE, str(error))
    try:
        notes = tampering(student_nb, json.loads(assignment.release().read_text()), Path(job["folder"]),
                          assignment.notebook)
        result = _grade_notebook(job, assignment, parts_table, student_nb)
        if notes:
            result["warnings"] = notes
        return result
    except Exception as error:  # the grader's own failure must not stop the others
        return _result(job, parts_table, FAILED, f"internal error of the grader: {type(error).__name__}: {error}\n"
                       + traceback.format_exc(limit=3))


class Sandbox:
    """A scratch space (a tmpfs of its own, as root) and a sandboxed kernel launched in it.

    The kernel is launched at construction and waited for in :meth:`connect`,
    so that a worker can launch the next submission's kernel while it grades
    the current one: a kernel's start is mostly waiting, and it would
    otherwise be paid in full by every submission.
    """

    def __init__(self, limits: sandbox.Limits):
        from . import runner  # nbclient and nbformat: only where a notebook runs, not in the command's process

        global _JOBS_GRADED
        self.limits, self.session, self.log = limits, None, None
        self.work = Path(tempfile.mkdtemp(prefix="nnref-grade-"))
        self.mounted = _PRIVATE_MOUNTS and sandbox.jail_available()[0]
        try:
            if self.mounted:  # the kernel's files vanish with the tmpfs, its processes with its jail
                _JOBS_GRADED += 1  # a user of its own per kernel: nothing of an earlier jail counts against it
                limits = dataclasses.replace(limits, uid=sandbox.UID_BASE + os.getpid() * 256 + _JOBS_GRADED % 256)
                sandbox._mount("tmpfs", self.work, "tmpfs", sandbox.MS_NOSUID | sandbox.MS_NODEV,
                               f"size={limits.disk_mb}m,mode=0711")
            self.scratch = self.work / "scratch"
            self.scratch.mkdir(mode=0o700)
            self.session = runner.Session(self.scratch, limits)
            # the kernel's own stdout and stderr (not the notebook's outputs) go to a log in the scratch space
            self.log = open(self.work / "kernel.log", "wb")  # noqa: SIM115 - closed in close()
            self.session.client.start_new_kernel(env=sandbox.minimal_env(str(self.scratch)), stdout=self.log,
                                                 stderr=self.log)
        except BaseException:
            self.close()
            raise

    def connect(self) -> None:
        """Wait until the kernel answers (it may have been launched a while ago)."""
        self.session.client.start_new_kernel_client()

    def close(self) -> None:
        try:
            if self.session is not None:
                self.session.shutdown()
                _reap()
        finally:
            if self.log is not None:
                self.log.close()
            if self.mounted:
                sandbox.umount(self.work)
            shutil.rmtree(self.work, ignore_errors=True)


_SPARE: Sandbox | None = None  # the next submission's kernel, launched early (worker processes only)
_PREFETCH = False


def _sandbox_for(limits: sandbox.Limits) -> Sandbox:
    """A connected sandbox: the spare one when it was launched with these limits and started, else a new one;
    in a worker, the next one is launched before this one is handed out."""
    global _SPARE
    box, _SPARE = _SPARE, None
    if box is not None and box.limits != limits:
        box.close()
        box = None
    if _PREFETCH:
        try:
            _SPARE = Sandbox(limits)
        except Exception:  # launched again, and reported, when it is needed
            _SPARE = None
    if box is not None:
        try:
            box.connect()
            return box
        except Exception:  # the spare kernel did not start: a fresh one gets the job
            box.close()
    box = Sandbox(limits)
    try:
        box.connect()
    except BaseException:
        box.close()
        raise
    return box


def close_spare() -> None:
    global _SPARE
    if _SPARE is not None:
        _SPARE.close()
        _SPARE = None


def _grade_notebook(job, assignment, parts_table, student_nb) -> dict:
    from . import runner

    source = json.loads(assignment.source().read_text())
    arguments = test_arguments(source)
    box = _sandbox_for(sandbox.Limits(**job["limits"]))
    try:
        session = box.session
        (box.scratch / assignment.notebook).write_text(json.dumps(student_nb))
        parts = []
        try:
            session.run_notebook(runner.cells_to_run(student_nb, source))
            for gid, part in parts_table.items():
                parts.append(_score_part(session, gid, part, arguments))
            session.close_channel()
        except runner.KernelFailure as failure:
            result = _result(job, parts_table, FAILED, str(failure))
            result["notebook"] = runner.autograded(student_nb, source, session.outputs)
            return result
        result = _result(job, parts_table, GRADED, parts=parts)
        result["notebook"] = runner.autograded(student_nb, source, session.outputs)
        if session.errors:
            result["notebook_errors"] = session.errors[:20]
        return result
    finally:
        box.close()


def _score_part(session, gid, part, arguments) -> dict:
    from . import runner
    name = arguments.get(gid)
    if name is None:
        return {"id": gid, "score": 0.0, "max_score": part.points, "message": "the grader has no test for this part"}
    value = runner.stand_in(session, name)
    try:
        part.check(value)
    except runner.KernelFailure:
        raise
    except AssertionError as error:
        return {"id": gid, "score": 0.0, "max_score": part.points, "message": str(error)[:2000]}
    except Exception as error:
        return {"id": gid, "score": 0.0, "max_score": part.points,
                "message": f"{type(error).__name__}: {str(error)[:2000]}"}
    return {"id": gid, "score": part.points, "max_score": part.points, "message": ""}


def _die_with_parent() -> None:
    """Linux: end this job when the command that started it is killed (its kernel follows: its launcher
    watches its parent), so a killed run leaves no grading behind; and adopt the kernel's orphans, so
    that they are reaped here whatever the host's init does."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1)
    except (OSError, AttributeError):
        pass


def _reap() -> None:
    """Collect the jail's processes that ended after their launcher (this process is their subreaper)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _private_mounts() -> bool:
    """As root: a mount namespace of this job's own, so that its tmpfs scratch space is invisible to
    the host and vanishes with the job however it ends (must run while the process has one thread)."""
    if os.getuid() != 0:
        return False
    try:
        sandbox._unshare(sandbox.CLONE_NEWNS)
        sandbox._mount(None, "/", None, sandbox.MS_REC | sandbox.MS_PRIVATE)
    except OSError:
        return False
    return True


def serve(reply_fd: int, limits: dict | None = None) -> None:
    """A grading worker: one job (a JSON line) at a time from stdin, each result as a JSON line on
    ``reply_fd``.  A worker grades many submissions, so the imports and the oracle cache are paid once;
    whatever kills it costs the job in hand alone (the command starts another).  ``limits``: those of
    the jobs to come, to launch the first kernel at once."""
    global _PREFETCH, _SPARE
    _PREFETCH = True
    try:
        if limits is not None:  # the first kernel starts before the first job arrives
            _SPARE = Sandbox(sandbox.Limits(**limits))
        with os.fdopen(reply_fd, "wb") as reply:
            for line in sys.stdin.buffer:
                result = grade(json.loads(line))
                reply.write(json.dumps(result).encode() + b"\n")
                reply.flush()
    finally:
        close_spare()


def main(argv: list[str]) -> None:
    global _PRIVATE_MOUNTS
    _PRIVATE_MOUNTS = _private_mounts()
    _die_with_parent()
    if argv[:1] != ["--serve"] or len(argv) not in (2, 3):
        sys.exit("usage: python -m autograder.grading.job --serve REPLY_FD [LIMITS_JSON]")
    serve(int(argv[1]), json.loads(argv[2]) if len(argv) > 2 else None)


if __name__ == "__main__":
    main(sys.argv[1:])
