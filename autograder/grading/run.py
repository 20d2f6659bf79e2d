"""One run of the grading command over a class: oracles, jobs, workers, gradebook, feedback, report.

The command's process is the only writer: each result that comes back from
the pool gets its graded notebook and feedback page first, then its
gradebook row and journal entry in one transaction, so that a run killed at
any moment and run again grades each submission exactly once.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import sys
import tempfile
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tqdm.auto import tqdm

from .. import course, notebooks, oracles
from . import gradebook, jobs, report, sandbox
from .gradebook import Book
from .limits import Limits
from .pool import Pool


def warm_oracles(assignment, table) -> tuple[int, float]:
    """Compute the assignment's oracles once, here in the trusted process, before any student.

    The instructor's solution cells run in this process (they are the
    course's own code) and every part's check runs on them, which fills the
    oracle cache (``AUTOGRADER_ORACLE_CACHE``, a folder for this run): the
    grading jobs then read torch.autograd's answers from disk instead of each
    importing torch.  Returns (parts that passed, seconds).
    """
    start = time.monotonic()
    source = notebooks.read(assignment.source())
    variables = notebooks.test_arguments(source)
    namespace: dict = {"__name__": "__solution__"}
    passed = 0
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for cell in source["cells"]:
            if notebooks.is_code(cell) and not notebooks.is_test_cell(cell):
                exec(compile(notebooks.cell_text(cell), f"<{assignment.name} solution>", "exec"), namespace)
        for gid, part in table.items():
            if variables.get(gid) in namespace:
                part.check(namespace[variables[gid]])
                passed += 1
    return passed, time.monotonic() - start


def save_feedback(result: dict, assignment, feedback: Path) -> None:
    """The graded notebook (``autograded/``) and its feedback page (``feedback/``) of one result.

    Written before the gradebook row, each file by an atomic rename: a run
    killed in between leaves the submission ungraded and a rerun rewrites
    both, so a recorded grade always has its feedback.
    """
    from . import feedback_html  # imported in the background since the command started

    notebook = result.pop("notebook", None)
    student, stem = result["student"], Path(assignment.notebook).stem
    if notebook is not None:
        graded = feedback.parent / "autograded" / student / assignment.name / assignment.notebook
        graded.parent.mkdir(parents=True, exist_ok=True)
        partial = graded.with_name(graded.name + ".partial")
        partial.write_text(json.dumps(notebook))
        os.replace(partial, graded)
    page = feedback / student / assignment.name / f"{stem}.html"
    partial = page.parent / ".partial" / page.name
    feedback_html.write(notebook, result, partial, assignment.name)
    os.replace(partial, page)
    partial.parent.rmdir()


def print_protections() -> None:
    """The sandbox's protections in force on this host, and any missing, said once at start."""
    active, missing = sandbox.protections()
    print("sandbox: " + "; ".join(active), file=sys.stderr)
    for item in missing:
        print(f"sandbox: MISSING protection: {item}", file=sys.stderr)


def grade_class(name: str, submissions: Path, limits: Limits, workers: int, db: str, force: bool = False,
                report_path: Path | None = None, feedback: Path | None = None) -> int:
    """Grade every student's submission of assignment ``name`` under ``submissions``; the exit status."""
    assignment = course.get(name)
    table = assignment.parts()
    print_protections()
    feedback = feedback or submissions.resolve().parent / "feedback"
    cache = tempfile.TemporaryDirectory(prefix="nnref-oracles-")
    os.environ.setdefault(oracles.CACHE_ENV, cache.name)
    pool = Pool(limits, workers)
    # nbconvert and nbgrader's templates take a second or two to import: done meanwhile, not after the first result
    threading.Thread(target=importlib.import_module, args=("autograder.grading.feedback_html",), daemon=True).start()
    opening = ThreadPoolExecutor(1, thread_name_prefix="gradebook")
    book = None
    try:
        # the journal is read directly (and a gradebook that cannot be opened is named) before anything runs;
        # nbgrader's Gradebook, which for a new database runs alembic in a subprocess (seconds), opens in the
        # background while the oracles are computed and the first submissions graded
        done = {} if force else gradebook.finished(db, assignment.name)
        book = opening.submit(Book, db, assignment.name, assignment.notebook, table)
        try:
            passed, seconds = warm_oracles(assignment, table)
            print(f"oracles: computed once for {passed} of {len(table)} parts in {seconds:.1f} s", file=sys.stderr)
        except Exception as error:  # the jobs compute what is missing themselves
            print(f"oracles: not precomputed ({type(error).__name__}: {error})", file=sys.stderr)
        students = sorted(p.name for p in submissions.iterdir() if p.is_dir() and not p.name.startswith("."))
        todo = [jobs.make_job(assignment.name, s, submissions / s / assignment.name, limits)
                for s in students if s not in done]
        results = [done[s] for s in students if s in done]
        with tqdm(total=len(todo), unit="submission", desc=f"grading {assignment.name}") as bar:
            for result in pool.map(todo):
                save_feedback(result, assignment, feedback)
                book.result().record(result)
                results.append(result)
                bar.set_postfix_str(f"{result['student']}: {result['status']} {result['score']:g}/"
                                    f"{result['max_score']:g}")
                bar.update()
        book.result()  # opened (or its error raised) even when there was nothing to grade
        if report_path:
            csv_path = report.write(report_path, assignment.name, results)
            print(f"report: {report_path} and {csv_path}", file=sys.stderr)
        print(f"feedback: {feedback}/<student>/{assignment.name}/", file=sys.stderr)
        print(report.summary([r for r in results if r["student"] not in done], len(results) - len(todo)))
        return 0
    finally:
        pool.close()
        if book is not None:
            with contextlib.suppress(BaseException):  # an error opening it is already on its way out
                book.result().close()
        opening.shutdown()
        cache.cleanup()
