"""The instructor's guide, literally: its shell blocks run in order, as typed, in a fresh clone.

``docs/instructors.md`` walks a term: clone and set up, release, collect,
grade (the course's command, then plain nbgrader), return feedback, export
grades, publish the student edition.  This test copies the working tree into
a new git repository (the "remote"), then runs every ``bash`` block of the
guide's term sections in order in one shell session (the working directory
and the environment carry from block to block, as in a terminal), with a
simulated class of four students put where the guide says submissions go
just before the first grading command.  After each block it checks what that
step should have left behind.

Only what cannot run here is not run as typed, each with its reason:
``STAND_INS`` replaces a command by one with the same effect, and
``NOT_RUN`` lists the commands that need an nbgrader exchange or a remote.
Both are checked to still occur in the guide, so neither can go stale.  The
sections from "Adding an assignment" on are for course authors, not a term:
``tests/test_exercises.py::test_adding_an_assignment_takes_its_notebook_and_its_room_and_nothing_else``
runs their commands.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import course, notebooks
from autograder.mutation import catalogue, submission

pytestmark = pytest.mark.slow
GUIDE = course.ROOT / "docs" / "instructors.md"
URL = "https://github.com/nnref-course/foundations-of-neural-networks.git"
AUTHORING = "## Adding an assignment"  # the first section that is not part of a term
ASSIGNMENT = course.get("04_backprop")

# command as typed -> (what runs instead, why)
STAND_INS = {
    "make book": (f"ln -s {Path(sys.prefix)} .venv && touch -d 2000-01-01 requirements.txt pyproject.toml",
                  "creating .venv and building the book take many minutes: the suite's own venv is linked "
                  "(its install stamp kept newer than the clone's requirements, so make reuses it) and "
                  "tests/test_book.py builds the book"),
}
# command prefix -> why it is not run
NOT_RUN = {
    "nbgrader release_assignment": "needs an nbgrader exchange (JupyterHub)",
    "nbgrader release_feedback": "needs an nbgrader exchange (JupyterHub)",
    "make student-edition STUDENT_REMOTE=": "pushes to the instructor's remote",
}
# the simulated class: alice honest, bob with one wrong answer, carol honest but two hours late,
# dave in the gradebook with nothing submitted
LATE = "2031-01-01 02:00:00.000000 UTC"


def blocks(text: str) -> list[str]:
    """The ``bash`` blocks of the guide's term sections, in order, their indentation removed."""
    term = text.split(AUTHORING)[0]
    found = re.findall(r"^( *)```bash\n(.*?)^\1```", term, flags=re.S | re.M)
    return ["\n".join(line[len(indent):] for line in body.splitlines()) for indent, body in found]


def as_run(block: str) -> str:
    """The block as this test runs it: stand-ins for the commands that cannot run here, the rest as typed."""
    lines = []
    for line in block.splitlines():
        command = line.split("#")[0].strip()
        if command in STAND_INS:
            line = STAND_INS[command][0]
        elif any(command.startswith(prefix) for prefix in NOT_RUN):
            line = f": not run here: {line!r}"
        lines.append(line.replace(URL, "$GUIDE_REMOTE"))
    return "\n".join(lines)


def _remote(tmp: Path) -> Path:
    """A git repository holding the working tree as it is (tracked and new files, not ignored ones)."""
    remote = tmp / "remote"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=course.ROOT, check=True,
                           capture_output=True).stdout.decode().split("\0")
    for name in filter(None, files):
        source = course.ROOT / name
        if source.is_file() and not source.is_symlink():
            (remote / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, remote / name)
    git = ["git", "-c", "user.name=guide", "-c", "user.email=guide@example.org"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "the course"]):
        subprocess.run(git + args, cwd=remote, check=True)
    return remote


class Shell:
    """One terminal session: each block runs in bash where the previous one left off (directory, variables)."""

    def __init__(self, home: Path, remote: Path):
        self.state = home / ".guide-state"
        self.state.mkdir()
        (self.state / "cwd").write_text(str(home))
        env = {"HOME": str(home), "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
               "GUIDE_REMOTE": str(remote), "OPENBLAS_NUM_THREADS": "1"}
        (self.state / "env").write_text("".join(f"export {k}={v!r}\n" for k, v in env.items()))
        self.env = env

    def run(self, block: str) -> subprocess.CompletedProcess:
        script = (f'cd "$(cat {self.state}/cwd)"\nsource {self.state}/env\nset -e -o pipefail\n{block}\n'
                  f'pwd > {self.state}/cwd\nexport -p > {self.state}/env\n')
        return subprocess.run(["bash", "-c", script], env=self.env, capture_output=True, text=True, timeout=900)

    @property
    def cwd(self) -> Path:
        return Path((self.state / "cwd").read_text().strip())


def _class(clone: Path) -> dict[str, dict]:
    """Write the simulated class's submissions where nbgrader expects them; ``{student: notebook}``."""
    release, solution = (notebooks.read(p) for p in (ASSIGNMENT.release(clone), ASSIGNMENT.source(clone)))
    wrong = next(m for m in catalogue(ASSIGNMENT) if not m.correct and m.cell == "dense_forward")
    work = {"alice": submission(release, solution), "bob": submission(release, solution, wrong),
            "carol": submission(release, solution)}
    for student, notebook in work.items():
        folder = clone / "submitted" / student / ASSIGNMENT.name
        folder.mkdir(parents=True)
        (folder / ASSIGNMENT.notebook).write_text(json.dumps(notebook))
        stamp = LATE if student == "carol" else "2031-01-01 00:00:00.000000 UTC"
        (folder / "timestamp.txt").write_text(stamp + "\n")
    with sqlite3.connect(clone / "gradebook.db") as db:  # on the roll, nothing submitted
        db.execute("INSERT INTO student (id, first_name, last_name, email, lms_user_id) "
                   "VALUES ('dave', 'Dave', 'D', NULL, NULL)")
    return work


def _scores(db: Path) -> dict[str, float]:
    """``{student: score}`` of 04_backprop in nbgrader's gradebook, read as the formgrader reads it."""
    with sqlite3.connect(db) as connection:
        rows = connection.execute(
            "SELECT student.id, SUM(COALESCE(grade.manual_score, grade.auto_score, 0)) FROM grade "
            "JOIN submitted_notebook ON grade.notebook_id = submitted_notebook.id "
            "JOIN submitted_assignment ON submitted_notebook.assignment_id = submitted_assignment.id "
            "JOIN assignment ON submitted_assignment.assignment_id = assignment.id "
            "JOIN student ON submitted_assignment.student_id = student.id "
            "WHERE assignment.name = '04_backprop' GROUP BY student.id").fetchall()
    return dict(rows)


def _report(clone: Path) -> dict[str, dict]:
    return {r["student"]: r for r in json.loads((clone / "report.json").read_text())["results"]}


def test_the_stand_ins_and_skips_are_still_in_the_guide():
    commands = [line.split("#")[0].strip() for block in blocks(GUIDE.read_text()) for line in block.splitlines()]
    for typed in STAND_INS:
        assert typed in commands, f"STAND_INS names {typed!r}, which the guide no longer has"
    for prefix in NOT_RUN:
        assert any(c.startswith(prefix) for c in commands), f"NOT_RUN names {prefix!r}, no longer in the guide"
    assert any(URL in line for block in blocks(GUIDE.read_text()) for line in block.splitlines())


def test_the_guide_runs_as_typed_from_clone_to_exported_grades(tmp_path):
    remote = _remote(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    shell = Shell(home, remote)
    clone = home / "course"
    max_score = sum(p.points for p in ASSIGNMENT.parts().values())
    seen = []
    for block in blocks(GUIDE.read_text()):
        first = block.splitlines()[0]
        if "autograder grade" in block and not (clone / "submitted").exists():
            _class(clone)
        done = shell.run(as_run(block))
        assert done.returncode == 0, f"{block}\n--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
        seen.append(first)

        if first.startswith("git clone"):
            assert (clone / "_config.yml").exists()
        if "source .venv/bin/activate" in block:
            assert shell.cwd == clone
        if first.startswith("make exercises"):  # the committed releases are what generate_assignment makes
            changed = subprocess.run(["git", "status", "--porcelain", "exercises"], cwd=clone, capture_output=True,
                                     text=True, check=True).stdout
            assert changed == ""
        if "generate_assignment 04_backprop" in block or "db assignment add 04_backprop" in block:
            with sqlite3.connect(clone / "gradebook.db") as db:
                assert db.execute("SELECT name FROM assignment").fetchall() == [("04_backprop",)]
        if first.startswith("python -m autograder grade 04_backprop --submissions submitted --workers 2"):
            report = _report(clone)
            assert {s: r["status"] for s, r in report.items()} == {"alice": "graded", "bob": "graded",
                                                                   "carol": "graded", "dave": "missing"}
            assert report["alice"]["score"] == max_score > report["bob"]["score"]
            assert _scores(clone / "gradebook.db") == {s: report[s]["score"] for s in ("alice", "bob", "carol")}
            for student in ("alice", "bob", "carol"):
                assert (clone / "feedback" / student / "04_backprop" / "backprop.html").exists()
            assert not (clone / "feedback" / "dave").exists()
        if "--student alice --student bob" in block:
            assert "to grade: 3 (3 forced)" in done.stderr  # the --force line after it
        if first.startswith("nbgrader autograde 04_backprop"):  # nbgrader agrees with the command
            report = _report(clone)
            assert _scores(clone / "gradebook.db") == {s: report[s]["score"] for s in ("alice", "bob", "carol")}
        if first.startswith("nbgrader generate_feedback"):
            for student in ("alice", "bob", "carol"):
                page = (clone / "feedback" / student / "04_backprop" / "backprop.html").read_text()
                assert "BEGIN HIDDEN TESTS" not in page and "check(" not in page
        if first.startswith("nbgrader export"):
            rows = {r["student_id"]: r for r in csv.DictReader((clone / "grades.csv").open())
                    if r["assignment"] == "04_backprop"}
            assert float(rows["alice"]["raw_score"]) == max_score
            assert float(rows["bob"]["raw_score"]) < max_score
            rows = {r["student"]: r for r in csv.DictReader((clone / "course-grades.csv").open())}
            assert float(rows["alice"]["04_backprop"]) == max_score
            assert (clone / "stats-04_backprop.html").read_text().count("bob") == 0  # no names in statistics
        if first.startswith("make student-edition"):
            student = clone / "_build" / "student"
            assert (student / "exercises" / "04_backprop" / "backprop.ipynb").exists()
            assert not (student / "solutions").exists() and not (student / "autograder").exists()
    expected = ["git clone", "make exercises", "python -m autograder grade 04_backprop", "nbgrader autograde",
                "nbgrader generate_feedback", "nbgrader export", "make student-edition"]
    for step in expected:
        assert any(first.startswith(step) for first in seen), (step, seen)
    leftover = [p for p in os.listdir(tmp_path / "remote") if p == ".venv"]
    assert leftover == []
