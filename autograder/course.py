"""The assignments of the course, and running nbgrader on a course directory.

An assignment is its source notebook, ``solutions/<name>/<notebook>.ipynb``,
and its room in the grader, ``autograder/assignments/<name>/`` (hidden checks
in ``checks.py``, mutant catalogue in ``mutants.py``).  Both are found by
name; nothing else registers an assignment.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from . import assignments as rooms

ROOT = Path(__file__).resolve().parents[1]
SOURCE = "solutions"
RELEASE = "exercises"


@dataclass(frozen=True)
class Assignment:
    """One nbgrader assignment: ``solutions/<name>/<notebook>`` and its room ``autograder/assignments/<name>/``."""

    name: str
    notebook: str

    @property
    def room(self) -> Path:
        """The folder of its hidden checks and mutant catalogue."""
        return rooms.room(self.name)

    def parts(self):
        """The graded parts, ``{grade_id: Part}`` (the room's ``checks.PARTS``)."""
        return rooms.parts(self.name)

    def checks(self) -> ModuleType:
        return rooms.checks(self.name)

    def mutants(self) -> ModuleType:
        return rooms.mutants(self.name)

    def source(self, root: Path = ROOT) -> Path:
        return Path(root) / SOURCE / self.name / self.notebook

    def release(self, root: Path = ROOT) -> Path:
        return Path(root) / RELEASE / self.name / self.notebook


def assignments(root: Path = ROOT) -> list[Assignment]:
    """Every assignment under ``solutions/``, in order of name; each must have its room in the grader."""
    found = []
    for folder in sorted((Path(root) / SOURCE).iterdir()):
        notebooks = sorted(p.name for p in folder.glob("*.ipynb")) if folder.is_dir() else []
        if len(notebooks) > 1:
            raise ValueError(f"{folder} holds {len(notebooks)} notebooks; one notebook per assignment")
        if not notebooks:
            continue
        room = rooms.room(folder.name)
        missing = [f for f in ("checks.py", "mutants.py") if not (room / f).is_file()]
        if missing:
            raise ValueError(f"assignment {folder.name!r} ({folder / notebooks[0]}) has no {' or '.join(missing)} "
                             f"in its room {room}: every assignment needs its hidden checks and its mutant "
                             "catalogue there (docs/instructors.md, 'Adding an assignment')")
        found.append(Assignment(folder.name, notebooks[0]))
    return found


def get(name: str, root: Path = ROOT) -> Assignment:
    """The assignment called ``name``."""
    for assignment in assignments(root):
        if assignment.name == name:
            return assignment
    known = ", ".join(a.name for a in assignments(root))
    raise ValueError(f"no assignment {name!r} under {Path(root) / SOURCE}; known: {known}")


def _env() -> dict:
    """The environment for nbgrader: this interpreter's scripts first on PATH (nbgrader runs alembic)."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def nbgrader(*args: str, cwd: Path, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``nbgrader <args>`` in ``cwd`` (a course root holding nbgrader_config.py)."""
    command = [sys.executable, "-m", "nbgrader", *args]
    result = subprocess.run(command, cwd=cwd, env={**_env(), **(env or {})}, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"`nbgrader {' '.join(args)}` failed with status {result.returncode}:\n"
                           f"{result.stdout[-4000:]}\n{result.stderr[-8000:]}")
    return result


def make_course(folder: Path, names: list[str], root: Path = ROOT) -> Path:
    """A fresh course directory in ``folder`` with the configuration and the sources of ``names``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(root) / "nbgrader_config.py", folder / "nbgrader_config.py")
    for name in names:
        shutil.copytree(Path(root) / SOURCE / name, folder / SOURCE / name, dirs_exist_ok=True)
    return folder


def generate_release(name: str, course: Path, database: bool = True) -> Path:
    """``nbgrader generate_assignment`` in ``course``; returns the release folder."""
    args = ["generate_assignment", name, "--force"] + ([] if database else ["--no-db"])
    nbgrader(*args, cwd=course)
    return Path(course) / RELEASE / name


def submit(course: Path, assignment: Assignment, student: str, notebook: dict) -> Path:
    """Place a student's notebook where ``nbgrader autograde`` looks for it."""
    path = Path(course) / "submitted" / student / assignment.name / assignment.notebook
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(notebook, indent=1))
    return path


def scores(course: Path, name: str) -> dict[str, dict[str, tuple[float, float]]]:
    """``{student: {grade_id: (score, max_score)}}`` from the course's gradebook."""
    from nbgrader.api import Gradebook

    out: dict[str, dict[str, tuple[float, float]]] = {}
    with Gradebook(f"sqlite:///{Path(course) / 'gradebook.db'}") as gradebook:
        assignment = gradebook.find_assignment(name)
        for submission in assignment.submissions:
            student = out.setdefault(submission.student_id, {})
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    if grade.cell_type == "code" and grade.max_score:
                        student[grade.name] = (float(grade.score), float(grade.max_score))
    return out
