"""The command's one writer: each result's feedback files, then its gradebook row and journal entry.

The command hands every result that comes back from the workers to a
:class:`Recorder` and asks at once for the next one; the recorder's thread
takes the results off its queue in batches (every result that arrived while
the previous batch was being written, up to :data:`MAX_BATCH`).  For each
result of a batch it writes the graded notebook and the feedback page
(``run.save_feedback``), then records the whole batch in one transaction of
the gradebook (``Book.record_many``).  When that transaction fails, each
result is recorded again alone (``run.record``), so that a fault costs only
the result that has it: a result the grader cannot record is ``error``, with
its files removed.

It is still one writer, in the command's process: a run killed at any moment
leaves each submission either recorded (files and row) or not (at most its
files, which the next run rewrites), as before.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import threading
import time
import traceback
from concurrent.futures import Future
from pathlib import Path

from . import jobs, submission

MAX_BATCH = 64  # results recorded in one transaction at most
_STOP = None


class Recorder:
    """A thread recording the results :meth:`put` hands it, in batches; ``book``: the future of the
    gradebook (``gradebook.Book``), which may still be opening."""

    def __init__(self, assignment, feedback: Path, book: Future):
        self.assignment, self.feedback, self.book = assignment, feedback, book
        self.recorded: list[dict] = []  # the results as recorded (or made ``error``), in the order recorded
        self.seconds = 0.0  # spent writing files and rows, the first batch's wait for the gradebook excluded
        self.cpu_seconds = 0.0  # of which the thread ran on a CPU (the rest: waiting for the disk, or for a CPU)
        self.batches = 0
        self.failure: BaseException | None = None  # what stopped the thread (the gradebook cannot be opened)
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)
        self._thread.start()

    def put(self, result: dict) -> None:
        """Record ``result`` (a worker's, with its ``notebook`` and ``page``) in the background."""
        self.raise_failure()
        self._queue.put(result)

    def wait(self) -> list[dict]:
        """Wait until every result handed so far is recorded; the results recorded."""
        self._queue.join()
        self.raise_failure()
        return self.recorded

    def close(self) -> list[dict]:
        """Record what is queued, stop the thread; the results recorded."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()
        self.raise_failure()
        return self.recorded

    def raise_failure(self) -> None:
        if self.failure is not None:
            raise self.failure

    def _run(self) -> None:
        stop = False
        while not stop:
            batch = [self._queue.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = _STOP in batch
            results = [r for r in batch if r is not _STOP]
            try:
                if results and self.failure is None:
                    book = self.book.result()  # opened in the background since the command started
                    started, cpu = time.perf_counter(), time.thread_time()
                    self.recorded += record_batch(results, self.assignment, self.feedback, book)
                    self.seconds += time.perf_counter() - started
                    self.cpu_seconds += time.thread_time() - cpu
                    self.batches += 1
            except BaseException as error:  # noqa: BLE001 - the gradebook cannot be opened: the command says so
                self.failure = error
            finally:
                for _ in batch:
                    self._queue.task_done()


def save_feedback(result: dict, assignment, feedback: Path) -> list[Path]:
    """The graded notebook (``autograded/``) and its feedback page (``feedback/``) of one result, each with
    the submission's ``timestamp.txt`` beside it as nbgrader copies it (``release_feedback`` reads it
    there); the paths written.

    Written before the gradebook row, each file by an atomic rename: a run
    killed in between leaves the submission ungraded and a rerun rewrites
    both, so a recorded grade always has its feedback.
    """
    from . import feedback_html  # imported in the background since the command started

    notebook = result.get("notebook")
    student, stem = result["student"], Path(assignment.notebook).stem
    graded_dir = feedback.parent / "autograded" / student / assignment.name
    page_dir = feedback / student / assignment.name
    written = []

    def replace(path: Path, text: str | list[bytes]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        with partial.open("wb") as f:
            f.writelines([text.encode("utf-8", errors="replace")] if isinstance(text, str) else text)
        os.replace(partial, path)
        written.append(path)

    try:
        if notebook is not None:
            replace(graded_dir / assignment.notebook, json.dumps(notebook))
        # the page the grading process rendered (grader.page), else rendered here
        page = result.get("page") or feedback_html.render(notebook, result, stem, assignment.name)
        replace(page_dir / f"{stem}.html", feedback_html.finish(page))
        if result.get("timestamp") is not None:
            for folder in ([graded_dir] if notebook is not None else []) + [page_dir]:
                replace(folder / submission.TIMESTAMP, result["timestamp"] + "\n")
    except BaseException:
        remove(written)
        raise
    return written


def record(result: dict, assignment, feedback: Path, book) -> dict:
    """Feedback, then the gradebook row and journal entry, of a result the student's work earned; the result,
    or an ``error`` one (and no files left behind) when the grader cannot write them (a full disk, the
    gradebook gone, a page it fails to build)."""
    result, notebook, written = _save(result, assignment, feedback)
    return result if written is None else _row(result, notebook, written, book)


def record_batch(results: list[dict], assignment, feedback: Path, book) -> list[dict]:
    """Record ``results``: the files of each, then every row in one transaction, else each alone."""
    done, pending = [], []
    for result in results:
        result, notebook, written = _save(result, assignment, feedback)
        if written is None:
            done.append(result)
        else:
            pending.append((result, notebook, written))
    if not pending:
        return done
    try:
        book.record_many([(result, notebook) for result, notebook, _ in pending])
        return done + [result for result, _, _ in pending]
    except Exception:  # noqa: BLE001 - whose fault it is, each alone tells
        return done + [_row(result, notebook, written, book) for result, notebook, written in pending]


def _save(result: dict, assignment, feedback: Path) -> tuple[dict, dict | None, list[Path] | None]:
    """``(result, its notebook, the files written)``; no files (None) when there is no row to write: a result
    that is not recorded (``error``, ``missing``), or the ``error`` result of one whose files cannot be
    written."""
    notebook, page = result.pop("notebook", None), result.pop("page", None)
    if result["status"] not in jobs.RECORDED:
        return result, None, None
    try:
        written = save_feedback({**result, "notebook": notebook, "page": page}, assignment, feedback)
    except Exception as error:  # noqa: BLE001 - a full disk, a page that cannot be built: this result's error
        return _unrecorded(result, error), None, None
    return result, notebook, written


def _row(result: dict, notebook: dict | None, written: list[Path], book) -> dict:
    try:
        book.record(result, notebook)
        return result
    except Exception as error:  # noqa: BLE001 - the gradebook gone or full: this result's error
        remove(written)
        return _unrecorded(result, error)


def _unrecorded(result: dict, error: Exception) -> dict:
    return jobs.no_grade(result, jobs.ERROR, f"the grade could not be recorded: {type(error).__name__}: "
                         f"{' '.join(str(error).split())[:300]}", traceback.format_exc())


def remove(paths: list[Path]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink()
