"""The grading command on Dask distributed (``--dask``), with real processes on loopback.

A ``dask scheduler`` and two ``dask worker`` processes are started for this
module, each worker in an empty folder and importing the course's packages
from a copy that holds nothing else (``autograder/`` and ``nnref/``: no
``solutions/``, no ``exercises/``, no submissions, no gradebook), so that a
job graded there has only what it carries.  One class of 40 submissions
(honest, catalogue mutants, hostile answers from ``test_grading_hostile.py``,
damaged files) is graded once by the local pool into SQLite and once on the
cluster into PostgreSQL, with one Dask worker killed by SIGKILL mid-run: the
totals must be identical and every submission recorded exactly once.  Then
the command itself is killed mid-run and run again, and ``--dask local``
runs end to end.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from autograder import course, notebooks
from autograder.grading.gradebook import COURSE_ID, JOURNAL
from autograder.mutation import catalogue, submission

sys.path.insert(0, str(Path(__file__).parent))
from test_grading import ASSIGNMENT, _notebook  # noqa: E402
from test_grading_hostile import ATTACKS  # noqa: E402
from test_grading_postgres import DATABASE, server  # noqa: E402, F401 - the PostgreSQL fixture, reused

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("dask")]
DASK = Path(sys.executable).parent / "dask"
CLASS_SIZE = 40
HOSTILE = ("forged_frame", "float128", "huge_int", "complex", "squatter")  # quick ones: none waits on a timeout
DAMAGED = {"invalid_json": '{"cells": [', "empty_file": "", "nbformat_3": json.dumps({"nbformat": 3, "cells": []})}
TIMEOUT = ["--timeout", "30"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write(folder: Path, student: str, notebook) -> None:
    path = folder / student / ASSIGNMENT.name / ASSIGNMENT.notebook
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(notebook if isinstance(notebook, str) else json.dumps(notebook))


def _class(folder: Path, size: int = CLASS_SIZE) -> list[str]:
    """``size`` submissions: hostile and damaged ones, catalogue mutants, untouched releases, honest copies."""
    release, solution = (notebooks.read(p) for p in (ASSIGNMENT.release(), ASSIGNMENT.source()))
    students = {}
    for name in HOSTILE:
        students[f"hostile_{name}"] = _notebook("tlu", ATTACKS[name][0])
    students.update({f"damaged_{name}": text for name, text in DAMAGED.items()})
    mutants = catalogue(ASSIGNMENT)
    for i, mutant in enumerate(mutants[:12]):
        students[f"mutant{i:02d}"] = submission(release, solution, mutant)
    for i in range(3):
        students[f"release{i}"] = release
    i = 0
    while len(students) < size:
        students[f"honest{i:02d}"] = submission(release, solution)
        i += 1
    chosen = dict(list(students.items())[:size])
    for student, notebook in chosen.items():
        _write(folder, student, notebook)
    return list(chosen)


def _command(folder: Path, db: str, *extra: str, report: Path | None = None) -> list[str]:
    args = [sys.executable, "-m", "autograder", "grade", ASSIGNMENT.name, "--submissions", str(folder), "--db", db,
            *TIMEOUT, *extra]
    return args + (["--report", str(report)] if report else [])


def _run(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=cwd)


def _report(path: Path) -> dict[str, dict]:
    return {r["student"]: r for r in json.loads(path.read_text())["results"]}


def _totals(results: dict[str, dict]) -> dict[str, tuple]:
    return {s: (r["status"], r["score"]) for s, r in results.items()}


def _journal(url: str) -> dict[str, dict]:
    with Gradebook(url, course_id=COURSE_ID) as gb:
        rows = gb.db.execute(JOURNAL.select().where(JOURNAL.c.assignment == ASSIGNMENT.name)).all()
    assert len(rows) == len({row.student for row in rows}), rows  # one row per student
    return {row.student: {**json.loads(row.result), "finished_at": row.finished_at} for row in rows}


def _submissions(url: str) -> list[str]:
    """Each gradebook submission of the assignment, one entry per row (a duplicate would show twice)."""
    with Gradebook(url, course_id=COURSE_ID) as gb:
        return [s.student.id for s in gb.assignment_submissions(ASSIGNMENT.name)]


def _journal_count(url: str) -> int:
    try:
        if url.startswith("sqlite:///"):
            with sqlite3.connect(url.removeprefix("sqlite:///"), timeout=1) as db:
                return db.execute("select count(*) from autograder_journal").fetchone()[0]
        from sqlalchemy import create_engine, func, select

        engine = create_engine(url)
        try:
            with engine.connect() as connection:
                return connection.execute(select(func.count()).select_from(JOURNAL)).scalar()
        finally:
            engine.dispose()
    except Exception:  # not created yet
        return 0


def _wait_for(what, predicate, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


class Cluster:
    """A ``dask scheduler`` and its ``dask worker`` processes on loopback, each in its own process group."""

    def __init__(self, root: Path):
        self.root, self.port = root, _free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        # what a node installs: the course's packages, and nothing of the course directory
        self.packages = root / "node-packages"
        for package in ("autograder", "nnref"):
            shutil.copytree(course.ROOT / package, self.packages / package,
                            ignore=shutil.ignore_patterns("__pycache__"))
        self.env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "AUTOGRADER_ORACLE_CACHE")}
        self.env.update(PYTHONPATH=str(self.packages), OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
        self.procs: dict[str, subprocess.Popen] = {}
        self._start("scheduler", [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(self.port),
                                  "--no-dashboard"])
        _wait_for("the scheduler", self._listening, 60)

    def _listening(self) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def _start(self, name: str, args: list[str]) -> None:
        cwd = self.root / f"cwd-{name}"
        cwd.mkdir()
        log = open(self.root / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        self.procs[name] = subprocess.Popen(args, cwd=cwd, env=self.env, stdout=log, stderr=log,
                                            start_new_session=True)

    def add_worker(self, name: str) -> None:
        self._start(name, [str(DASK), "worker", self.address, "--nworkers", "1", "--nthreads", "1",
                           "--no-dashboard", "--name", name])

    def workers(self) -> dict[str, str]:
        """{name: address} of the workers the scheduler knows."""
        from distributed import Client

        with Client(self.address, timeout="20s") as client:
            return {w["name"]: a for a, w in client.scheduler_info(n_workers=-1)["workers"].items()}

    def wait_workers(self, names: set[str]) -> None:
        _wait_for(f"the Dask workers {names}", lambda: names <= set(self.workers()), 90)

    def kill(self, name: str) -> None:
        os.killpg(self.procs[name].pid, signal.SIGKILL)
        self.procs[name].wait()

    def log(self, name: str) -> str:
        return (self.root / f"{name}.log").read_text(errors="replace")[-3000:]

    def close(self) -> None:
        for proc in reversed(list(self.procs.values())):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("dask"))
    try:
        c.add_worker("w1")
        c.add_worker("w2")
        c.wait_workers({"w1", "w2"})
        yield c
    finally:
        c.close()


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    folder = root / "submitted"
    students = _class(folder)
    return root, folder, students


@pytest.fixture(scope="module")
def pool_totals(classroom):
    """The class graded by the local pool (2 workers) into SQLite: the totals the cluster must give."""
    root, folder, students = classroom
    run = _run(_command(folder, str(root / "pool.db"), "--workers", "2", report=root / "pool.json"), root)
    assert run.returncode == 0, run.stderr[-3000:]
    results = _report(root / "pool.json")
    assert set(results) == set(students)
    return _totals(results)


def test_the_workers_hold_no_course_files(cluster):
    """Where the Dask workers run, the course's packages are a copy with no solutions and no submissions."""
    from distributed import Client

    def where():
        import autograder.course

        return (str(autograder.course.ROOT), (autograder.course.ROOT / "solutions").exists(), os.listdir("."))

    with Client(cluster.address, timeout="20s") as client:
        found = client.run(where)
    assert len(found) == 2
    for root, has_solutions, cwd in found.values():
        assert root == str(cluster.packages) and not has_solutions and cwd == [], (root, has_solutions, cwd)


@pytest.fixture(scope="module")
def cluster_db(request, tmp_path_factory) -> str:
    """The PostgreSQL server's database; a SQLite file where there is no server (the skip's reason printed)."""
    try:
        return request.getfixturevalue("server").url(DATABASE)
    except pytest.skip.Exception as why:
        print(f"no PostgreSQL: the gradebook is a SQLite file ({why})")
        return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'gradebook.db'}"


def test_a_class_on_the_cluster_with_a_worker_killed_grades_each_once_as_the_pool_does(cluster, classroom,
                                                                                        pool_totals, cluster_db):
    root, folder, students = classroom
    url = cluster_db
    report = root / "dask.json"
    command = subprocess.Popen(_command(folder, url, "--dask", cluster.address, report=report), cwd=root,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # a few results in, one Dask worker is killed with every process it started, in the middle of a job
        _wait_for("the first results", lambda: _journal_count(url) >= 4 or command.poll() is not None, 180)
        before = cluster.workers()
        cluster.kill("w1")
        cluster.add_worker("w3")  # as a cluster manager replaces a lost node
        out, err = command.communicate(timeout=300)
    finally:
        if command.poll() is None:
            command.kill()
            command.wait()
    print(f"first run: exit status {command.returncode}; {err.strip().splitlines()[-2:]}")
    assert command.returncode in (0, 1), err[-3000:]
    assert "sandbox: " in err and "Traceback" not in err, err[-3000:]
    first = _report(report)
    if command.returncode == 1:  # a job Dask gave up on is an error, graded by the next run
        errors = {s for s, r in first.items() if r["status"] == "error"}
        assert errors and errors <= set(students), err[-3000:]
        again = _run(_command(folder, url, "--dask", cluster.address, report=report), root)
        assert again.returncode == 0, again.stderr[-3000:]
        assert f"{len(errors)} submissions:" in again.stdout, again.stdout
    results = _report(report)
    assert _totals(results) == pool_totals
    journal = _journal(url)
    assert set(journal) == set(students)
    graded = _submissions(url)
    assert sorted(graded) == sorted(students)  # each submission recorded exactly once: no duplicate, none lost
    # the worker of each result is a Dask worker's address; the killed one had graded some before it died
    workers = {r["worker"] for r in results.values()}
    assert workers <= set(before.values()) | set(cluster.workers().values()) | {"dask"}, workers
    assert before["w1"] in workers, (before, workers)
    rows = (root / "dask.csv").read_text().splitlines()
    assert rows[0].split(",")[-1] == "worker" and all(row.split(",")[-1].startswith("tcp://") for row in rows[1:])


def test_the_command_killed_and_run_again_grades_each_once(cluster, classroom, pool_totals, tmp_path):
    _, full, students = classroom
    folder = tmp_path / "submitted"
    chosen = students[::5]
    for student in chosen:
        shutil.copytree(full / student, folder / student)
    db = tmp_path / "gradebook.db"
    url = f"sqlite:///{db}"
    command = subprocess.Popen(_command(folder, str(db), "--dask", cluster.address), cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for("the first results", lambda: _journal_count(url) >= 2 or command.poll() is not None, 180)
    finally:
        command.send_signal(signal.SIGKILL)
        command.wait()
    recorded = _journal(url)
    assert 2 <= len(recorded) < len(chosen), recorded
    report = tmp_path / "report.json"
    again = _run(_command(folder, str(db), "--dask", cluster.address, report=report), tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert (f"{len(chosen) - len(recorded)} submissions:" in again.stdout
            and f"{len(recorded)} unchanged since recorded and skipped" in again.stdout), again.stdout
    journal = _journal(url)
    assert set(journal) == set(chosen)
    assert all(journal[s]["finished_at"] == recorded[s]["finished_at"] for s in recorded)  # not graded twice
    assert sorted(_submissions(url)) == sorted(chosen)
    assert _totals(_report(report)) == {s: pool_totals[s] for s in chosen}


def test_dask_local_grades_end_to_end(classroom, pool_totals, tmp_path):
    _, full, students = classroom
    folder = tmp_path / "submitted"
    chosen = [next(s for s in students if s.startswith(kind)) for kind in ("honest", "mutant", "damaged")]
    for student in chosen:
        shutil.copytree(full / student, folder / student)
    report = tmp_path / "report.json"
    run = _run(_command(folder, str(tmp_path / "gradebook.db"), "--dask", "local", "--workers", "2",
                        report=report), tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stderr.count("sandbox: ") == 1 + run.stderr.count("MISSING protection"), run.stderr[-3000:]
    results = _report(report)
    assert _totals(results) == {s: pool_totals[s] for s in chosen}
    assert all(r["worker"].startswith("tcp://127.0.0.1:") for r in results.values()), results
    assert "before asking for the next" in run.stderr and "ms per result (feedback files" in run.stderr


def test_a_local_cluster_runs_without_the_upkeep_grading_does_not_need():
    """``--dask local`` starts its workers with ``cluster.LOCAL_CONFIG``: no statistical profiler sampling
    every 10 ms beside the graders, a slower event-loop tick; the nannies hand the settings to the worker
    processes."""
    from autograder.grading import cluster
    from autograder.grading.limits import Limits

    dask = cluster.Dask(cluster.LOCAL, Limits(), 1)
    try:
        client = dask.connect()
        found = client.run(lambda dask_worker: (sorted(dask_worker.periodic_callbacks),
                                                 __import__("dask").config.get("distributed.admin.tick.interval")))
    finally:
        dask.close()
    assert len(found) == 1
    [(callbacks, tick)] = found.values()
    assert "profile" not in callbacks and "profile-cycle" not in callbacks, callbacks
    assert tick == cluster.LOCAL_CONFIG["distributed.admin.tick.interval"]


class _Gone:
    """A finished future whose task Dask gave up on, or that raised on the worker."""

    def __init__(self, error: BaseException):
        self.error = error

    def result(self):
        raise self.error


@pytest.mark.parametrize("error", ["killed", "raised"])
def test_a_job_dask_gives_up_on_is_an_error_never_a_grade(error):
    from distributed.scheduler import KilledWorker

    from autograder.grading import jobs
    from autograder.grading.cluster import Dask
    from autograder.grading.limits import Limits

    job = jobs.make_job(ASSIGNMENT.name, "ann", Path("submitted/ann") / ASSIGNMENT.name, Limits())
    raised = (KilledWorker("grade_on_worker-1", types.SimpleNamespace(address="tcp://10.0.0.9:4000"), 3)
              if error == "killed" else KeyError("limits"))
    result = Dask.outcome(_Gone(raised), job)
    assert result["student"] == "ann" and result["status"] == jobs.ERROR and jobs.ERROR not in jobs.RECORDED
    assert result["score"] is None and result["parts"] == [] and result["worker"] == "dask"
    assert result["error"].startswith(f"the Dask cluster gave the job up: {type(raised).__name__}")
    # a result under another student's name is never taken for this job's
    other = Dask.outcome(type("F", (), {"result": lambda self: {"student": "bob", "status": "graded"}})(), job)
    assert other["status"] == jobs.ERROR and other["student"] == "ann"
