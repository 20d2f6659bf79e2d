"""What the book tests share: building the book once, the table of contents,
the chapter conventions, and parsing the built pages.

The conventions a chapter follows (checked by tests/test_book.py):

* its first section (``##``) is "Learning goals";
* its last two sections are "Summary" and then "Exercise", and the Exercise
  section links its graded notebook with
  ``{download}`../exercises/<assignment>/<notebook>.ipynb```;
* every image is a figure with alt text and a caption (a code cell's
  ``mystnb: image: alt`` and ``mystnb: figure: caption`` metadata, or
  ``widgets.explore(..., alt=..., caption=...)``);
* maths is written with ``$...$``, ``$$...$$`` or ``{math}`` and typeset by
  MathJax, which the book serves itself.
"""

from __future__ import annotations

import fcntl
import functools
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tools import toc

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "_build"
# NNREF_BOOK_PREBUILT=<a built _build/html>: check that site instead of building the book
# (a build made elsewhere, e.g. with --path-output, while _build belongs to someone else)
PREBUILT = os.environ.get("NNREF_BOOK_PREBUILT")
HTML = Path(PREBUILT).resolve() if PREBUILT else BUILD / "html"
TOC = ROOT / "_toc.yml"
CONFIG = ROOT / "_config.yml"
BIB = ROOT / "book" / "references.bib"
LOG = BUILD / "book-build.log"

ROOT_DOC = "book/intro"
BIBLIOGRAPHY_DOC = "book/bibliography"


def _exercises() -> dict[str, str]:
    """Chapter number -> the graded exercise its Exercise section links: the assignment under solutions/
    whose name starts with that number (``"05": "05_vanishing/vanishing.ipynb"``)."""
    from autograder import course

    found: dict[str, str] = {}
    for assignment in course.assignments(ROOT):
        number = assignment.name[:2]
        if number in found:
            raise ValueError(f"assignments {found[number]} and {assignment.name} both claim chapter {number}")
        found[number] = f"{assignment.name}/{assignment.notebook}"
    return found


EXERCISES = _exercises()

BUILD_COMMAND = ["build", ".", "--warningiserror", "--keep-going"]


class BookBuildError(RuntimeError):
    """``jupyter-book build`` failed; the message carries the end of its log."""


def _jupyter_book() -> list[str]:
    """The jupyter-book of the interpreter running the tests (its own bin dir)."""
    own = Path(sys.executable).parent / "jupyter-book"
    if own.exists():
        return [str(own)]
    found = shutil.which("jupyter-book")
    if found:
        return [found]
    raise BookBuildError(f"jupyter-book is not installed next to {sys.executable} nor on PATH")


_BUILT: dict[str, object] = {}


def build_book() -> Path:
    """Run ``NNREF_BOOK_BUILD=1 jupyter-book build . --warningiserror --keep-going``
    with the execution cache, and return ``_build/html``.

    The build always runs once per test run (a cached rebuild of an
    unchanged book takes a few seconds), unless NNREF_BOOK_PREBUILT names
    a site built already.  A failed build is not retried:
    every test that needs the book reports the same failure.
    """
    if "result" not in _BUILT:
        try:
            _BUILT["result"] = _prebuilt() if PREBUILT else _run_build()
        except BookBuildError as error:
            _BUILT["result"] = error
    if isinstance(_BUILT["result"], BookBuildError):
        raise _BUILT["result"]
    return _BUILT["result"]


def _prebuilt() -> Path:
    if not (HTML / "index.html").is_file():
        raise BookBuildError(f"NNREF_BOOK_PREBUILT={PREBUILT}: no built site there (no index.html)")
    return HTML


def _run_build() -> Path:
    """Build under a file lock.  Under pytest-xdist the first worker builds and
    records the outcome for its run (PYTEST_XDIST_TESTRUNUID); the others reuse
    it, so no worker rewrites the site while another one reads it."""
    BUILD.mkdir(exist_ok=True)
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    outcome = BUILD / ".book-build-outcome"
    with open(BUILD / ".book-build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if run_id and outcome.is_file():
            recorded_run, _, status = outcome.read_text().partition("\n")
            if recorded_run == run_id:
                if status == "ok":
                    return HTML
                raise BookBuildError(status)
        try:
            _jupyter_book_build()
        except BookBuildError as error:
            if run_id:
                outcome.write_text(f"{run_id}\n{error}")
            raise
        if run_id:
            outcome.write_text(f"{run_id}\nok")
    return HTML


def _jupyter_book_build() -> None:
    env = dict(os.environ, NNREF_BOOK_BUILD="1")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    start = time.perf_counter()
    with open(LOG, "w") as log:
        result = subprocess.run(
            _jupyter_book() + BUILD_COMMAND, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        tail = "\n".join(LOG.read_text(errors="replace").splitlines()[-60:])
        raise BookBuildError(
            f"jupyter-book build exited with {result.returncode} after {seconds:.0f} s; "
            f"full log in {LOG}; its last lines:\n{tail}"
        )
    print(f"book built in {seconds:.1f} s (log: {LOG})")


def built_book() -> Path:
    """``build_book()`` for a fixture: a failed build fails the test with its log."""
    try:
        return build_book()
    except BookBuildError as error:
        pytest.fail(str(error), pytrace=False)


def toc_docnames() -> list[str]:
    """Every document the table of contents lists, root first, in reading order (``tools.toc``)."""
    return toc.docnames(TOC)


def chapter_docnames() -> list[str]:
    """The chapters: the toc entries named ``book/NN_*`` (an appendix or the
    bibliography is a page of the book, with the page checks only)."""
    return [n for n in toc_docnames() if re.fullmatch(r"book/\d\d_[^/]+", n)]


def expected_exercise(docname: str) -> str | None:
    """``01_neurons/neurons.ipynb`` for ``book/01_neurons``; None for an unnumbered page."""
    number = Path(docname).name[:2]
    return EXERCISES.get(number)


def page_path(docname: str) -> Path:
    return HTML / f"{docname}.html"


@functools.cache
def _soup_cached(path: str, mtime: float):
    from bs4 import BeautifulSoup

    return BeautifulSoup(Path(path).read_text(encoding="utf-8"), "html.parser")


def soup(path: Path):
    """The parsed page (cached until the file changes; shared, so copy it before changing it)."""
    return _soup_cached(str(path), path.stat().st_mtime)


def article(path: Path):
    """The page's main content (``article.bd-article``), without the theme's chrome."""
    node = soup(path).select_one("article.bd-article")
    assert node is not None, f"{path.relative_to(HTML)}: no <article class='bd-article'> (not a book page?)"
    return node


def bib_keys() -> list[str]:
    """The citation keys of book/references.bib, in file order."""
    return re.findall(r"^@\w+\s*\{\s*([^,\s]+)\s*,", BIB.read_text(encoding="utf-8"), flags=re.M)


def config() -> dict:
    return yaml.safe_load(CONFIG.read_text())


def html_pages() -> list[Path]:
    """Every HTML page of the site (not the copied sources or static assets)."""
    skip = {"_sources", "_static", "_downloads", "_images"}
    return sorted(p for p in HTML.rglob("*.html") if not skip & set(p.relative_to(HTML).parts))


def chapter_sources() -> dict[str, str]:
    """docname -> MyST source text of every chapter in the toc."""
    return {name: (ROOT / f"{name}.md").read_text(encoding="utf-8") for name in chapter_docnames()}
