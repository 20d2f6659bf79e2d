"""Grade one submission: :func:`grade` takes a job and returns its result, both plain data (the scale-out seam).

It needs nothing but the job and the course files: the command runs it in
worker processes (``worker.py``), apart from itself, so that a student who
brings down the process grading them costs only their own result, and a
cluster engine can run it on other machines unchanged.  The student's own
cells run in a sandboxed kernel; each graded part's check then runs here,
in the grader's process, on what the kernel sends back as plain data.
"""

from __future__ import annotations

import json
import traceback
from pathlib import Path

from .. import checks, course, notebooks
from . import jobs, merge, submission, tampering
from .boxes import Boxes
from .channel import Channel, stand_in
from .kernel import KernelFailure

MESSAGE_CAP = 2000  # characters of a check's message kept per part


def grade(job: dict, boxes: Boxes | None = None) -> dict:
    """Grade one submission, and render the feedback page of a result that will be recorded (``page``, plain
    data: the command only writes it, so that it is not the bottleneck of a large class); never raises."""
    result = _grade(job, boxes)
    if result["status"] in jobs.RECORDED:
        result["page"] = page(job, result)
    return result


def page(job: dict, result: dict) -> dict | None:
    """The feedback page of ``result`` (``feedback_html.render``), or None when it cannot be rendered here: the
    command then renders it itself, and a page that cannot be rendered there either makes the result ``error``."""
    try:
        from . import feedback_html

        carried = job.get("instructor")
        stem = Path(carried["notebook"] if carried else course.get(job["assignment"]).notebook).stem
        return feedback_html.render(result.get("notebook"), result, stem, job["assignment"])
    except Exception:  # noqa: BLE001 - the grade stands; only where its page is built changes
        return None


def _grade(job: dict, boxes: Boxes | None = None) -> dict:
    """Grade one submission; never raises.  The grader's own failure (the kernel could not start, a check
    raised, the disk filled ...) is an ``error`` result: no grade, and nothing of the grader's code in what
    the student sees.

    ``boxes``: where its kernel comes from (a worker's, which launches the
    next kernel early); by default one launched for this job alone.
    """
    try:
        assignment, source, release = instructor(job)
        table = assignment.parts()
        folder = Path(job["folder"])
    except Exception as error:
        return jobs.no_grade(job, jobs.ERROR, f"the assignment cannot be loaded: {type(error).__name__}: {error}",
                             traceback.format_exc())
    try:
        if job.get("refused"):  # read where the submissions are (a cluster's coordinator), and refused there
            raise ValueError(job["refused"])
        notebook = submission.load(folder, assignment.notebook, jobs.limits_of(job).notebook_mb)
    except ValueError as error:
        return jobs.result(job, table, jobs.UNGRADABLE, str(error))
    except OSError as error:  # the submission is there but the grader cannot read it
        return jobs.no_grade(job, jobs.ERROR, f"the submission cannot be read: {type(error).__name__}: "
                             f"{error.strerror}", traceback.format_exc())
    own_boxes = boxes is None
    try:
        boxes = Boxes() if own_boxes else boxes
        extra = job["extra_files"] if "extra_files" in job else submission.extra_files(folder, assignment.notebook)
        warnings = tampering.notes(notebook, release, extra)
        result = _run_and_score(job, assignment, table, notebook, boxes, source)
        if warnings:
            result["warnings"] = warnings
        return result
    except jobs.GraderFault as fault:
        return jobs.no_grade(job, jobs.ERROR, str(fault), traceback.format_exc())
    except Exception as error:  # the grader's own failure must not stop the others, nor count against anyone
        return jobs.no_grade(job, jobs.ERROR, f"the grader raised {type(error).__name__}: {error}",
                             traceback.format_exc())
    finally:
        if own_boxes and isinstance(boxes, Boxes):
            boxes.close()


def instructor(job: dict) -> tuple:
    """(the assignment, the instructor's source notebook, its release): carried by the job as plain data when it
    is graded away from the course files (``cluster.py``), else read from them."""
    carried = job.get("instructor")
    if carried:
        return course.Assignment(job["assignment"], carried["notebook"]), carried["source"], carried["release"]
    assignment = course.get(job["assignment"])
    return assignment, notebooks.read(assignment.source()), notebooks.read(assignment.release())


def _run_and_score(job: dict, assignment, table, notebook: dict, boxes: Boxes, source: dict) -> dict:
    """Run the student's cells in a box, then check every part; the result with the graded notebook."""
    variables = notebooks.test_arguments(source)
    try:
        box = boxes.get(jobs.limits_of(job))
    except jobs.GraderFault:
        raise
    except Exception as error:  # before any student code runs: the set-up's fault
        raise jobs.GraderFault(f"the kernel could not be launched: {type(error).__name__}: {error}") from error
    channel = Channel(box.kernel)
    try:
        (box.scratch / assignment.notebook).write_text(json.dumps(notebook))
        try:
            box.kernel.run_notebook(merge.cells_to_run(notebook, source))
            parts = [score_part(channel, gid, part, variables.get(gid)) for gid, part in table.items()]
        except KernelFailure as failure:
            result = jobs.result(job, table, jobs.FAILED, str(failure))
        else:
            result = jobs.result(job, table, jobs.GRADED, parts=parts)
            if box.kernel.errors:
                result["notebook_errors"] = box.kernel.errors[:20]
        result["notebook"] = merge.autograded(notebook, source, box.kernel.outputs, result["parts"])
        return result
    finally:
        channel.close()
        box.close()


def score_part(channel: Channel, grade_id: str, part, variable: str | None) -> dict:
    """Part ``grade_id``'s check on the stand-in for the notebook ``variable`` its hidden test cell names."""
    if variable is None:
        raise jobs.GraderFault(f"the hidden test of {grade_id} names no notebook variable to check")
    value = stand_in(channel, variable)
    try:
        part.check(value)
    except KernelFailure:
        raise
    except AssertionError as error:  # the check's verdict on the student's answer
        return jobs.part(grade_id, part.points, message=str(error)[:MESSAGE_CAP], mistake=checks.mistake_of(error))
    except Exception as error:  # checks turn every fault of the student's code into an AssertionError
        raise jobs.GraderFault(f"the check of {grade_id} raised {type(error).__name__}: {error}") from error
    return jobs.part(grade_id, part.points, score=part.points)
