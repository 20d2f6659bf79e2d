"""Write autograder/visible.py into the helper cell of every source notebook (or of the named assignments).

The visible tests under each answer use the helpers of one locked, ungraded cell, grade_id
``visible_checks``, placed right after the ``setup`` cell; its text is the source of
``autograder/visible.py``, the module whose rules the hidden checks use too, so the rules are written once.
This tool inserts the cell where it is missing and rewrites it where it differs; then regenerate the
releases with ``tools/make_exercises.py``.  ``--check`` changes nothing and fails when a notebook is out of
date.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autograder import course, notebooks  # noqa: E402 - after the path set-up above

MODULE = course.ROOT / "autograder" / "visible.py"
GRADE_ID = "visible_checks"
SETUP = "setup"


def cell_source() -> str:
    """What the helper cell holds: the module's source, without its final newline."""
    return MODULE.read_text(encoding="utf-8").rstrip("\n")


def new_cell() -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(cell_source())
    cell.id = GRADE_ID.replace("_", "-")
    cell.metadata["nbgrader"] = {"grade": False, "grade_id": GRADE_ID, "locked": True, "schema_version": 3,
                                 "solution": False}
    return cell


def synced(notebook: nbformat.NotebookNode) -> bool:
    """Put the helper cell right after the setup cell, with the module's source; True when it changed."""
    cells = notebook.cells
    ids = [notebooks.grade_id(cell) for cell in cells]
    if SETUP not in ids:
        raise ValueError(f"the notebook has no {SETUP!r} cell to put the {GRADE_ID!r} cell after")
    position = ids.index(SETUP) + 1
    if GRADE_ID in ids:
        index = ids.index(GRADE_ID)
        cell = cells[index]
        if index == position and notebooks.cell_text(cell) == cell_source() and notebooks.nbgrader(cell) == (
                new_cell().metadata["nbgrader"]) and not cell.get("outputs"):
            return False
        del cells[index]
        position = ids.index(SETUP) + 1
    cells.insert(position, new_cell())
    return True


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("assignments", nargs="*", help="assignment names (default: all under solutions/)")
    parser.add_argument("--check", action="store_true", help="change nothing; fail if a notebook is out of date")
    args = parser.parse_args(argv)
    names = args.assignments or [a.name for a in course.assignments()]
    stale = []
    for name in names:
        path = course.get(name).source()
        notebook = nbformat.read(path, as_version=4)
        if synced(notebook):
            stale.append(name)
            if not args.check:
                path.write_text(nbformat.writes(notebook) + "\n", encoding="utf-8")
                print(f"{path.relative_to(course.ROOT)}: helper cell written")
    if args.check and stale:
        print(f"out of date: {', '.join(stale)}; run tools/sync_visible_cell.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
