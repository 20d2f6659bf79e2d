"""Write an .ipynb twin of every chapter listed in _toc.yml (outputs stripped).

The chapters are MyST markdown notebooks; Colab opens only .ipynb files, and
the book theme's launch buttons point at ``book/<chapter>.ipynb`` when it
exists.  The twins are generated from the .md sources by jupytext, never
edited by hand; ``--check`` exits 1 when one is missing or stale (a test
runs it), and ``make book`` regenerates them.

A twin is opened where nothing of the course is installed (Colab, a fresh
JupyterHub image), so it starts with one more cell than its chapter: it
installs the course package (:func:`requirement`) when ``nnref`` is not
importable, and does nothing where it is (Binder, the course's venv).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools import toc  # noqa: E402 - after the path set-up above


def chapters() -> list[Path]:
    """The MyST notebooks the table of contents lists (those with a kernelspec)."""
    return [p for p in toc.sources(ROOT) if p.suffix == ".md" and _front_matter(p.read_text()).count("kernelspec:")]


def _front_matter(text: str) -> str:
    return text.split("---", 2)[1] if text.startswith("---") else ""


def package_version() -> str:
    """The course package's version, as pyproject.toml declares it."""
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def requirement(extras: str = "book") -> str:
    """What a chapter notebook installs: the course package at this version, with ``extras``."""
    return f"nnref[{extras}]=={package_version()}" if extras else f"nnref=={package_version()}"


def install_cell() -> nbformat.NotebookNode:
    """The twin's first cell: install the course package where it is missing, and only there.
    A plain ``pip install`` of the package by name, so pip's own settings (an index, a folder of
    wheels) decide where it comes from."""
    return nbformat.v4.new_code_cell(f"""\
# On Colab or a fresh JupyterHub this installs the course package; where it is there, it does nothing.
import importlib
import importlib.util
import subprocess
import sys

if importlib.util.find_spec("nnref") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "{requirement()}"], check=True)
    importlib.invalidate_caches()""")


def twin(source: Path) -> str:
    """The .ipynb text that jupytext makes of a chapter, the install cell before its first code cell."""
    notebook = jupytext.read(source)
    notebook.metadata.pop("jupytext", None)
    if any(cell.cell_type == "code" for cell in notebook.cells):
        first_code = next(i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code")
        notebook.cells.insert(first_code, install_cell())
    for index, cell in enumerate(notebook.cells):
        cell.id = f"cell-{index}"  # stable ids: the twin changes only when the chapter does
    return nbformat.writes(notebook) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report missing or stale twins")
    args = parser.parse_args(argv)
    stale = []
    for source in chapters():
        target, text = source.with_suffix(".ipynb"), twin(source)
        if target.exists() and target.read_text() == text:
            continue
        stale.append(target.relative_to(ROOT))
        if not args.check:
            target.write_text(text)
    if args.check and stale:
        print("stale or missing chapter notebooks (run `make book` or tools/sync_chapter_notebooks.py):")
        print("\n".join(f"  {p}" for p in stale))
        return 1
    for path in stale:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
