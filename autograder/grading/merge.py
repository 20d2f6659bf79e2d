"""The student's notebook merged with the instructor's: what runs in the kernel, and the graded notebook.

Locked cells always come from the instructor's source notebook, whatever the
student did to them; test cells never run in the kernel (the hidden tests
never reach the sandbox: each part is checked in the grader's process).
"""

from __future__ import annotations

from .. import notebooks


def cells_to_run(student: dict, source: dict) -> list[tuple[int, str]]:
    """``(index in the student's notebook, code)`` for each code cell to run: the student's code cells,
    with locked cells taken from the source and test cells left out."""
    locked = notebooks.locked_cells(source)
    cells = []
    for index, cell in enumerate(student["cells"]):
        if not notebooks.is_code(cell):
            continue
        gid = notebooks.grade_id(cell)
        if gid in locked:
            cell = locked[gid]
            if notebooks.is_test_cell(cell) or not notebooks.is_code(cell):
                continue  # a test cell is graded here, never run in the sandbox; a locked text cell is not code
        elif notebooks.is_test_cell(cell):
            continue  # a test cell the source does not know (added or renamed): not run
        cells.append((index, notebooks.cell_text(cell)))
    return cells


def autograded(student: dict, source: dict, outputs: dict[int, list]) -> dict:
    """The student's notebook as graded: locked cells from the source (test cells with their hidden
    tests, for the feedback page to hide), and the outputs each code cell produced in the sandbox."""
    locked = notebooks.locked_cells(source)
    cells = []
    for index, cell in enumerate(student["cells"]):
        cell = dict(locked.get(notebooks.grade_id(cell), cell))
        cell["source"] = notebooks.cell_text(cell)
        if notebooks.is_code(cell):
            cell["outputs"], cell["execution_count"] = outputs.get(index, []), None
        cells.append(cell)
    return {"cells": cells, "metadata": source.get("metadata", {}), "nbformat": 4, "nbformat_minor": 5}
