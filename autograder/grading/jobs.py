"""A job and its result: plain data (JSON), so that jobs can be graded anywhere.

A job names one submission::

    {"assignment": "01_neurons", "student": "alice",
     "folder": "submitted/alice/01_neurons", "limits": {"memory_mb": 2048, ...}}

On a Dask cluster (``cluster.py``) a job travels without ``folder``: it
carries the notebook's bytes (``submitted``, base64) and the names of the
folder's other files (``extra_files``), or why it was refused (``refused``),
and, on the worker, the instructor's notebooks (``instructor``); its result
gains ``worker``.

Its result is what the report and the journal store for that student
(the schema is in ``report.py``), with two more keys while it travels to the
command: ``notebook`` (the graded notebook, for ``autograded/`` and the
feedback page), ``page`` (the feedback page, rendered where the submission
was graded: ``feedback_html.render``) and ``notebook_errors``.  The statuses a result may have,
and what each means, are declared here and nowhere else.

Whose fault a status is decides what is kept: ``graded``, ``failed`` and
``ungradable`` are the submission's (recorded in the gradebook, with
feedback); ``error`` is the grader's own (nothing recorded, retried by the
next run) and ``missing`` means there was nothing to grade.
"""

from __future__ import annotations

from pathlib import Path

from .limits import Limits

GRADED, FAILED, UNGRADABLE, ERROR, MISSING = "graded", "failed", "ungradable", "error", "missing"
STATUSES = {
    GRADED: "the notebook ran and every part was checked; a part's message says why it lost points",
    FAILED: "the student's code crashed the kernel, ran past a time limit, printed too much or exhausted a limit "
            "(the error says which); the score is 0",
    UNGRADABLE: "the submission is not a notebook that can be run (missing, empty, invalid JSON, nbformat 3 ...); "
                "the score is 0",
    ERROR: "the grader's own fault (the kernel or jail could not start, a worker died, a check raised, the disk "
           "or the gradebook failed): no grade and no feedback are written, the cause is listed for the "
           "instructor, and the next run grades the submission again",
    MISSING: "the student has no folder for this assignment: no grade and no feedback; graded once it appears",
}
RECORDED = (GRADED, FAILED, UNGRADABLE)  # the statuses that reach the gradebook, the journal and feedback


class GraderFault(Exception):
    """Raised by the grader's own code for a fault that is not the student's: the job's result is ``error``."""


def make_job(assignment: str, student: str, folder: Path, limits: Limits) -> dict:
    """The job for ``folder`` = ``DIR/<student>/<assignment>``."""
    return {"assignment": assignment, "student": student, "folder": str(folder), "limits": limits.to_dict()}


def limits_of(job: dict) -> Limits:
    return Limits(**job["limits"])


def no_grade(job: dict, status: str, cause: str, detail: str = "") -> dict:
    """The result of a job that gets no grade: ``error`` (``cause``: one line for the instructor, the same for
    every student the same fault hits; ``detail``: a traceback or log, for the instructor only) or ``missing``."""
    if status not in (ERROR, MISSING):
        raise ValueError(f"status {status!r} records a grade; use result()")
    return {"student": job["student"], "status": status, "score": None, "max_score": None, "parts": [],
            "error": cause, "detail": detail}


def part(grade_id: str, max_score: float, score: float = 0.0, message: str = "", mistake: str | None = None) -> dict:
    """The result of one graded part; ``mistake``, the code of the mistake that cost it points
    (:mod:`autograder.mistakes`), is ``None`` for full marks and ``other`` when no known mistake matches."""
    if score < max_score and mistake is None:
        mistake = "other"
    return {"id": grade_id, "score": float(score), "max_score": float(max_score), "message": message,
            "mistake": None if score >= max_score else mistake}


def result(job: dict, table, status: str, error: str | None = None, parts: list[dict] | None = None) -> dict:
    """The result of ``job`` with status ``status``; without ``parts``, every part of ``table`` (the
    assignment's ``{grade_id: Part}``) scores 0 with ``error`` as its message."""
    if status not in STATUSES:
        raise ValueError(f"status {status!r} is not one of {', '.join(STATUSES)}")
    # a notebook that could not run or be read scores 0 on every part; the mistake is the whole submission's
    mistake = "crashed" if status == FAILED else "other"
    parts = parts or [part(gid, p.points, message=error or "", mistake=mistake) for gid, p in table.items()]
    return {"student": job["student"], "status": status, "score": float(sum(p["score"] for p in parts)),
            "max_score": float(sum(p.points for p in table.values())), "parts": parts, "error": error}
