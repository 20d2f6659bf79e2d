"""Run a chapter's NumPy/torch comparison cells on a chosen torch device, without a book build.

A comparison cell is a code cell that calls ``nnref.use_backend(...)``.  It
uses what the cells before it defined, so the chapter's code cells run in
order, in one namespace, up to and including its last comparison cell, with
``NNREF_DEVICE`` set so that the torch backend lands on the device asked
for.  What a book build adds and a bare Python lacks is replaced: ``glue``
(myst-nb) records instead of displaying, ``explore`` (nnref/book/widgets.py) draws
nothing, and ``IPython.display`` is a stand-in when IPython is absent (as on
the GPU machines).  The comparison cells print ``max |numpy - torch| = ...``;
those numbers are collected and judged against ``BOOK_TOLERANCE``.

``python tools/book_cells.py book/04_mlp_backprop.md --device cuda --output result.json``
(``make gpu-check`` runs it once per chapter).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import sys
import time
import traceback
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
COMPARISON = "use_backend("
# "max |Δ parameter| = 1.2e-16", "|Δ loss| = 0.0e+00", "max |numpy - torch| of the outputs: 3.1e-17"
DIFFERENCE = re.compile(r"\|[^|\n]+\|[^=:|\n]*[=:]\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)")


def code_cells(text: str) -> list[str]:
    """The code of every ``{code-cell}`` of a MyST notebook, without its options
    (``:key: value`` lines or a ``---`` YAML block at the top of the cell)."""
    cells = []
    for body in CELL.findall(text):
        lines = body.splitlines()
        if lines and lines[0].strip() == "---":
            end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), 0)
            lines = lines[end + 1:]
        else:
            while lines and lines[0].startswith(":"):
                lines = lines[1:]
        cells.append("\n".join(lines))
    return cells


def chapters() -> list[str]:
    """The pages of the book's toc with a comparison cell, relative to the repository root."""
    from tools import toc

    return [p.relative_to(ROOT).as_posix() for p in toc.sources(ROOT) if COMPARISON in p.read_text(encoding="utf-8")]


def differences(output: str) -> list[float]:
    """Every ``|a - b| = value`` a comparison cell printed."""
    return [float(value) for value in DIFFERENCE.findall(output)]


def _stand_ins(glued: dict) -> None:
    """Modules a book build provides and a bare Python may lack (see the module docstring)."""
    myst_nb = types.ModuleType("myst_nb")
    myst_nb.glue = lambda name, value, display=True: glued.__setitem__(name, value)
    sys.modules["myst_nb"] = myst_nb
    try:
        import IPython.display  # noqa: F401 - the real one, when it is there
    except ImportError:
        ipython, display = types.ModuleType("IPython"), types.ModuleType("IPython.display")
        # matplotlib asks an imported IPython for its shell and its version: answer as a recent
        # IPython outside a shell does (no shell, nothing to patch)
        ipython.get_ipython, ipython.version_info = (lambda: None), (8, 24, 0)
        display.display = lambda *objects, **kwargs: None
        display.Markdown = display.HTML = display.Image = lambda *args, **kwargs: None
        ipython.display = display
        sys.modules.update({"IPython": ipython, "IPython.display": display})
    from nnref.book import widgets

    widgets.explore = lambda draw, **kwargs: None


def _used_cuda() -> bool:
    import torch

    return torch.cuda.is_available() and torch.cuda.max_memory_allocated() > 0


def run(chapter: Path, device: str, tolerance: float) -> dict:
    """Run the chapter's cells up to its last comparison cell; what ran, what they printed, the verdict."""
    chapter = Path(chapter).resolve()
    name = chapter.relative_to(ROOT).with_suffix("").as_posix() if chapter.is_relative_to(ROOT) else chapter.stem
    result = {"chapter": name, "status": "ok", "seconds": 0.0, "cells_run": 0, "comparison_cells": 0,
              "device": None, "max_difference": None, "output": [], "error": None}
    cells = code_cells(chapter.read_text(encoding="utf-8"))
    last = max((i for i, cell in enumerate(cells) if COMPARISON in cell), default=None)
    if last is None:
        result.update(status="skipped", error="no comparison cell (no nnref.use_backend call)")
        return result
    os.environ["NNREF_DEVICE"] = device
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.chdir(chapter.parent)  # the chapter runs where the book build runs it
    sys.path[:0] = [str(chapter.parent), str(ROOT / "book"), str(ROOT)]  # the book's own helpers: widgets, checks
    _stand_ins({})
    import matplotlib.pyplot as plt

    namespace = {"__name__": "__main__"}
    found = []
    start = time.perf_counter()
    for index, cell in enumerate(cells[: last + 1]):
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):
                exec(compile(cell, f"{name} cell {index}", "exec"), namespace)
        except Exception:
            tail = traceback.format_exc().strip().splitlines()[-3:]
            result.update(status="failed", error=f"cell {index}: " + " | ".join(tail))
            break
        finally:
            plt.close("all")
            result["cells_run"] = index + 1
        if COMPARISON in cell:
            result["comparison_cells"] += 1
            result["output"] += printed.getvalue().strip().splitlines()
            found += differences(printed.getvalue())
    result["seconds"] = round(time.perf_counter() - start, 2)
    import nnref.backend

    result["device"] = nnref.backend.resolve("torch").device
    result["max_difference"] = max(found, default=None)
    if result["status"] == "ok":
        if device.startswith("cuda") and not _used_cuda():
            result.update(status="wrong device", error=f"nothing was allocated on {device}: the cells ran elsewhere")
        elif not found:
            result.update(status="failed", error="the comparison cells printed no |a - b| = value")
        elif max(found) > tolerance:
            result.update(status="disagree", error=f"largest difference {max(found):.2e} > {tolerance:g}")
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapter", type=Path, help="a MyST chapter, e.g. book/04_mlp_backprop.md")
    parser.add_argument("--device", default="cuda", help="torch device of the comparison (default: cuda)")
    parser.add_argument("--output", type=Path, help="write the result as JSON here (default: print it)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from benchmarks.gpu_results import BOOK_TOLERANCE

    result = run(args.chapter.resolve(), args.device, BOOK_TOLERANCE)
    text = json.dumps(result, indent=1)
    if args.output:
        args.output.write_text(text + "\n")
    else:
        print(text)
    return 0 if result["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
