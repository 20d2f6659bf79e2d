"""The jail works whatever the Python installation that runs the grader looks like.

Each layout below is made in a temporary directory, without copying an
installation: symbolic links to the course's own virtual environment, a real
``python -m venv``, and hard links to the files of the Python it was made
from and of the packages a kernel needs (the files then really live in the
layout, as they would after an install).  The interpreter of the layout then
runs :data:`RUNNER`: the grading code itself (``boxes.Box``, as a grading
worker uses it) starts a jailed kernel, and a cell imports NumPy, says where
it runs from and looks for the course.  The kernel must start, on the
interpreter at the spelling it was started with, and see nothing of the
course but, at most, the course's own ``.venv``.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from packaging.requirements import Requirement

from autograder.course import ROOT
from autograder.grading import sandbox

JAIL, WHY_NO_JAIL = sandbox.jail_available()
NEEDS_JAIL = pytest.mark.skipif(not JAIL, reason=f"needs the jail, which this host cannot build: {WHY_NO_JAIL}")

VERSION = f"python{sys.version_info.major}.{sys.version_info.minor}"
PACKAGES = sysconfig.get_path("purelib")  # the site-packages of the Python running the tests
# what a kernel and the grading code around it import: these distributions and what they require
KERNEL_DISTRIBUTIONS = ("ipykernel", "nbclient", "numpy")
# the parts of the standard library no kernel imports (the test suite alone is 2/3 of it)
UNUSED_STDLIB = ("site-packages", "dist-packages", "test", "idlelib", "tkinter", "turtledemo", "ensurepip",
                 "lib2to3")

RUNNER = """\
import json, os, sys
from autograder.grading import linux, sandbox
from autograder.grading.boxes import Box
from autograder.grading.limits import Limits

linux.private_mounts()  # a grading worker's mount namespace of its own (worker.private_mounts)
box = Box(Limits(), jailed=True, uid=sandbox.kernel_uid(os.getpid(), 1))
try:
    try:
        box.connect()
    except Exception as error:
        log = (box.work / "kernel.log").read_text(errors="replace")
        sys.exit(f"the jailed kernel did not start: {error!r}; its log: {log[-2000:]}")
    cell = box.kernel.execute(sys.argv[1], 60)
    print(json.dumps(cell.outputs))
finally:
    box.close()
"""

CELL = """\
import json, os, sys
import numpy
course = {course!r}
maps = open("/proc/self/maps").read().split()
print(json.dumps({{"numpy": numpy.__version__, "executable": sys.executable, "prefix": sys.prefix,
                   "base_prefix": sys.base_prefix, "uid": os.getuid(),
                   "course": sorted(os.listdir(course)) if os.path.isdir(course) else None,
                   "solutions": os.path.exists(os.path.join(course, "solutions")),
                   "autograder": os.path.exists(os.path.join(course, "autograder")),
                   "libpython": sorted({{word for word in maps if "/libpython" in word}})}}))
"""


@dataclass(frozen=True)
class Layout:
    python: Path  # the interpreter the grader runs on, as it is spelled
    prefix: Path  # its sys.prefix
    base_prefix: Path  # its sys.base_prefix


def _link_or_copy(source: str, target: str) -> None:
    """A hard link, or a copy where ``target`` is on another file system than ``source``."""
    try:
        os.link(source, target)
    except OSError as error:
        if error.errno != errno.EXDEV:
            raise
        shutil.copy2(source, target)


def _fill(source: Path, target: Path, names) -> None:
    """Hard-link the entries ``names`` of the directory ``source`` into ``target``, trees whole."""
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        entry = source / name
        if entry.is_symlink():
            os.symlink(os.readlink(entry), target / name)
        elif entry.is_dir():
            shutil.copytree(entry, target / name, symlinks=True, copy_function=_link_or_copy)
        elif entry.exists():
            _link_or_copy(str(entry), str(target / name))


@functools.cache
def _kernel_packages() -> frozenset[str]:
    """The entries of the tests' site-packages that :data:`KERNEL_DISTRIBUTIONS` need, recursively."""
    seen, todo, entries = set(), list(KERNEL_DISTRIBUTIONS), set()
    while todo:
        requirement = Requirement(todo.pop())
        name = requirement.name.lower().replace("_", "-")
        if name in seen or (requirement.marker and not requirement.marker.evaluate({"extra": ""})):
            continue
        seen.add(name)
        dist = metadata.distribution(name)
        entries |= {Path(f).parts[0] for f in dist.files or () if not str(f).startswith("..")}
        todo += dist.requires or []
    return frozenset(entry for entry in entries if (Path(PACKAGES) / entry).exists())


def _install_packages(python: Path) -> None:
    """Put the kernel's packages where ``python`` installs packages, and the course on its path as ``make``
    puts it there (a ``.pth`` line), so that ``python -m autograder.grading.sandbox`` runs."""
    where = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                           capture_output=True, text=True, check=True, timeout=60, env={}).stdout.strip()
    _fill(Path(PACKAGES), Path(where), sorted(_kernel_packages()))
    (Path(where) / "nnref-course.pth").write_text(f"{ROOT}\n")


def _base_python() -> Path:
    """The real executable of the Python that the tests' interpreter is, or was made from."""
    return Path(os.path.realpath(getattr(sys, "_base_executable", sys.executable)))


def _libpython() -> Path | None:
    """The shared libpython this interpreter has loaded; None for a Python linked statically."""
    for line in Path("/proc/self/maps").read_text().splitlines():
        name = line.split(maxsplit=5)[-1]
        if "/libpython" in name:
            return Path(name)
    return None


def _standalone(prefix: Path, executable: str) -> Path:
    """An installation of its own at ``prefix`` (no ``pyvenv.cfg``): ``bin/python3.11`` hard-linked to the
    base interpreter, ``bin/<executable>`` a link to it, the standard library and the kernel's packages in
    ``lib/python3.11``.  Python finds its prefix from where the executable lies; returns the executable."""
    stdlib = Path(sysconfig.get_path("stdlib"))
    _fill(stdlib, prefix / "lib" / VERSION, sorted(set(os.listdir(stdlib)) - set(UNUSED_STDLIB)))
    (prefix / "bin").mkdir()
    _link_or_copy(str(_base_python()), str(prefix / "bin" / VERSION))
    if executable != VERSION:
        (prefix / "bin" / executable).symlink_to(VERSION)
    _install_packages(prefix / "bin" / executable)
    return prefix / "bin" / executable


@pytest.fixture(scope="module")
def place(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pythons")


@pytest.fixture(scope="module")
def venv_elsewhere(place) -> Layout:
    """A virtual environment outside the course, with its packages in it, made by ``python -m venv``
    through a link to the base interpreter: its ``bin/python`` leads through ``bin/python3``, a link to
    that link (``opt/bin/python3``, in no installation), to the real interpreter outside ``/usr``."""
    (place / "opt" / "bin").mkdir(parents=True)
    base = place / "opt" / "bin" / "python3"
    base.symlink_to(_base_python())
    venv = place / "opt" / "venv"
    subprocess.run([base, "-m", "venv", "--without-pip", venv], check=True, timeout=60)
    _install_packages(venv / "bin" / "python")
    return Layout(venv / "bin" / "python", venv, Path(sys.base_prefix))


@pytest.fixture(scope="module")
def link_to_course_venv(place) -> Layout:
    """The virtual environment the tests run in (the course's ``.venv``, in the course) reached through a
    link elsewhere: only the environment may be bound, never the course around it."""
    link = place / "venv-link"
    link.symlink_to(sys.prefix)
    python = link / "bin" / "python"
    assert python.exists(), f"{sys.prefix} has no bin/python"
    return Layout(python, link, Path(sys.base_prefix))


@pytest.fixture(scope="module")
def link_to_venv_elsewhere(place, venv_elsewhere) -> Layout:
    """The instructor's report: the grader's ``.venv`` is a link to a virtual environment elsewhere
    (``.venv -> /data/venvs/course``), and the kernel is started as ``.venv/bin/python``."""
    link = place / "course" / ".venv"
    link.parent.mkdir()
    link.symlink_to(venv_elsewhere.prefix)
    return Layout(link / "bin" / "python", link, venv_elsewhere.base_prefix)


@pytest.fixture(scope="module")
def system(place) -> Layout:
    """A system Python: no virtual environment (``sys.prefix == sys.base_prefix``), the packages in its
    own site-packages, started as ``bin/python3``, a link to ``python3.11``.  Its executable is the base
    interpreter's, hard-linked, so a shared libpython, if it uses one, still comes from the directory its
    RUNPATH names, outside this prefix (as a distribution keeps ``libpython`` in a library directory of
    its own): the jail finds it only among the libraries the interpreter has loaded.  Without it, the
    loader may take another libpython of the same version from its cache (Debian's, here), whose frozen
    ``site`` module looks for packages elsewhere."""
    prefix = place / "system"
    return Layout(_standalone(prefix, "python3"), prefix, prefix)


@pytest.fixture(scope="module")
def conda(place) -> Layout:
    """A conda-style prefix: ``bin/python``, ``lib/python3.11/site-packages``, no ``pyvenv.cfg``, a
    ``conda-meta/``, and, where the base interpreter loads a shared libpython, its own copy in
    ``lib/``, found through a RUNPATH of ``$ORIGIN/../lib``.  The executable (a copy, here) gets that
    RUNPATH the way conda relocates a package: the path in the binary replaced, padded with NUL bytes."""
    prefix = place / "conda"
    python = _standalone(prefix, "python")
    (prefix / "conda-meta").mkdir()
    (prefix / "conda-meta" / "history").touch()
    libpython = _libpython()
    if libpython is not None:
        _link_or_copy(str(libpython), str(prefix / "lib" / libpython.name))
        executable = prefix / "bin" / VERSION
        binary = executable.read_bytes()
        old, new = str(libpython.parent).encode() + b"\0", b"$ORIGIN/../lib\0"
        if new not in binary:
            if binary.count(old) != 1:
                pytest.skip(f"cannot make {_base_python()} load a libpython of the prefix: its RUNPATH is "
                            f"neither {libpython.parent} nor $ORIGIN/../lib")
            executable.unlink()  # a hard link to the base interpreter: write a file of its own
            executable.write_bytes(binary.replace(old, new.ljust(len(old), b"\0")))
            executable.chmod(0o755)
    return Layout(python, prefix, prefix)


def _run_jailed(layout: Layout, cwd: Path) -> dict:
    """What :data:`CELL` printed in a jailed kernel that the grading code started on ``layout.python``."""
    runner = cwd / "runner.py"
    runner.write_text(RUNNER)
    env = {"PATH": f"{layout.python.parent}:/usr/bin:/bin", "HOME": str(cwd), "LANG": "C.UTF-8"}
    done = subprocess.run([layout.python, runner, CELL.format(course=str(ROOT))], capture_output=True,
                          text=True, timeout=180, cwd=cwd, env=env)
    assert done.returncode == 0, f"{layout.python}: {done.stderr[-3000:]}"
    outputs = json.loads(done.stdout)
    text = "".join(out.get("text", "") for out in outputs if out.get("name") == "stdout")
    assert text, f"the cell printed nothing: {outputs}"
    return json.loads(text)


def _venv_in_course() -> set[str]:
    """The name of the tests' virtual environment in the course (``{".venv"}``), if it lies there."""
    real = Path(os.path.realpath(sys.prefix))
    return {real.relative_to(ROOT).parts[0]} if real.is_relative_to(ROOT) and real != ROOT else set()


LAYOUTS = ["link_to_course_venv", "link_to_venv_elsewhere", "venv_elsewhere", "system", "conda"]


@pytest.mark.slow
@NEEDS_JAIL
@pytest.mark.parametrize("name", LAYOUTS)
def test_a_jailed_kernel_starts_on_each_python_layout_and_sees_no_course(request, tmp_path, name):
    layout: Layout = request.getfixturevalue(name)
    seen = _run_jailed(layout, tmp_path)
    assert seen["numpy"] == np.__version__
    assert seen["uid"] >= sandbox.UID_BASE, "the kernel did not run as the jail's user"
    # the interpreter at the spelling the kernel was started with, and the installation it belongs to
    assert (seen["executable"], seen["prefix"], seen["base_prefix"]) == (
        str(layout.python), str(layout.prefix), str(layout.base_prefix))
    assert not seen["solutions"] and not seen["autograder"]
    assert set(seen["course"] or ()) <= _venv_in_course(), f"the jail shows the course: {seen['course']}"
    # the libpython the interpreter was built with, not another one the loader finds in its cache
    libpython = _libpython()
    if libpython is not None:
        expected = layout.prefix / "lib" / libpython.name if name == "conda" else libpython
        assert seen["libpython"] == [str(expected)]


def test_the_jail_binds_nothing_of_the_course_but_a_python_installed_in_it():
    """The course's editable install puts the course itself on ``sys.path`` (a ``.pth`` line): it is
    left out, and of the course only a Python installation in it (its ``.venv``) may be bound."""
    binds, links = sandbox.python_binds({"the course": str(ROOT)})
    installations = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix)}
    assert binds, "nothing of this interpreter would be bound"
    for path in map(Path, binds):
        assert not ROOT.is_relative_to(path), f"{path} holds the course"
        assert not path.is_relative_to(ROOT) or any(map(path.is_relative_to, installations)), \
            f"{path} is the course's"
    assert all(os.path.islink(link) for link in links)


def test_an_installation_that_holds_the_course_is_refused_with_both_named():
    prefix = os.path.realpath(sys.prefix)
    course = os.path.join(prefix, "course")
    message = f"installation {sys.prefix} .*holds the course {course}, which the kernel must not see"
    with pytest.raises(ValueError, match=re.escape(message).replace(re.escape(".*"), ".*")):
        sandbox.python_binds({"the course": course})


def test_a_checkout_on_the_search_path_is_never_bound(tmp_path, monkeypatch):
    """A folder on ``sys.path`` outside every installation (another checkout of the course named by the
    venv's ``.pth`` line, ``PYTHONPATH``) may hold solutions: the jail leaves it out."""
    other = tmp_path / "other-checkout"
    (other / "solutions").mkdir(parents=True)
    monkeypatch.setattr(sys, "path", [*sys.path, str(other)])
    binds, _ = sandbox.python_binds({"the course": str(ROOT)})
    assert not any(other.is_relative_to(path) for path in map(Path, binds))
    assert binds  # the installation itself still is
