"""The grading command's gradebook on a real PostgreSQL server, not only SQLite.

A private server is started for this module: ``initdb`` into a fresh
directory, listening on 127.0.0.1 only on a free port, with its socket in
that directory, and stopped and removed afterwards whatever the tests did.
As root it runs as the ``postgres`` system user, since PostgreSQL refuses to
run as root.  Needs a server under ``/usr/lib/postgresql/*/bin`` (``make
test`` installs Debian's as root with apt-get, see tools/install_postgres.sh);
without one these tests are skipped, with the reason.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from autograder import course, grades, notebooks, stats
from autograder.grading.gradebook import COURSE_ID, JOURNAL
from autograder.mutation import catalogue, expected_failures, submission

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.xdist_group("postgres")]
ASSIGNMENT = course.get("01_neurons")
FULL = 14.0
DATABASE = "gradebook"
EXPECTED = {"honest": ("graded", FULL), "release": ("graded", 0.0), "invalid_json": ("ungradable", 0.0)}


def _server_bin() -> Path | None:
    """The newest Debian PostgreSQL with a server, initdb and pg_ctl, else one on PATH."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"),
                        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0, reverse=True)
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for bin_dir in candidates:
        if all((bin_dir / tool).is_file() for tool in ("postgres", "initdb", "pg_ctl")):
            return bin_dir
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A throwaway PostgreSQL cluster in ``root``, run as ``user`` (None: as ourselves)."""

    def __init__(self, bin_dir: Path, root: Path, user: str | None):
        self.bin, self.root, self.user = bin_dir, root, user
        self.data, self.log, self.port = root / "data", root / "server.log", _free_port()

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess:
        command = [str(self.bin / tool), *args]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=self.root)

    def _check(self, tool: str, *args: str) -> None:
        done = self._run(tool, *args)
        log = self.log.read_text()[-2000:] if self.log.exists() else ""
        assert done.returncode == 0, f"{tool} {' '.join(args)} failed:\n{done.stdout}{done.stderr}{log}"

    def start(self) -> None:
        # trust on loopback only; no fsync: a test cluster that never outlives its module
        self._check("initdb", "-D", str(self.data), "--auth=trust", "-U", "postgres", "-E", "UTF8",
                    "--no-locale", "--no-sync")
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -F"
        self._check("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "-t", "60", "stop")

    def url(self, database: str) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"


@pytest.fixture(scope="module")
def server():
    bin_dir = _server_bin()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server (postgres, initdb, pg_ctl) in /usr/lib/postgresql/*/bin or on PATH: "
                    "install Debian's postgresql (as root: bash tools/install_postgres.sh)")
    user = None
    if os.geteuid() == 0:  # postgres will not run as root
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' system user to run the server as")
        if shutil.which("runuser") is None:
            pytest.skip("running as root and runuser(1) is missing: cannot run the server as 'postgres'")
        user = "postgres"
    # Not under pytest's tmp_path: its parent is private to root, the server user could not enter it.
    root = Path(tempfile.mkdtemp(prefix="nnref-pg-"))
    if user:
        shutil.chown(root, user, user)
    pg = Server(bin_dir, root, user)
    try:
        pg.start()
        pg._check("createdb", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres", DATABASE)
        yield pg
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


def _write(folder: Path, student: str, notebook) -> None:
    path = folder / student / ASSIGNMENT.name / ASSIGNMENT.notebook
    path.parent.mkdir(parents=True)
    path.write_text(notebook if isinstance(notebook, str) else json.dumps(notebook))


def _grade(folder: Path, db: str, *extra: str, report: Path | None = None) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "autograder", "grade", ASSIGNMENT.name, "--submissions", str(folder),
            "--db", db, "--workers", "2", "--timeout", "30", *extra]
    if report:
        args += ["--report", str(report)]
    return subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=folder.parent)


def _journal(url: str) -> dict[str, float]:
    with Gradebook(url, course_id=COURSE_ID) as gb:
        rows = gb.db.execute(JOURNAL.select().where(JOURNAL.c.assignment == ASSIGNMENT.name)).all()
    assert len(rows) == len({row.student for row in rows}), rows  # one row per student
    return {row.student: row.finished_at for row in rows}


def _scores(url: str) -> dict[str, float]:
    with Gradebook(url, course_id=COURSE_ID) as gb:
        return {s.student.id: s.score for s in gb.assignment_submissions(ASSIGNMENT.name)}


@pytest.fixture(scope="module")
def graded(server, tmp_path_factory):
    """A small class graded once into the server's database."""
    root = tmp_path_factory.mktemp("pg-class")
    folder, report = root / "submitted", root / "report.json"
    release, solution = (notebooks.read(p) for p in (ASSIGNMENT.release(), ASSIGNMENT.source()))
    _write(folder, "honest", submission(release, solution))
    _write(folder, "release", release)
    _write(folder, "invalid_json", '{"cells": [')
    url = server.url(DATABASE)
    run = _grade(folder, url, report=report)
    assert run.returncode == 0, run.stderr[-3000:]
    results = {r["student"]: r for r in json.loads(report.read_text())["results"]}
    return folder, url, results


def test_scores_in_postgres_match_the_report(graded):
    folder, url, results = graded
    assert {s: (r["status"], r["score"]) for s, r in results.items()} == EXPECTED
    assert "not valid JSON" in results["invalid_json"]["error"]
    scores = _scores(url)
    assert scores == {student: result["score"] for student, result in results.items()}
    with Gradebook(url, course_id=COURSE_ID) as gb:
        assert gb.engine.dialect.name == "postgresql"  # really the server, not a SQLite file
        assert gb.find_assignment(ASSIGNMENT.name).max_score == FULL
        honest = gb.find_submission(ASSIGNMENT.name, "honest")
        assert {g.name: g.auto_score for g in honest.notebooks[0].grades} == \
            {p["id"]: p["score"] for p in results["honest"]["parts"]}
    journal = _journal(url)
    assert set(journal) == set(EXPECTED)
    with Gradebook(url, course_id=COURSE_ID) as gb:
        stored = {row.student: json.loads(row.result) for row in gb.db.execute(JOURNAL.select())}
    assert {s: (r["status"], r["score"]) for s, r in stored.items()} == EXPECTED


def test_rerun_skips_all_and_force_regrades_once(graded):
    folder, url, _ = graded
    first = _journal(url)
    again = _grade(folder, url)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"{len(EXPECTED)} unchanged since recorded and skipped" in again.stdout, again.stdout
    assert _journal(url) == first
    forced = _grade(folder, url, "--force")
    assert forced.returncode == 0, forced.stderr[-3000:]
    assert "3 submissions: 2 graded (1 with full marks), 0 failed, 1 ungradable" in forced.stdout, forced.stdout
    after = _journal(url)
    assert set(after) == set(first) and all(after[s] > first[s] for s in first)
    assert _scores(url) == {student: score for student, (_, score) in EXPECTED.items()}  # no duplicate rows


def _refused(run: subprocess.CompletedProcess) -> str:
    """The command's last words, asserted to be a short, clear refusal."""
    assert run.returncode == 1, (run.returncode, run.stdout, run.stderr[-3000:])
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    return run.stderr.strip().splitlines()[-1]


def test_no_server_on_that_port_is_named(tmp_path):
    folder = tmp_path / "submitted"
    _write(folder, "honest", "{}")
    port = _free_port()  # nothing listens there
    run = _grade(folder, f"postgresql+psycopg2://postgres:secret@127.0.0.1:{port}/{DATABASE}")
    last = _refused(run)
    assert last.startswith(f"cannot open the gradebook postgresql+psycopg2://postgres:***@127.0.0.1:{port}/"
                           f"{DATABASE}: "), last
    assert "Connection refused" in last
    assert "secret" not in run.stderr + run.stdout


def test_missing_database_is_named(server, tmp_path):
    folder = tmp_path / "submitted"
    _write(folder, "honest", "{}")
    last = _refused(_grade(folder, server.url("no_such_db")))
    assert last.startswith(f"cannot open the gradebook {server.url('no_such_db')}: "), last
    assert 'database "no_such_db" does not exist' in last


def test_stats_of_a_class_of_catalogue_mutants_graded_into_postgres(server, tmp_path):
    """The mistake codes travel from the checks through the command into the journal on PostgreSQL, and
    ``stats`` counts them: each bug's first lost part carries the code its catalogue entry states."""
    table = ASSIGNMENT.parts()
    bugs, codes = [], set()
    for mutant in catalogue(ASSIGNMENT):  # one bug per mistake code the catalogue names, for a varied class
        if not mutant.correct and mutant.mistake not in codes:
            codes.add(mutant.mistake)
            bugs.append(mutant)
    assert len(bugs) >= 4, [m.mistake for m in bugs]
    folder = tmp_path / "submitted"
    release, solution = (notebooks.read(p) for p in (ASSIGNMENT.release(), ASSIGNMENT.source()))
    _write(folder, "honest", submission(release, solution))
    for mutant in bugs:
        _write(folder, mutant.name, submission(release, solution, mutant))
    server._check("createdb", "-h", "127.0.0.1", "-p", str(server.port), "-U", "postgres", "stats_class")
    url, report = server.url("stats_class"), tmp_path / "report.json"
    run = _grade(folder, url, report=report)
    assert run.returncode == 0, run.stderr[-3000:]
    results = {r["student"]: r for r in json.loads(report.read_text())["results"]}
    for mutant in bugs:
        parts = {p["id"]: p for p in results[mutant.name]["parts"]}
        first = expected_failures(mutant, table)[0]
        assert parts[first]["score"] == 0 and parts[first]["mistake"] == mutant.mistake, (mutant.id, parts[first])
    assert all(p["mistake"] is None for p in results["honest"]["parts"])
    # what stats reads back from the server is what the report says, part by part and code by code
    read = grades.read(url, [ASSIGNMENT.name])
    part_stats, totals = stats.assignment_stats(read, ASSIGNMENT.name)
    assert sorted(totals) == sorted(r["score"] for r in results.values())
    for part in part_stats:
        lost = [p for r in results.values() for p in r["parts"] if p["id"] == part.part and p["mistake"]]
        expected = {}
        for p in lost:
            expected[p["mistake"]] = expected.get(p["mistake"], 0) + 1
        assert dict(part.students) == expected, part.part
    shown = subprocess.run([sys.executable, "-m", "autograder", "stats", ASSIGNMENT.name, "--db", url],
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr[-2000:]
    for mutant in bugs:
        assert mutant.mistake in shown.stdout, (mutant.mistake, shown.stdout)
