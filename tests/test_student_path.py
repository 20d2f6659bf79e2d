"""Notebooks run where students open them: a Colab-like machine, one notebook in an empty folder.

The simulated Colab is a fresh virtual environment holding only what a
Colab image has (ipykernel, NumPy, matplotlib, ipywidgets, torch, scikit-learn
at the course's pins) and never the course checkout.  pip inside it sees no index,
only the wheel of the student edition (``PIP_NO_INDEX``, ``PIP_FIND_LINKS``),
so a notebook that needs the course package must install it itself, exactly
as on Colab.  Each notebook is copied alone into an empty folder and executed
with nbclient on that environment's kernel.

The environment takes minutes to create: it is kept in ``_build/colab-venv``
and rebuilt when the pins change (CI starts from a clean checkout and builds
it once).

The folder pip sees holds the student edition's wheel and, standing in for
the package index Colab would use, the wheel of the one dependency a Colab
image lacks (array-api-compat, from ``tools/wheels``).  A chapter notebook
must install the course package itself (its install cell): before each
chapter runs, the package is removed from the environment, under a lock, so
that every chapter starts as on a fresh Colab machine.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder import course  # noqa: E402
from autograder.mutation import submission  # noqa: E402
from tools import student_edition  # noqa: E402

# One worker runs every test of the module, in turn: they share the simulated Colab's environment, which the
# first one builds (minutes) under a lock that a test on the other worker would sit waiting on.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("colab")]

# What a Colab image has that the notebooks may use; the versions are the course's pins.
COLAB_PACKAGES = ("ipykernel", "numpy", "matplotlib", "ipywidgets", "torch", "tqdm", "scikit-learn")
# What the course package brings that a Colab image lacks: installed by a chapter's install cell, and
# removed again before the next chapter runs.
INSTALLED_BY_THE_NOTEBOOK = ("nnref", "array-api-compat")
VENV = ROOT / "_build" / "colab-venv"
LOCK = ROOT / "_build" / ".colab-venv.lock"
CELL_TIMEOUT_S = 600


def _pins() -> list[str]:
    pinned = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        found = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line.strip())
        if found:
            pinned[found.group(1).lower()] = found.group(0)
    return [pinned.get(name, name) for name in COLAB_PACKAGES]


def _colab_python() -> Path:
    """The simulated Colab's interpreter, created once per set of pins (under a lock: xdist workers share it)."""
    pins = _pins()
    stamp = VENV / ".pins"
    wanted = hashlib.sha256("\n".join(pins).encode()).hexdigest()
    VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (stamp.is_file() and stamp.read_text() == wanted):
            shutil.rmtree(VENV, ignore_errors=True)
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
            env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_NO_INDEX", "VIRTUAL_ENV"))}
            subprocess.run([str(VENV / "bin" / "pip"), "install", "--quiet", "--no-compile", "--progress-bar", "off",
                            *pins], check=True, env=env)
            stamp.write_text(wanted)
            print(f"simulated Colab created in {time.perf_counter() - start:.0f} s")
    return VENV / "bin" / "python"


@pytest.fixture(scope="module")
def colab(tmp_path_factory, monkeypatch_module):
    """A kernel spec named ``colab`` for the simulated Colab, pip pointed at the student wheel only."""
    python = _colab_python()
    home = tmp_path_factory.mktemp("colab-jupyter")
    spec = home / "kernels" / "colab"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "simulated Colab", "language": "python"}))
    wheels = student_edition.build_wheel(tmp_path_factory.mktemp("wheels")).parent
    for wheel in (ROOT / "tools" / "wheels").glob("*.whl"):
        shutil.copy(wheel, wheels)
    monkeypatch_module.setenv("JUPYTER_PATH", str(home))
    monkeypatch_module.setenv("PIP_NO_INDEX", "1")
    monkeypatch_module.setenv("PIP_FIND_LINKS", str(wheels))
    monkeypatch_module.setenv("MPLBACKEND", "Agg")
    for name in ("PYTHONPATH", "VIRTUAL_ENV", "NNREF_BOOK_BUILD"):
        monkeypatch_module.delenv(name, raising=False)
    return python


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def run_alone(notebook: dict, name: str, folder: Path) -> None:
    """Copy ``notebook`` alone into the empty ``folder`` and execute it on the simulated Colab."""
    folder.mkdir(parents=True)
    assert not any(folder.iterdir())
    nb = nbformat.reads(json.dumps(notebook), as_version=4)
    nbformat.write(nb, folder / name)
    client = NotebookClient(nb, kernel_name="colab", timeout=CELL_TIMEOUT_S,
                            resources={"metadata": {"path": str(folder)}})
    client.execute()


@pytest.mark.parametrize("assignment", course.assignments(), ids=lambda a: a.name)
def test_a_release_runs_alone_until_its_first_unanswered_function(colab, assignment, tmp_path):
    release = json.loads(assignment.release().read_text())
    with pytest.raises(CellExecutionError) as stopped:
        run_alone(release, assignment.notebook, tmp_path / "blank")
    assert stopped.value.ename == "NotImplementedError", stopped.value


@pytest.mark.parametrize("assignment", course.assignments(), ids=lambda a: a.name)
def test_a_release_with_the_solutions_filled_in_passes_every_visible_check(colab, assignment, tmp_path):
    release = json.loads(assignment.release().read_text())
    solution = json.loads(assignment.source().read_text())
    run_alone(submission(release, solution), assignment.notebook, tmp_path / "answered")


def chapter_twins() -> list[Path]:
    """Every chapter notebook the student edition carries (the .ipynb twins of the book's pages)."""
    return [path for path in student_edition.notebooks_of_book() if path.suffix == ".ipynb"]


def _installed(python: Path, name: str) -> bool:
    found = subprocess.run([str(python), "-m", "pip", "show", "--quiet", name], capture_output=True)
    return found.returncode == 0


@pytest.mark.parametrize("twin", chapter_twins(), ids=lambda p: p.stem)
def test_a_chapter_notebook_runs_alone_and_installs_the_course_package_itself(colab, twin, tmp_path):
    notebook = json.loads(twin.read_text())
    with open(LOCK, "w") as lock:  # the environment is shared: one chapter at a time installs into it
        fcntl.flock(lock, fcntl.LOCK_EX)
        subprocess.run([str(colab), "-m", "pip", "uninstall", "--yes", "--quiet", *INSTALLED_BY_THE_NOTEBOOK],
                       check=True, capture_output=True)
        assert not _installed(colab, "nnref")
        start = time.perf_counter()
        run_alone(notebook, twin.name, tmp_path / "chapter")
        print(f"{twin.stem}: ran in {time.perf_counter() - start:.0f} s on the simulated Colab")
        assert _installed(colab, "nnref"), "the notebook ran without installing the course package"
