"""Grading on a Dask cluster: the pool's ``map(jobs)`` and ``close()``, with the jobs graded on Dask workers.

``python -m autograder grade ... --dask tcp://HOST:PORT`` grades on an existing
cluster; ``--dask local --workers N`` starts a ``LocalCluster`` of N worker
processes (one thread each).  The command stays the only writer of the
gradebook, the journal and the feedback: :class:`Dask` stands in for
:class:`.pool.Pool` and yields plain-data results as they finish.

A Dask worker needs the course's Python and packages, not the course
directory: the coordinator reads each submission itself (the same checks as
``submission.py``: no link followed, the size limit) and the job carries the
notebook's bytes, the names of the other files in its folder, and, once per
run for every worker, the instructor's source and release notebooks and the
oracles that the command computed (``run.warm_oracles``).  On the worker,
:func:`grade_on_worker` writes the bytes into a private temporary folder and
hands the job to the very grading process the local pool runs
(``pool.Worker``: ``worker.py``, its jail, limits and kernels), kept warm
between jobs.

Faults: a task that raises, or that Dask gives up on after its workers died
(``KilledWorker``, past the scheduler's ``allowed-failures``), is that job's
``error`` (no grade; the next run grades it again).  A worker lost mid-job
costs nothing else: Dask runs the task again elsewhere, and each job's
future yields one result, recorded once.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import jobs, submission
from .limits import Limits

LOCAL = "local"  # --dask local: a LocalCluster on this machine
WINDOW_PER_THREAD = 4  # jobs in flight per worker thread: enough to keep every worker busy, not the whole class
WAIT_FOR_WORKERS_S = 120  # for the first worker of an existing cluster (a batch job may still be starting)
# A LocalCluster's own upkeep, cut to what grading needs: a Dask worker's statistical profiler samples every
# thread's stack every 10 ms, its event loop is timed every 20 ms and its host measured every 500 ms.  Idle,
# two workers and the scheduler took 18% of a core so (0.2-0.26 CPU-s in 10 s with these settings, 1.8-1.9
# without, measured on the 2-core machine the benchmarks run on), CPU the graders on the same cores then lack.
LOCAL_CONFIG = {
    "distributed.worker.multiprocessing-method": "forkserver",  # each worker forks from one that imported once
    "distributed.worker.profile.enabled": False,  # profiles nobody reads
    "distributed.admin.tick.interval": "500ms",  # only warns of a blocked event loop
    "distributed.admin.system-monitor.interval": "5s",  # the dashboard's CPU and memory plots (no dashboard)
    "distributed.admin.system-monitor.gil.enabled": False,
    "distributed.worker.memory.monitor-interval": "1s",  # each grading process has its own memory limit
}
PROBE = ("import json; from autograder.grading import sandbox; "
         "print(json.dumps(sandbox.protections()))")


# ---------------------------------------------------------------- on the coordinator

class ClusterError(SystemExit):
    """The Dask cluster cannot be reached or has no workers: the command ends with this message (status 1)."""


def read_submission(job: dict, notebook_name: str) -> dict:
    """``job`` with the submission read here, as plain data: ``submitted`` (the notebook as JSON text) and
    ``extra_files``, or ``refused`` (why it cannot be graded: the grader makes it ``ungradable``).  Read by
    ``submission.load``, as the local pool's workers read it: from the folder itself, no link followed, at most
    ``notebook_mb``; the worker loads the text again through the same function."""
    folder = Path(job["folder"])
    packed = {k: v for k, v in job.items() if k != "folder"}
    try:
        notebook = submission.load(folder, notebook_name, jobs.limits_of(job).notebook_mb)
    except ValueError as error:
        packed["refused"] = str(error)
        return packed
    packed["extra_files"] = submission.extra_files(folder, notebook_name)
    packed["submitted"] = json.dumps(notebook)
    return packed


def shared_data(assignment_name: str) -> dict:
    """What every job of a run needs besides its submission: the instructor's notebooks and the oracles the
    command computed once (the ``.npz`` files of its oracle cache, base64)."""
    from .. import course, notebooks, oracles

    assignment = course.get(assignment_name)
    found = {}
    folder = os.environ.get(oracles.CACHE_ENV)
    if folder and Path(folder).is_dir():
        found = {p.name: base64.b64encode(p.read_bytes()).decode("ascii")
                 for p in sorted(Path(folder).glob("*.npz"))}
    return {"instructor": {"notebook": assignment.notebook, "source": notebooks.read(assignment.source()),
                           "release": notebooks.read(assignment.release())},
            "oracles": found}


class Dask:
    """Jobs graded on a Dask cluster: ``address`` (``tcp://HOST:PORT``) or ``local`` for a LocalCluster of
    ``workers`` processes, connected in the background while the command prepares."""

    def __init__(self, address: str, limits: Limits, workers: int):
        self.address, self.limits, self.workers = address, limits, workers
        self.client = self.cluster = None
        self.found: dict = {}  # Dask worker address -> (host, (active, missing protections))
        self.futures: dict = {}  # future -> job, of the jobs in flight
        self.holding: list[float] = []  # seconds the command kept each result before asking for the next
        self._closed = False
        if address == LOCAL:
            from .run import print_protections

            print_protections()
        self._connecting = ThreadPoolExecutor(1, thread_name_prefix="dask-connect")
        self._connected = self._connecting.submit(self._connect)

    def _connect(self):
        from distributed import Client, LocalCluster

        if self.address == LOCAL:
            import dask

            with dask.config.set(LOCAL_CONFIG):  # the workers' nannies hand it to the worker processes
                self.cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                            dashboard_address=None)
            self.client = Client(self.cluster)
        else:
            self.client = Client(self.address, timeout="30s")
            self.client.wait_for_workers(1, timeout=WAIT_FOR_WORKERS_S)
        # each Dask worker starts its grading process now, while the command computes the oracles; on another
        # machine it also probes what its node can build of the jail (a LocalCluster's is this machine's)
        self.found = self.client.run(start_worker, self.limits.to_dict(), self.address != LOCAL)
        return self.client

    def connect(self):
        """The Dask client, once connected and every worker's grading process started."""
        try:
            return self._connected.result()
        except Exception as error:  # no scheduler there, a bad address, no worker came
            raise ClusterError(f"the Dask cluster at {self.address} cannot be used: {type(error).__name__}: "
                               f"{error}; nothing was graded") from error

    def _say_protections(self) -> None:
        """What each Dask worker's node lacks of the sandbox, each missing protection printed once per worker;
        a LocalCluster runs here: this machine's, as the local pool prints them."""
        found = self.found
        if not found:
            raise ClusterError(f"the Dask cluster at {self.address} has no workers; nothing was graded")
        if self.address == LOCAL:  # said at start, in __init__
            return
        whole = [address for address, (_, (_, missing)) in found.items() if not missing]
        if whole:
            print(f"sandbox: every protection in force on {len(whole)} of {len(found)} Dask workers",
                  file=sys.stderr)
        for address, (host, (_, missing)) in sorted(found.items()):
            for item in missing:
                print(f"sandbox: MISSING protection on Dask worker {address} ({host}): {item}", file=sys.stderr)

    def map(self, todo: Iterable[dict]) -> Iterator[dict]:
        """Yield each job's result as it finishes (each job's once, whatever Dask retried); at most
        ``WINDOW_PER_THREAD`` jobs per worker thread are in flight, so the coordinator never holds the whole
        class's notebooks at once."""
        from distributed import as_completed

        todo = list(todo)
        if not todo:
            return
        client = self.connect()
        self._say_protections()
        data = shared_data(todo[0]["assignment"])
        name = data["instructor"]["notebook"]
        [shared] = client.scatter([data], broadcast=True, hash=False)
        threads = max(1, sum(client.nthreads().values()))
        waiting = iter(todo)
        running = as_completed()
        unread: list[dict] = []  # results made here: submissions the command could not read

        def submit_next() -> bool:
            for job in waiting:
                try:
                    packed = read_submission(job, name)
                except OSError as error:  # the submission is there but the command cannot read it
                    unread.append(jobs.no_grade(job, jobs.ERROR, f"the submission cannot be read: "
                                                f"{type(error).__name__}: {error.strerror}"))
                    continue
                future = client.submit(grade_on_worker, packed, shared, pure=False)
                self.futures[future] = job
                running.add(future)
                return True
            return False

        for _ in range(min(len(todo), WINDOW_PER_THREAD * threads)):
            submit_next()
        try:
            while unread or not running.is_empty():
                if unread:
                    result = unread.pop(0)
                else:
                    future = next(running)
                    result = self.outcome(future, self.futures.pop(future))
                    submit_next()
                started = time.perf_counter()
                yield result
                self.holding.append(time.perf_counter() - started)
        finally:
            self._cancel()

    @staticmethod
    def outcome(future, job: dict) -> dict:
        """The result of a finished future: the worker's, or ``error`` when the task raised or was lost."""
        try:
            result = future.result()
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as error:  # noqa: BLE001 - KilledWorker, a task that raised, a cancelled future
            try:
                said = " ".join(str(error).split())[:300]
            except Exception:  # noqa: BLE001 - an exception that cannot say itself is still this job's error
                said = ""
            result = jobs.no_grade(job, jobs.ERROR, f"the Dask cluster gave the job up: {type(error).__name__}: "
                                   f"{said}", object.__repr__(error))
            result["worker"] = "dask"
        if result.get("student") != job["student"]:  # never another job's result under this one's name
            result = jobs.no_grade(job, jobs.ERROR, "the Dask worker returned a result for another job")
            result["worker"] = "dask"
        return result

    def _cancel(self) -> None:
        if self.futures and self.client is not None:
            with contextlib.suppress(Exception):
                self.client.cancel(list(self.futures))
        self.futures.clear()

    def close(self) -> None:
        """Cancel the jobs in flight, stop the workers' grading processes, disconnect (and stop a LocalCluster)."""
        if self._closed:
            return
        self._closed = True
        if self.holding:  # handing each to the recorder (recorder.py), which reports its own cost
            print(f"dask: the command kept each result {1000 * statistics.median(self.holding):.2f} ms before asking "
                  f"for the next (median; mean {1000 * statistics.fmean(self.holding):.2f} ms, the run's first "
                  f"results waiting until recorded; {len(self.holding)} results)", file=sys.stderr)
        with contextlib.suppress(Exception):
            self._connected.result()
        self._connecting.shutdown()
        self._cancel()
        if self.client is not None:  # the workers stop their grading processes (an existing cluster stays up)
            with contextlib.suppress(Exception):
                self.client.run(stop_workers)
            with contextlib.suppress(Exception):
                self.client.close()
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.close()


# ---------------------------------------------------------------- on a Dask worker

class Node:
    """This Dask worker process's grading state: its oracle folder and its warm grading processes.

    Its files (oracles, the jobs' submissions) lie in a folder inside the Dask worker's own local directory,
    which Dask removes when the worker ends and purges when it finds it left by a worker that was killed.  The
    grading processes keep their scratch spaces in the system's temporary folder, as in the local pool: the
    kernels' socket paths must stay short."""

    def __init__(self, directory: str | None):
        from .. import oracles

        self.lock = threading.Lock()
        self.idle: list = []  # pool.Worker, each started with the limits it was started for
        self.folder = Path(tempfile.mkdtemp(prefix="nnref-dask-", dir=directory))
        self.oracles = self.folder / "oracles"
        self.oracles.mkdir()
        atexit.register(shutil.rmtree, self.folder, True)
        # before the first grading process starts: they read the oracles the coordinator sent from here
        os.environ[oracles.CACHE_ENV] = str(self.oracles)

    def take(self, limits: Limits):
        from .pool import Worker

        with self.lock:
            for i, worker in enumerate(self.idle):
                if worker.limits == limits:
                    return self.idle.pop(i)
        return Worker(limits)

    def give(self, worker) -> None:
        with self.lock:
            self.idle.append(worker)

    def stop(self) -> None:
        with self.lock:
            idle, self.idle = self.idle, []
        for worker in idle:
            worker.stop(graceful=True)

    def add_oracles(self, found: dict) -> None:
        for name, data in found.items():
            path = self.oracles / Path(name).name
            if not path.exists():
                partial = path.with_name(path.name + ".partial")
                partial.write_bytes(base64.b64decode(data))
                os.replace(partial, path)


_node: Node | None = None
_node_lock = threading.Lock()


def node(dask_worker=None) -> Node:
    """This process's :class:`Node`, made on first use in the Dask worker ``dask_worker`` (by default the one
    running the current task)."""
    global _node
    with _node_lock:
        if _node is None:
            if dask_worker is None:
                from distributed import get_worker

                dask_worker = get_worker()
            _node = Node(getattr(dask_worker, "local_directory", None))
        return _node


def start_worker(limits: dict, probe: bool = True, dask_worker=None) -> tuple[str, tuple[list[str], list[str]]]:
    """On each Dask worker (``client.run``, in its event loop's thread, which lives as long as the worker and so
    keeps the grading process, which dies with the thread that started it): start a grading process now, so
    that its imports and first kernel get under way; (host name, the node's (active, missing) protections,
    probed in a fresh process as the grading process sees them, unless not ``probe``); ``dask_worker``: given
    by ``client.run``."""
    here = node(dask_worker)
    chosen = Limits(**limits)
    if not any(w.limits == chosen for w in here.idle):
        here.give(here.take(chosen))
    if not probe:
        return socket.gethostname(), ([], [])
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    try:
        active, missing = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        active, missing = [], [f"unknown: the protections probe failed: {done.stderr.strip()[-300:]}"]
    return socket.gethostname(), (active, missing)


def stop_workers() -> None:
    """On each Dask worker: stop its idle grading processes (the command's run is over)."""
    if _node is not None:
        _node.stop()


def grade_on_worker(job: dict, shared: dict) -> dict:
    """The Dask task: grade one packed job here, through the local pool's grading process; a plain-data result
    with ``worker``, this Dask worker's address."""
    from distributed import get_worker

    here = node()
    here.add_oracles(shared["oracles"])
    limits = jobs.limits_of(job)
    name = shared["instructor"]["notebook"]
    work = Path(tempfile.mkdtemp(prefix="job-", dir=here.folder))
    try:
        folder = work / "submission" / job["assignment"]
        folder.mkdir(parents=True)
        if "submitted" in job:
            fd = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(job["submitted"])
        local = {k: v for k, v in job.items() if k != "submitted"}
        local.update(folder=str(folder), instructor=shared["instructor"])
        worker = here.take(limits)
        try:
            result = worker.run(local, limits.job_budget_s)
        finally:
            here.give(worker)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["worker"] = get_worker().address
    return result

