"""What students install holds nothing of the instructor's; the course venv still reaches the grader.

The published wheel is built from ``pyproject.toml`` exactly as ``pip wheel .``
builds it, then opened: it must hold the reference package and its metadata,
and no hidden check, mutant catalogue or grading code.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools import student_edition  # noqa: E402


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return student_edition.build_wheel(tmp_path_factory.mktemp("wheel"))


def test_the_wheel_holds_the_reference_package_and_nothing_else(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"nnref", f"nnref-{student_edition.package_version()}.dist-info"}, tops
    for forbidden in ("autograder", "mutants", "solutions", "checks.py", "grading", "tests/"):
        assert not [n for n in names if forbidden in n], forbidden


def test_the_wheel_holds_every_module_of_the_reference_package(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "nnref").rglob("*.py")}
    assert modules <= names, sorted(modules - names)


def test_the_checker_refuses_a_wheel_that_carries_the_grader(tmp_path):
    bad = tmp_path / "nnref-0.0.0-py3-none-any.whl"
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("nnref/__init__.py", "")
        archive.writestr("autograder/assignments/04_backprop/checks.py", "")
    problems = student_edition.check(tmp_path)
    assert any("autograder/assignments/04_backprop/checks.py" in p for p in problems), problems


def test_the_course_venv_imports_the_grader_from_the_checkout_in_any_folder(tmp_path):
    """nbgrader runs each kernel in the submission's folder: the hidden cells' import must work there."""
    probe = "import autograder.assignments, nnref; print(autograder.assignments.__file__); print(nnref.__file__)"
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True)
    grader, package = out.stdout.split()
    assert Path(grader).is_relative_to(ROOT) and Path(package).is_relative_to(ROOT)
