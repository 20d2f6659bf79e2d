"""A student's submission: finding its notebook in its folder, reading it and refusing what cannot be graded.

The folder is ``DIR/<student>/<assignment>/``, as nbgrader lays out a
course; the notebook has the name of the assignment's source notebook.
Anything that is not a runnable nbformat-4 notebook is refused with a
``ValueError`` whose message the student can act on; the result is then
``ungradable``.
"""

from __future__ import annotations

import json
from pathlib import Path

EXPECTED_FILES = ("timestamp.txt",)  # nbgrader's own, beside the notebook; hidden files (checkpoints) too


def load(folder: Path, notebook_name: str) -> dict:
    """The student's notebook as a dict; ``ValueError`` with a clear message when it cannot be graded."""
    if not folder.is_dir():
        raise ValueError(f"no folder {folder.name} in the submission")
    path = folder / notebook_name
    if not path.is_file():
        found = sorted(p.name for p in folder.glob("*.ipynb"))
        raise ValueError(f"missing notebook {notebook_name}; the submission holds {found or 'no notebook'}")
    text = path.read_bytes()
    if not text.strip():
        raise ValueError(f"{notebook_name} is an empty file")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise ValueError(f"{notebook_name} is not valid JSON: {str(error)[:200]}") from None
    if type(data) is not dict or type(data.get("cells")) is not list:
        raise ValueError(f"{notebook_name} is not a notebook: it has no list of cells")
    if data.get("nbformat") != 4:
        raise ValueError(f"{notebook_name} has nbformat {data.get('nbformat')!r}; nbformat 4 is expected")
    for i, cell in enumerate(data["cells"]):
        if type(cell) is not dict or "source" not in cell or type(cell.get("metadata", {})) is not dict:
            raise ValueError(f"{notebook_name}: cell {i} is malformed")
    return data


def extra_files(folder: Path, notebook_name: str) -> list[str]:
    """The names of the files in ``folder`` that the grader ignores, in order of name."""
    return sorted(p.name for p in folder.iterdir()
                  if p.name != notebook_name and p.name not in EXPECTED_FILES and not p.name.startswith("."))
