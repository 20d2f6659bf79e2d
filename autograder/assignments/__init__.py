"""One room per assignment: ``autograder/assignments/<name>/``.

Each room holds the assignment's hidden checks (``checks.py``, with its
``PARTS`` table) and its mutant catalogue (``mutants.py``, which takes the
part ids from ``checks.PARTS``).  ``<name>`` is the assignment's folder under
``solutions/``; nothing else registers it.  Hidden test cells reach their
check through :func:`check`, so their text names the assignment and the part
once and no module path.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent


def room(name: str) -> Path:
    """The folder of assignment ``name``'s hidden checks and mutants."""
    return HERE / name


def names() -> list[str]:
    """The assignments that have a room, in order of name."""
    return sorted(p.name for p in HERE.iterdir() if (p / "checks.py").is_file())


def _module(name: str, kind: str) -> ModuleType:
    if not (room(name) / f"{kind}.py").is_file():
        raise ValueError(f"assignment {name!r} has no {kind}.py in {room(name)}; rooms: {', '.join(names())}")
    return importlib.import_module(f"{__name__}.{name}.{kind}")


def checks(name: str) -> ModuleType:
    """The hidden checks of assignment ``name`` (``<room>/checks.py``)."""
    return _module(name, "checks")


def mutants(name: str) -> ModuleType:
    """The mutant catalogue of assignment ``name`` (``<room>/mutants.py``)."""
    return _module(name, "mutants")


def parts(name: str):
    """The graded parts of assignment ``name``: ``{grade_id: Part}``."""
    return checks(name).PARTS


def check(name: str, grade_id: str, answer) -> None:
    """Run part ``grade_id`` of assignment ``name`` on the student's ``answer`` (a hidden test cell's one line)."""
    table = parts(name)
    if grade_id not in table:
        raise ValueError(f"assignment {name!r} has no graded part {grade_id!r}; parts: {', '.join(table)}")
    table[grade_id].check(answer)
