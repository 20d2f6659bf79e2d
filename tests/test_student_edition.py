"""The student edition (``make student-edition``): what students receive and nothing else."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder import course, notebooks  # noqa: E402
from tools import student_edition, sync_chapter_notebooks, toc  # noqa: E402


@pytest.fixture(scope="module")
def edition(tmp_path_factory) -> Path:
    return student_edition.write(tmp_path_factory.mktemp("edition") / "student")


def _cells(path: Path) -> list[tuple[str, str]]:
    return [(cell["cell_type"], notebooks.cell_text(cell)) for cell in notebooks.read(path)["cells"]]


def test_the_edition_holds_no_solution_hidden_test_or_instructor_file(edition):
    assert student_edition.check(edition) == []
    for path in edition.rglob("*"):
        relative = path.relative_to(edition)
        assert relative.parts[0] in ("book", "exercises", "wheels", "requirements.txt", "README.md"), relative
        if path.is_file() and path.suffix in (".md", ".ipynb", ".txt"):
            text = path.read_text()
            for secret in ("### BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "autograder"):
                assert secret not in text, (relative, secret)


def test_every_release_and_chapter_is_there_with_the_cells_it_is_built_from(edition):
    for assignment in course.assignments():
        copy = edition / assignment.release().relative_to(ROOT)
        assert _cells(copy) == _cells(assignment.release()), assignment.name
    chapters = [name for name in toc.docnames(ROOT / "_toc.yml") if (ROOT / f"{name}.ipynb").exists()]
    assert len(chapters) >= 9
    for name in chapters:
        assert _cells(edition / f"{name}.ipynb") == _cells(ROOT / f"{name}.ipynb"), name
        assert (edition / f"{name}.md").read_text() == (ROOT / f"{name}.md").read_text(), name


def test_the_edition_carries_the_wheel_and_the_requirements_that_name_it(edition):
    wheels = sorted((edition / "wheels").glob("*.whl"))
    assert [w.name for w in wheels] == [f"nnref-{student_edition.package_version()}-py3-none-any.whl"]
    requirements = (edition / "requirements.txt").read_text()
    assert f"nnref[book]=={student_edition.package_version()}" in requirements.splitlines()
    assert "--find-links wheels" in requirements


@pytest.mark.parametrize("planted", ["solutions/01_neurons/neurons.ipynb", "exercises/x/leak.py"])
def test_the_check_finds_instructor_material_planted_in_an_edition(tmp_path, planted):
    path = tmp_path / planted
    path.parent.mkdir(parents=True)
    path.write_text("### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n")
    assert student_edition.check(tmp_path), planted


def test_publishing_pushes_the_edition_as_one_commit_of_its_branch(edition, tmp_path):
    remote = tmp_path / "student.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(remote)], check=True)
    student_edition.push(edition, str(remote), "student")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", "--branch", "student", str(remote), str(clone)], check=True)
    log = subprocess.run(["git", "-C", str(clone), "log", "--oneline"], capture_output=True, text=True, check=True)
    assert len(log.stdout.splitlines()) == 1
    pushed = sorted(p.relative_to(clone).as_posix() for p in clone.rglob("*") if p.is_file() and ".git" not in p.parts)
    local = sorted(p.relative_to(edition).as_posix() for p in edition.rglob("*") if p.is_file())
    assert pushed == local
    assert not (edition / ".git").exists()
    assert json.loads((clone / "exercises/01_neurons/neurons.ipynb").read_text())["cells"]


def test_each_chapter_notebook_installs_the_version_of_the_package_that_pyproject_declares():
    version = sync_chapter_notebooks.package_version()
    assert sync_chapter_notebooks.requirement() == f"nnref[book]=={version}"
    twins = [p for p in student_edition.notebooks_of_book() if p.suffix == ".ipynb"]
    assert twins
    for twin in twins:
        code = [c for c in notebooks.read(twin)["cells"] if notebooks.is_code(c)]
        assert notebooks.cell_text(code[0]) == notebooks.cell_text(sync_chapter_notebooks.install_cell()), twin
        assert f'"nnref[book]=={version}"' in notebooks.cell_text(code[0])
        assert "myst_nb" not in "".join(notebooks.cell_text(c) for c in code), f"{twin.name} imports myst_nb"


def test_the_publishing_workflow_runs_the_documented_commands_and_publishes_only_the_edition():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "publish.yml").read_text())
    steps = [step for job in workflow["jobs"].values() for step in job["steps"]]
    runs = "\n".join(step.get("run", "") for step in steps)
    assert "make book" in runs and "make student-edition STUDENT_REMOTE=" in runs
    pages = [step["with"]["path"] for step in steps if step.get("uses", "").startswith("actions/upload-pages")]
    assert pages == ["_build/html"]
    assert any(step.get("uses", "").startswith("pypa/gh-action-pypi-publish") for step in steps)
    assert "solutions" not in runs and "autograder" not in runs
