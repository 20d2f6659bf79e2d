"""One run of the grading command over a class: oracles, jobs, workers, gradebook, feedback, report.

The command's process is the only writer: each result that comes back from
the pool (or the Dask cluster) goes to its recorder (``recorder.py``), which
writes its graded notebook and feedback page first, then its gradebook row
and journal entry in a transaction, so that a run killed at any moment and
run again grades each submission exactly once.  The command asks for the
next result meanwhile; the feedback page was already rendered where the
submission was graded.
"""

from __future__ import annotations

import collections
import contextlib
import importlib
import io
import os
import re
import sys
import tempfile
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tqdm.auto import tqdm

from .. import course, notebooks, oracles
from . import gradebook, jobs, report, sandbox, submission
from .cluster import Dask
from .gradebook import Book
from .limits import Limits
from .pool import Pool
from .recorder import Recorder

BREAKER = 3  # the first results of a run that, all ``error`` with one cause, stop it: the set-up is broken
EXIT_ERRORS, EXIT_BREAKER = 1, 3  # the exit statuses besides 0 (2 is a bad command line)


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


def signature(cause: str) -> str:
    """The kind of fault a cause names, up to its details (the text before the first ``(`` or ``:``), with
    paths and numbers blanked: the same fault hitting two students has one signature even when its details
    differ ("the kernel could not start (MemoryError ...)" and "(... [Errno 12] ...)": the same set-up)."""
    kind = re.split(r"[(:]", cause, maxsplit=1)[0].strip()
    return re.sub(r"\d+", "N", re.sub(r"/[^\s:;,()'\"|]+", "<path>", kind))


def tripped(first: list[dict]) -> bool:
    """The circuit breaker: the first ``BREAKER`` results of a run all ``error``, with one cause."""
    return (len(first) >= BREAKER and all(r["status"] == jobs.ERROR for r in first)
            and len({signature(r["error"]) for r in first}) == 1)


def plan(assignment, submissions: Path, db: str, force: bool, chosen: list[str]):
    """Who this run grades: ``(jobs' submissions {student: (folder, fingerprint, timestamp, why)}, results kept
    from earlier runs, missing results, refused results)``.

    The class is every student with a folder in ``submissions`` and every
    student of the gradebook (or only ``chosen``).  A submission is graded
    when it is new, its fingerprint (notebook and ``timestamp.txt``) changed
    since it was recorded, it is chosen, or ``force``; an earlier ``error``
    left nothing recorded, so it is graded again.  A student without a
    folder for the assignment is ``missing``.  A folder that is a symbolic link counts as the student's and
    is refused when graded (``ungradable``); a student whose folder name the gradebook cannot store is refused
    here, ``ungradable`` with no feedback and no gradebook row, and asked again by every run.
    """
    done = gradebook.finished(db, assignment.name)
    if chosen:
        students = sorted(set(chosen))
    else:
        folders = {p.name for p in submissions.iterdir() if (p.is_symlink() or p.is_dir())
                   and not p.name.startswith(".")}
        students = sorted(folders | gradebook.enrolled(db))
    todo, kept, missing, refused = {}, [], [], []
    for student in students:
        folder = submissions / student / assignment.name
        if not submission.submitted(folder):
            missing.append(jobs.no_grade({"student": student}, jobs.MISSING,
                                         f"no folder {student}/{assignment.name} in the submissions"))
            continue
        why_not = submission.unstorable(student)
        if why_not:
            refused.append(jobs.result({"student": submission.printable(student)}, assignment.parts(),
                                       jobs.UNGRADABLE, why_not))
            continue
        fingerprint = submission.fingerprint(folder, assignment.notebook)
        previous = done.get(student)
        if force or chosen:
            why = "chosen" if chosen else "forced"
        elif previous is None:
            why = "new"
        elif previous.get("fingerprint") != fingerprint:
            why = "changed"
        else:
            kept.append(previous)
            continue
        todo[student] = (folder, fingerprint, submission.timestamp(folder), why)
    return todo, kept, missing, refused


def explain_plan(todo: dict, kept: list[dict], missing: list[dict], refused: list[dict] = ()) -> str:
    """One line saying what this run grades, refuses and skips, and why (names shown printable)."""
    whys = collections.Counter(why for *_, why in todo.values())
    line = f"to grade: {len(todo)}" + (f" ({', '.join(f'{n} {w}' for w, n in whys.items())})" if todo else "")
    if kept:
        statuses = collections.Counter(r["status"] for r in kept)
        line += (f"; skipped: {len(kept)} unchanged since recorded ("
                 + ", ".join(f"{n} {s}" for s, n in statuses.items()) + "; --student NAME or --force regrades)")
    if missing:
        shown = ", ".join(submission.printable(r["student"]) for r in missing[:10])
        line += f"; missing: {len(missing)} with no folder ({shown}" + (", ...)" if len(missing) > 10 else ")")
    if refused:
        line += f"; refused: {len(refused)} with a folder name the gradebook cannot store (" + \
            ", ".join(r["student"] for r in refused[:10]) + (", ...)" if len(refused) > 10 else ")")
    return line


def print_protections() -> None:
    """The sandbox's protections in force on this host, and any missing, said once at start."""
    active, missing = sandbox.protections()
    print("sandbox: " + "; ".join(active), file=sys.stderr)
    for item in missing:
        print(f"sandbox: MISSING protection: {item}", file=sys.stderr)


def grade_class(name: str, submissions: Path, limits: Limits, workers: int, db: str, force: bool = False,
                report_path: Path | None = None, feedback: Path | None = None,
                students: list[str] | None = None, dask: str | None = None) -> int:
    """Grade the students of ``submissions`` (or only ``students``) on assignment ``name``; the exit status:
    0, or ``EXIT_ERRORS`` when a submission ended in ``error``, or ``EXIT_BREAKER`` when the circuit breaker
    stopped the run.  ``dask``: grade on that Dask cluster (``tcp://HOST:PORT``, or ``local`` for a
    LocalCluster of ``workers`` processes, ``cluster.py``) instead of the local pool."""
    assignment = course.get(name)
    table = assignment.parts()
    if not dask:  # on a cluster, each Dask worker says what its node lacks (cluster.py)
        print_protections()
    feedback = feedback or submissions.resolve().parent / "feedback"
    cache = tempfile.TemporaryDirectory(prefix="nnref-oracles-")
    os.environ.setdefault(oracles.CACHE_ENV, cache.name)
    # the journal is read directly (and a gradebook that cannot be opened is named) before anything runs
    todo, kept, missing, refused = plan(assignment, submissions, db, force, students or [])
    print(explain_plan(todo, kept, missing, refused), file=sys.stderr)
    pool = Dask(dask, limits, workers) if dask and todo else Pool(limits, min(workers, len(todo)))
    # nbconvert and nbgrader's templates take a second or two to import: done meanwhile, not after the first result
    threading.Thread(target=importlib.import_module, args=("autograder.grading.feedback_html",), daemon=True).start()
    opening = ThreadPoolExecutor(1, thread_name_prefix="gradebook")
    book = recorder = None
    try:
        # nbgrader's Gradebook, which for a new database runs alembic in a subprocess (seconds), opens in the
        # background while the oracles are computed and the first submissions graded
        book = opening.submit(Book, db, assignment.name, assignment.notebook, table)
        try:
            if todo:
                passed, seconds = warm_oracles(assignment, table)
                print(f"oracles: computed once for {passed} of {len(table)} parts in {seconds:.1f} s",
                      file=sys.stderr)
        except Exception as error:  # the jobs compute what is missing themselves
            print(f"oracles: not precomputed ({type(error).__name__}: {error})", file=sys.stderr)
        recorder = Recorder(assignment, feedback, book)
        handed, stopped = 0, False
        with tqdm(total=len(todo), unit="submission", desc=f"grading {assignment.name}") as bar:
            for result in pool.map([jobs.make_job(assignment.name, student, folder, limits)
                                    for student, (folder, *_) in todo.items()]):
                _, fingerprint, timestamp, _ = todo[result["student"]]
                result.update(fingerprint=fingerprint, timestamp=timestamp)
                recorder.put(result)
                handed += 1
                shown_score = "" if result["score"] is None else f" {result['score']:g}/{result['max_score']:g}"
                bar.set_postfix_str(f"{submission.printable(result['student'])}: {result['status']}{shown_score}")
                bar.update()
                # the first results are recorded before the next is asked for: a set-up that cannot grade, or
                # cannot record, anyone stops the run there
                if handed == BREAKER and tripped(recorder.wait()):
                    stopped = True
                    break
            graded_now = recorder.close()
        book.result()  # opened (or its error raised) even when there was nothing to grade
        if stopped:
            pool.close()
            print(f"\nstopped: the first {BREAKER} submissions all ended in error with the same cause, which is "
                  f"the grading set-up's, not the students':\n  {graded_now[0]['error']}\n"
                  "Nothing was recorded for anyone. Fix the set-up and run the same command again.", file=sys.stderr)
        if recorder.batches:
            print(f"recorded: {len(graded_now)} results in {recorder.batches} batches, "
                  f"{1000 * recorder.seconds / len(graded_now):.1f} ms per result (feedback files, gradebook "
                  f"rows and journal), of which {1000 * recorder.cpu_seconds / len(graded_now):.1f} ms on a CPU",
                  file=sys.stderr)
        results = graded_now + refused + kept + missing
        if report_path:
            csv_path = report.write(report_path, assignment.name, results)
            print(f"report: {report_path} and {csv_path}", file=sys.stderr)
        print(f"feedback: {feedback}/<student>/{assignment.name}/", file=sys.stderr)
        print(report.summary(graded_now + refused, kept, missing, unstarted=len(todo) - len(graded_now)))
        if stopped:
            return EXIT_BREAKER
        return EXIT_ERRORS if any(r["status"] == jobs.ERROR for r in graded_now) else 0
    finally:
        pool.close()
        if recorder is not None:  # what was graded before a fault or an interruption is still recorded
            with contextlib.suppress(BaseException):
                recorder.close()
        if book is not None:
            with contextlib.suppress(BaseException):  # an error opening it is already on its way out
                book.result().close()
        opening.shutdown()
        cache.cleanup()
