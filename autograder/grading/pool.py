"""The command's pool of grading worker processes: jobs in, results out as each finishes.

Each :class:`Worker` is a ``worker.py`` process fed one job at a time and
replaced whenever it dies or runs past its budget; that job alone ends in
``error`` (the student's code runs in a jailed kernel, under limits of its
own: a worker that dies or hangs is the grader's fault), and the next run
grades it again.
:meth:`Pool.map` is the whole interface the command uses, so that another
executor of jobs (a cluster engine) can stand in for the pool.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator

from . import jobs
from .limits import Limits

WORKER = "autograder.grading.worker"  # by name: the command's process need not import what grading imports
READ_SIZE = 1 << 20
STDERR_LINES = 3  # of a worker that died, quoted in the failed job's error
# A worker's checks work on small arrays: BLAS threads and per-thread malloc arenas would only reserve
# address space, which counts against the worker memory limit and grows with the machine's cores.
WORKER_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2"}


def failure(job: dict, cause: str, detail: str = "") -> dict:
    """The ``error`` result of a job that the pool could not get graded."""
    return jobs.no_grade(job, jobs.ERROR, cause, detail)


class Worker:
    """A grading process fed one job at a time; replaced whenever it dies or hangs."""

    def __init__(self, limits: Limits):
        self.proc, self.limits = None, limits
        self.log = tempfile.TemporaryFile()
        # the pool's thread and the command's clean-up may both stop a worker as a run ends
        self._stopping = threading.Lock()
        self._start()  # its imports and first kernel get under way while the command prepares

    def _start(self) -> None:
        read, write = os.pipe()
        # the worker's temporary folder, which holds its scratch spaces: removed in _stop, however it ended
        self.scratch = tempfile.mkdtemp(prefix="nnref-worker-")
        self.proc = subprocess.Popen([sys.executable, "-m", WORKER, "--serve", str(write),
                                      json.dumps(self.limits.to_dict())],
                                     stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self.log,
                                     pass_fds=(write,), start_new_session=True,
                                     env={**os.environ, **WORKER_ENV, "TMPDIR": self.scratch})
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
            shutil.rmtree(self.scratch, ignore_errors=True)

    def _tail(self) -> str:
        self.log.seek(0)
        lines = self.log.read().decode(errors="replace").strip().splitlines()[-STDERR_LINES:]
        self.log.seek(0)
        self.log.truncate()
        return " | ".join(lines)

    def run(self, job: dict, budget: float) -> dict:
        """Grade ``job``; a worker that dies or runs past ``budget`` seconds costs this job alone."""
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
                return failure(job, f"a grading worker took longer than its budget of {budget:.0f} s for one "
                                    "submission and was stopped", self._tail())
            chunk = os.read(self.replies, READ_SIZE)
            if not chunk:
                code = self.proc.wait()
                self.stop()
                return failure(job, f"a grading worker ended with code {code} before it sent a result",
                               self._tail())
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)


class Pool:
    """``size`` worker processes, started at once so that their imports and first kernels get under way."""

    def __init__(self, limits: Limits, size: int):
        self.limits = limits
        self.cancelled = threading.Event()  # set by close(): the jobs not yet started are dropped
        self.workers = [Worker(limits) for _ in range(size)]

    def map(self, todo: Iterable[dict]) -> Iterator[dict]:
        """Yield each job's result as it finishes, one job at a time per worker; the workers end with it."""
        todo = list(todo)
        jobs_left: queue.Queue = queue.Queue()
        for job in todo:
            jobs_left.put(job)
        done: queue.Queue = queue.Queue()
        budget = self.limits.job_budget_s

        def work(worker: Worker):
            try:
                while not self.cancelled.is_set():
                    try:
                        job = jobs_left.get_nowait()
                    except queue.Empty:
                        return
                    try:
                        done.put(worker.run(job, budget))
                    except Exception as error:  # the command's own failure: this job ends in error, the rest go on
                        worker.stop()
                        done.put(failure(job, f"the grading pool raised {type(error).__name__}: {error}"))
            finally:
                worker.stop(graceful=True)

        for idle in self.workers[len(todo):]:
            idle.stop(graceful=True)
        threads = [threading.Thread(target=work, args=(w,), daemon=True) for w in self.workers[:len(todo)]]
        for thread in threads:
            thread.start()
        for _ in todo:
            yield done.get()
        for thread in threads:  # each stops its worker gracefully: the run ends with no process left behind
            thread.join()

    def close(self) -> None:
        """Stop every worker (those still running when a run is interrupted or stopped) and start no more jobs."""
        self.cancelled.set()
        for w in self.workers:
            w.stop(graceful=True)
