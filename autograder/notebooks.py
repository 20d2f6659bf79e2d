"""Reading notebooks the way nbgrader does: cell text, nbgrader's cell roles, graded parts.

One home for these rules; the grader, the mutation runner, the tools and
the tests all read notebooks through this module.  Every function accepts
what a student's file may hold: a cell without metadata, ``nbgrader``
metadata that is not a dict, a source given as a list of lines or a string.

A hidden test cell hands one notebook variable to one graded part::

    ### BEGIN HIDDEN TESTS
    from autograder.assignments import check
    check("05_vanishing", "test_clip_by_norm", clip_by_norm)
    ### END HIDDEN TESTS
"""

from __future__ import annotations

import json
import re
from pathlib import Path

# nbgrader's bookkeeping fields that change from run to run and say nothing about the content.
VOLATILE_CELL_METADATA = ("execution", "collapsed", "scrolled", "trusted")

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"

# check("<assignment>", "<grade_id>", <variable>) in a hidden test cell
HIDDEN_CHECK = re.compile(r"""^\s*check\(\s*["']([\w.-]+)["']\s*,\s*["'](\w+)["']\s*,\s*(\w+)\s*\)\s*$""",
                          re.MULTILINE)


def read(path: Path) -> dict:
    """A notebook file as JSON (no validation: callers decide what a malformed one means)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def text(source) -> str:
    """A cell's source as one string, whether stored as a list of lines or a string."""
    if isinstance(source, list):
        return "".join(str(line) for line in source)
    return "" if source is None else str(source)


def cell_text(cell: dict) -> str:
    return text(cell.get("source"))


def nbgrader(cell: dict) -> dict:
    """The cell's ``nbgrader`` metadata, ``{}`` when absent or not a dict."""
    metadata = cell.get("metadata")
    info = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    return info if isinstance(info, dict) else {}


def grade_id(cell: dict) -> str | None:
    gid = nbgrader(cell).get("grade_id")
    return gid if isinstance(gid, str) else None


def is_code(cell: dict) -> bool:
    return cell.get("cell_type") == "code"


def is_test_cell(cell: dict) -> bool:
    """An autograded test cell: graded, not an answer (nbgrader's "autograder tests")."""
    info = nbgrader(cell)
    return is_code(cell) and bool(info.get("grade")) and not info.get("solution")


def is_answer_cell(cell: dict) -> bool:
    """A cell the student writes (nbgrader's "autograded answer" or "manually graded answer")."""
    return bool(nbgrader(cell).get("solution"))


def is_locked(cell: dict) -> bool:
    """A read-only cell: restored from the instructor's copy when grading."""
    return bool(nbgrader(cell).get("locked"))


def code_cells(notebook: dict) -> dict[str, dict]:
    """Code cells by nbgrader ``grade_id``."""
    return {grade_id(cell): cell for cell in notebook.get("cells", []) if is_code(cell) and grade_id(cell)}


def locked_cells(notebook: dict) -> dict[str, dict]:
    """Locked cells by ``grade_id``."""
    return {grade_id(cell): cell for cell in notebook.get("cells", []) if is_locked(cell) and grade_id(cell)}


def test_cells(notebook: dict) -> dict[str, dict]:
    """Autograded test cells by ``grade_id``."""
    return {gid: cell for gid, cell in code_cells(notebook).items() if is_test_cell(cell)}


def answer_cells(notebook: dict) -> dict[str, dict]:
    """Answer code cells by ``grade_id``."""
    return {gid: cell for gid, cell in code_cells(notebook).items() if is_answer_cell(cell)}


def graded_parts(notebook: dict) -> dict[str, float]:
    """``{grade_id: points}`` of the autograded test cells."""
    return {gid: float(nbgrader(cell).get("points", 0)) for gid, cell in test_cells(notebook).items()}


def hidden_checks(notebook: dict) -> dict[str, tuple[str, str]]:
    """``{grade_id: (assignment, variable)}``: what each hidden test cell hands to its check."""
    out = {}
    for gid, cell in test_cells(notebook).items():
        found = HIDDEN_CHECK.search(cell_text(cell))
        if found and found.group(2) == gid:
            out[gid] = (found.group(1), found.group(3))
    return out


def test_arguments(notebook: dict) -> dict[str, str]:
    """``{grade_id: variable}``: the notebook variable each hidden test cell hands to its check."""
    return {gid: variable for gid, (_, variable) in hidden_checks(notebook).items()}


def strip_solution_markers(source: str) -> str:
    """An answer cell's code without the ``### BEGIN/END SOLUTION`` lines."""
    return "\n".join(line for line in source.split("\n") if BEGIN_SOLUTION not in line and END_SOLUTION not in line)


def normalise(notebook: dict) -> dict:
    """What a release must keep between two runs of generate_assignment: cell
    types, ids, sources and nbgrader metadata; outputs must be empty."""
    cells = []
    for cell in notebook["cells"]:
        metadata = {k: v for k, v in cell.get("metadata", {}).items() if k not in VOLATILE_CELL_METADATA}
        cells.append({
            "cell_type": cell["cell_type"],
            "id": cell.get("id"),
            "source": cell_text(cell),
            "metadata": metadata,
            "outputs": cell.get("outputs", []),
            "execution_count": cell.get("execution_count"),
        })
    return {"cells": cells, "metadata": notebook.get("metadata", {}), "nbformat": notebook.get("nbformat")}
