"""The student's notebook merged with the instructor's: what runs in the kernel, and the graded notebook.

Locked cells always come from the instructor's source notebook, whatever the
student did to them; test cells never run in the kernel (the hidden tests
never reach the sandbox: each part is checked in the grader's process).

The graded notebook is the one ``nbgrader autograde`` would write into
``autograded/``, so that nbgrader's own tools read it (``generate_feedback``,
the formgrader): each cell the gradebook records carries the nbgrader
metadata ``generate_assignment`` records for it (:func:`registered`), a
locked cell the instructor's source (a test cell with its hidden tests: the
notebook is the instructor's, and feedback hides them), a code cell the
outputs it produced in the sandbox, and the test cell of each part that
lost points an error output with the check's message, where nbgrader's
failing hidden test would have put its traceback.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import re

from .. import notebooks

# What nbgrader's ClearOutput removes from each cell's metadata before autograde runs the notebook.
CLEARED_METADATA = ("collapsed", "scrolled")
CELL_TYPES = ("code", "markdown", "raw")
CELL_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")  # nbformat 4.5's cell ids
RESTORED = "(this cell was missing from the submitted notebook: the grader put the instructor's copy back)"
# nbgrader is imported where it is used: importing it takes seconds, which the grading worker pays once,
# at its first graded notebook, and the modules that only need cells_to_run never pay.


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


@functools.lru_cache(maxsize=1)
def _config():
    from nbgrader.apps.baseapp import NbGrader

    app = NbGrader(log_level=logging.ERROR)  # nbgrader warns when no file is found; its defaults apply then
    app.load_config_file()
    return app.config


def nbgrader_config():
    """nbgrader's configuration, loaded as its commands load it (once per process): ``nbgrader_config.py``
    in Jupyter's configuration path and in the current directory, the course root when run from there."""
    return copy.deepcopy(_config())


def registered(source: dict):
    """The source notebook as ``nbgrader generate_assignment`` records it in the gradebook: the notebook
    that its own preprocessors before ``SaveCells``, as the course configures them, make of the source
    (cells locked, solutions and outputs cleared, checksums computed; hidden tests still there)."""
    import nbformat
    from nbgrader.converters import GenerateAssignment
    from nbgrader.preprocessors import SaveCells
    from traitlets.utils.importstring import import_item

    config = nbgrader_config()
    nb, resources = nbformat.reads(json.dumps(source), as_version=4), {}
    for step in GenerateAssignment(config=config).preprocessors:
        step = import_item(step) if isinstance(step, str) else step
        if issubclass(step, SaveCells):
            return nb
        nb, resources = step(config=config)(nb, resources)
    raise ValueError("GenerateAssignment.preprocessors, as nbgrader_config.py sets them, have no SaveCells: "
                     "nbgrader would record no cells in the gradebook")


def recorded_cells(notebook) -> dict:
    """The cells of ``notebook`` that nbgrader records in the gradebook (grade, solution, task and locked
    cells: ``SaveCells``'s choice), by ``grade_id``, as nbformat nodes."""
    import nbformat
    from nbgrader import utils

    out = {}
    for raw in notebook["cells"]:
        if "nbgrader" not in raw.get("metadata", {}):
            continue
        # a node as nbgrader reads it (cell.metadata.nbgrader, cell.outputs[i].output_type), converted no
        # deeper: the source's lines and the outputs' data stay as they are
        cell = nbformat.NotebookNode(raw)
        cell["metadata"] = nbformat.from_dict(raw["metadata"])
        if "outputs" in raw:
            cell["outputs"] = [nbformat.NotebookNode(output) for output in raw["outputs"]]
        if any(test(cell) for test in (utils.is_grade, utils.is_solution, utils.is_task, utils.is_locked)):
            out[cell.metadata.nbgrader["grade_id"]] = cell
    return out


def autograded(student: dict, source: dict, outputs: dict[int, list], parts: list[dict] = ()) -> dict:
    """The student's notebook as graded, as ``nbgrader autograde`` writes it into ``autograded/``.

    A cell whose ``grade_id`` the gradebook records takes that record's nbgrader metadata, a locked one its
    source too; when the student has several such cells, the last one does (nbgrader's ``DeduplicateIds``),
    and the others, like any cell whose nbgrader metadata names no recorded cell, lose their nbgrader
    metadata.  A graded cell the student deleted comes back after the recorded cell before it (nbgrader's
    ``OverwriteCells.add_missing_cells``), since its part is graded all the same.  Code cells hold the
    outputs they produced in the sandbox (``outputs``, by index in ``student``); the test cell of each of
    ``parts`` (the result's) that lost points, an error output with the part's message.
    """
    as_recorded = registered(source)
    recorded = recorded_cells(as_recorded)
    failures = {part["id"]: part for part in parts if part["score"] < part["max_score"]}
    last = {notebooks.grade_id(cell): index for index, cell in enumerate(student["cells"])}
    cells, placed = [], {}
    for index, cell in enumerate(student["cells"]):
        gid = notebooks.grade_id(cell)
        record = recorded.get(gid) if gid is not None and last[gid] == index else None
        if record is not None:
            placed[gid] = len(cells)
        cells.append(_graded_cell(cell, record, outputs.get(index, []), failures.get(gid) if record else None))
    _restore_deleted(cells, placed, recorded, failures)
    _unique_ids(cells)
    metadata = copy.deepcopy(student["metadata"]) if isinstance(student.get("metadata"), dict) else {}
    if as_recorded.metadata.get("kernelspec"):  # nbgrader's OverwriteKernelspec: the kernel the gradebook records
        metadata["kernelspec"] = copy.deepcopy(dict(as_recorded.metadata.kernelspec))
    return {"cells": cells, "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}


def _graded_cell(cell: dict, record, outputs: list, failure: dict | None) -> dict:
    """One cell of the graded notebook: the student's ``cell`` with its recorded cell ``record`` (or None)
    applied as nbgrader's ``OverwriteCells`` applies it, its ``outputs`` and the ``failure`` of its part."""
    from nbgrader import utils

    metadata = {key: copy.deepcopy(value) for key, value in cell.get("metadata", {}).items()
                if key != "nbgrader" and key not in CLEARED_METADATA}
    kind, text = cell.get("cell_type"), notebooks.cell_text(cell)
    if record is not None:
        kind = record.cell_type
        if utils.is_locked(record):
            metadata, text = copy.deepcopy(dict(record.metadata)), record.source
        else:
            metadata["nbgrader"] = copy.deepcopy(dict(record.metadata.nbgrader))
    graded = {"cell_type": kind if kind in CELL_TYPES else "raw", "id": cell.get("id"), "metadata": metadata,
              "source": text}
    if graded["cell_type"] == "code":
        graded["execution_count"] = None
        graded["outputs"] = copy.deepcopy(list(outputs)) + ([_failed_test(failure)] if failure else [])
    elif isinstance(cell.get("attachments"), dict):
        graded["attachments"] = copy.deepcopy(cell["attachments"])
    return graded


def _failed_test(part: dict) -> dict:
    """The error output of a test cell whose part lost points: the check's message, as a failed assertion."""
    message = part["message"] or f"{part['id']} scored {part['score']:g} of {part['max_score']:g}"
    return {"output_type": "error", "ename": "AssertionError", "evalue": message,
            "traceback": [f"AssertionError: {message}"]}


def _restore_deleted(cells: list, placed: dict, recorded: dict, failures: dict) -> None:
    """Put back each recorded grade or task cell missing from ``cells`` (``placed``: where each recorded
    cell is), after the cell of the recorded cell that comes before it in the source."""
    from nbgrader import utils

    previous = -1
    for gid, record in recorded.items():
        if gid in placed:
            previous = placed[gid]
            continue
        if not (utils.is_grade(record) or utils.is_task(record)):
            continue
        cell = _graded_cell({"cell_type": record.cell_type, "source": record.source}, record, [], failures.get(gid))
        cell["source"] = (f"# {RESTORED}\n" if record.cell_type == "code" else f"{RESTORED}\n\n") + cell["source"]
        previous += 1
        cells.insert(previous, cell)
        placed.update({g: i + 1 for g, i in placed.items() if i >= previous})
        placed[gid] = previous


def _unique_ids(cells: list) -> None:
    """Give each cell a valid id of its own: the student's where it is one, else ``graded-<index>``."""
    taken = set()
    for index, cell in enumerate(cells):
        wanted = cell.get("id")
        if not (isinstance(wanted, str) and CELL_ID.match(wanted)) or wanted in taken:
            wanted, n = f"graded-{index}", 0
            while wanted in taken:
                n += 1
                wanted = f"graded-{index}-{n}"
        cell["id"] = wanted
        taken.add(wanted)
