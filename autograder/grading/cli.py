"""``python -m autograder grade ASSIGNMENT --submissions DIR``: grade a class, safely and in parallel."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import io
import json
import os
import queue
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tqdm.auto import tqdm

from .. import course, oracles
from . import gradebook, report, sandbox
from . import job as jobs
from .gradebook import Book


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser("grade", help="grade every submission of an assignment")
    g.add_argument("assignment", help="e.g. 01_neurons")
    g.add_argument("--submissions", required=True, type=Path, help="DIR/<student>/<assignment>/<notebook>.ipynb")
    g.add_argument("--workers", type=int, default=2, help="submissions graded at once (default 2)")
    g.add_argument("--db", default="gradebook.db", help="SQLite file or SQLAlchemy URL (default gradebook.db)")
    g.add_argument("--report", type=Path, help="write the JSON report here, and a CSV beside it")
    g.add_argument("--timeout", type=float, default=120.0, help="wall seconds per notebook (default 120)")
    g.add_argument("--memory", type=int, default=2048, help="MB of address space per kernel (default 2048)")
    g.add_argument("--force", action="store_true", help="regrade submissions already in the gradebook")
    g.add_argument("--feedback", type=Path, help="feedback HTML goes to FEEDBACK/<student>/<assignment>/ and the "
                   "graded notebooks beside it in autograded/ (default: beside the submissions folder, as "
                   "nbgrader lays out a course)")
    return p


def _positive(args, p) -> None:
    for name in ("workers", "timeout", "memory"):
        if getattr(args, name) <= 0:
            p.error(f"--{name} must be positive, got {getattr(args, name)}")
    if not args.submissions.is_dir():
        p.error(f"--submissions {args.submissions} is not a directory")


class Worker:
    """A grading process (``job.serve``) fed one job at a time; replaced whenever it dies or hangs."""

    def __init__(self, limits: sandbox.Limits):
        self.proc, self.limits = None, limits
        self.log = tempfile.TemporaryFile()
        # the pool's thread and the command's clean-up may both stop a worker as a run ends
        self._stopping = threading.Lock()
        self._start()  # its imports and first kernel get under way while the command prepares

    def _start(self) -> None:
        read, write = os.pipe()
        self.proc = subprocess.Popen([sys.executable, "-m", "autograder.grading.job", "--serve", str(write),
                                      json.dumps(dataclasses.asdict(self.limits))],
                                     stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self.log,
                                     pass_fds=(write,), start_new_session=True)
        os.close(write)
        self.replies, self.buffer = read, b""

    def stop(self, graceful: bool = False) -> None:
        """End the worker: ``graceful``, by closing its input so that it shuts its spare kernel down itself
        (a few seconds at most), else at once (a kernel it launched then follows its launcher's parent).
        Safe to call from several threads at once: the first stops it, the others wait and find it stopped."""
        with self._stopping:
            self._stop(graceful)

    def _stop(self, graceful: bool) -> None:
        if self.proc is not None:
            if graceful and self.proc.poll() is None:
                with contextlib.suppress(OSError):
                    self.proc.stdin.close()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=5)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            os.close(self.replies)
            self.proc = None

    def _tail(self) -> str:
        self.log.seek(0)
        lines = self.log.read().decode(errors="replace").strip().splitlines()[-3:]
        self.log.seek(0)
        self.log.truncate()
        return " | ".join(lines)

    def run(self, job: dict, budget: float) -> dict:
        """Grade ``job``; a worker that dies or runs past ``budget`` costs this job alone."""
        if self.proc is None or self.proc.poll() is not None:
            self.stop()
            self._start()
        try:
            self.proc.stdin.write(json.dumps(job).encode() + b"\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass  # it died: reported below
        deadline = time.monotonic() + budget
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.replies], [], [], left)[0]:
                self.stop()
                return _failure(job, f"timeout: grading took longer than {budget:.0f} s")
            chunk = os.read(self.replies, 1 << 20)
            if not chunk:
                code = self.proc.wait()
                self.stop()
                return _failure(job, f"the grading process ended with code {code} and no result "
                                     f"(killed by the student's code?) {self._tail()}".strip())
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)


def run_all(todo: list[dict], pool: list[Worker], budget: float):
    """Yield each job's result as it finishes, one job at a time per worker of ``pool``."""
    jobs_left: queue.Queue = queue.Queue()
    for job in todo:
        jobs_left.put(job)
    done: queue.Queue = queue.Queue()

    def work(worker):
        try:
            while True:
                try:
                    job = jobs_left.get_nowait()
                except queue.Empty:
                    return
                try:
                    done.put(worker.run(job, budget))
                except Exception as error:  # the command's own failure: this job fails, the rest go on
                    worker.stop()
                    done.put(_failure(job, f"internal error of the grader: {type(error).__name__}: {error}"))
        finally:
            worker.stop(graceful=True)

    for worker in pool[len(todo):]:
        worker.stop(graceful=True)
    threads = [threading.Thread(target=work, args=(worker,), daemon=True) for worker in pool[:len(todo)]]
    for thread in threads:
        thread.start()
    for _ in todo:
        yield done.get()
    for thread in threads:  # each stops its worker gracefully: the run ends with no process left behind
        thread.join()


def _failure(job: dict, message: str) -> dict:
    table = importlib.import_module(course.get(job["assignment"]).tests_module).PARTS
    return jobs._result(job, table, jobs.FAILED, message)


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


def warm_oracles(assignment, table) -> tuple[int, float]:
    """Compute the assignment's oracles once, here in the trusted process, before any student.

    The instructor's solution cells run in this process (they are the
    course's own code) and every part's check runs on them, which fills the
    oracle cache (``AUTOGRADER_ORACLE_CACHE``, a folder for this run): the
    grading jobs then read torch.autograd's answers from disk instead of each
    importing torch.  Returns (parts that passed, seconds).
    """
    start = time.monotonic()
    source = json.loads(assignment.source().read_text())
    names = jobs.test_arguments(source)
    namespace: dict = {"__name__": "__solution__"}
    passed = 0
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for cell in source["cells"]:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if cell["cell_type"] == "code" and not (meta.get("grade") and not meta.get("solution")):
                exec(compile("".join(cell["source"]), f"<{assignment.name} solution>", "exec"), namespace)
        for gid, part in table.items():
            if names.get(gid) in namespace:
                part.check(namespace[names[gid]])
                passed += 1
    return passed, time.monotonic() - start


def grade(args) -> int:
    assignment = course.get(args.assignment)
    table = importlib.import_module(assignment.tests_module).PARTS
    limits = sandbox.Limits(memory_mb=args.memory, notebook_timeout_s=args.timeout,
                            cell_timeout_s=min(30.0, args.timeout), cpu_s=int(args.timeout) + 10)
    active, missing = sandbox.protections()
    print("sandbox: " + "; ".join(active), file=sys.stderr)
    for item in missing:
        print(f"sandbox: MISSING protection: {item}", file=sys.stderr)
    feedback = args.feedback or args.submissions.resolve().parent / "feedback"
    cache = tempfile.TemporaryDirectory(prefix="nnref-oracles-")
    os.environ.setdefault(oracles.CACHE_ENV, cache.name)
    pool = [Worker(limits) for _ in range(args.workers)]
    # nbconvert and nbgrader's templates take a second or two to import: done meanwhile, not after the first result
    threading.Thread(target=importlib.import_module, args=("autograder.grading.feedback_html",), daemon=True).start()
    opening = ThreadPoolExecutor(1, thread_name_prefix="gradebook")
    book = None
    try:
        # the journal is read directly (and a gradebook that cannot be opened is named) before anything runs;
        # nbgrader's Gradebook, which for a new database runs alembic in a subprocess (seconds), opens in the
        # background while the oracles are computed and the first submissions graded
        done = {} if args.force else gradebook.finished(args.db, assignment.name)
        book = opening.submit(Book, args.db, assignment.name, assignment.notebook, table)
        try:
            passed, seconds = warm_oracles(assignment, table)
            print(f"oracles: computed once for {passed} of {len(table)} parts in {seconds:.1f} s", file=sys.stderr)
        except Exception as error:  # the jobs compute what is missing themselves
            print(f"oracles: not precomputed ({type(error).__name__}: {error})", file=sys.stderr)
        students = sorted(p.name for p in args.submissions.iterdir() if p.is_dir() and not p.name.startswith("."))
        todo = [jobs.make_job(assignment.name, s, args.submissions / s / assignment.name, limits)
                for s in students if s not in done]
        budget = 2 * limits.notebook_timeout_s + 90  # the notebook, the grader's calls, start and stop
        results = [done[s] for s in students if s in done]
        with tqdm(total=len(todo), unit="submission", desc=f"grading {assignment.name}") as bar:
            for result in run_all(todo, pool, budget):
                save_feedback(result, assignment, feedback)
                book.result().record(result)
                results.append(result)
                bar.set_postfix_str(f"{result['student']}: {result['status']} {result['score']:g}/"
                                    f"{result['max_score']:g}")
                bar.update()
        book.result()  # opened (or its error raised) even when there was nothing to grade
        if args.report:
            table_path = report.write(args.report, assignment.name, results)
            print(f"report: {args.report} and {table_path}", file=sys.stderr)
        print(f"feedback: {feedback}/<student>/{assignment.name}/", file=sys.stderr)
        print(report.summary([r for r in results if r["student"] not in done], len(results) - len(todo)))
        return 0
    finally:
        for worker in pool:
            worker.stop(graceful=True)
        if book is not None:
            with contextlib.suppress(BaseException):  # an error opening it is already on its way out
                book.result().close()
        opening.shutdown()
        cache.cleanup()


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    _positive(args, p)
    try:
        course.get(args.assignment)
    except (ValueError, KeyError, FileNotFoundError) as error:
        p.error(f"unknown assignment {args.assignment!r}: {error}")
    # nbgrader runs ``alembic`` from PATH when it creates a gradebook
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
    start = time.monotonic()
    code = grade(args)
    print(f"done in {time.monotonic() - start:.1f} s", file=sys.stderr)
    return code
