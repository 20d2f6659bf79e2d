"""``benchmarks/results-gpu.json``: what ``make gpu-check`` found on a GPU, and its summary.

``tools/gpu_check.py`` writes one document per run; the performance appendix
shows its summary, with the date and the card.  The summary lines are made
here once, stored in the document and printed at the end of the run, so the
terminal and the book say the same thing.  Standard library only: the
command that writes the file runs under whatever Python ``make`` finds.

Schema (``SCHEMA_VERSION``)::

    schema, kind ("gpu-check"), rehearsal (true: run on the CPU to check the
    command, no GPU numbers), date, wall_s, python, budget_s,
    gpu{name, driver, memory_gib, capability, count},
    versions{python, torch, cuda, cudnn, numpy, array_api_compat, pytest, nnref},
    stages: [{name, status ("ok", "failed", "cut", "skipped"), seconds, budget_s, notes}],
    tests{files, collected, passed, failed, errors, skipped, xfailed, not_run,
          failures[{nodeid, message}], collection_errors[{nodeid, message}], skip_reasons{reason: n}} | null,
    benchmark: row 4 as results.json holds it ({id, title, status, entries, notes}) | null,
    book{device, tolerance, chapters[{chapter, status, seconds, cells_run, comparison_cells,
         device, max_difference, output, error}]} | null,
    summary: [line, ...]
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from .report import write as write_json

SCHEMA_VERSION = 1
PATH = Path(__file__).resolve().parent / "results-gpu.json"
STAGES = ("setup", "tests", "benchmark", "book")
STAGE_STATUSES = ("ok", "failed", "cut", "skipped")
TOP = {"schema": int, "kind": str, "rehearsal": bool, "date": str, "wall_s": (int, float), "gpu": dict,
       "versions": dict, "stages": list, "summary": list}
GPU_KEYS = ("name", "driver", "memory_gib", "capability", "count")
VERSION_KEYS = ("python", "torch", "cuda", "numpy")
TEST_COUNTS = ("collected", "passed", "failed", "errors", "skipped", "not_run")
# The chapters compute in float64: NumPy and CUDA differ by rounding (about 1e-16 relative),
# which even 100 epochs of training leave far below this; a wrong code path differs by 1e-3 or more.
BOOK_TOLERANCE = 1e-6

# Row 4's entry labels (benchmarks/cuda.py); tests/test_benchmarks.py checks that every one is found.
MATMUL = re.compile(r"^matmul (?P<mode>\w+) \d+x\d+x\d+$")
SHARE = re.compile(r"^(?P<net>\S+ b\d+) (?P<mode>\w+): matmul share gemm / nnref-torch step$")
SPEEDUP = re.compile(r"^(?P<net>\S+ b\d+) FP32: GPU/CPU speed-up, (?P<who>\S+)$")
BANDWIDTH = re.compile(r"^(?P<kernel>[\w ]+): achieved / copy bandwidth$")
COPY = re.compile(r"^copy, ")


def _check(mapping: dict, keys, where: str) -> None:
    missing = [k for k in keys if k not in mapping]
    if missing:
        raise ValueError(f"results-gpu document: {where} lacks {missing}; it has {sorted(mapping)}")


def validate(doc: dict) -> dict:
    """Check the document against the schema above; return it, or raise naming what is wrong."""
    if not isinstance(doc, dict):
        raise ValueError(f"results-gpu document: expected a JSON object, got {type(doc).__name__}")
    _check(doc, TOP, "the document")
    for key, types in TOP.items():
        if not isinstance(doc[key], types) or (types is int and isinstance(doc[key], bool)):
            raise ValueError(f"results-gpu document: {key!r} is {doc[key]!r:.80}, expected {types}")
    if doc["schema"] != SCHEMA_VERSION:
        raise ValueError(f"results-gpu document: schema {doc['schema']}, expected {SCHEMA_VERSION}")
    _check(doc["gpu"], GPU_KEYS, "'gpu'")
    _check(doc["versions"], VERSION_KEYS, "'versions'")
    for stage in doc["stages"]:
        _check(stage, ("name", "status", "seconds", "budget_s", "notes"), f"stage {stage.get('name')!r}")
        if stage["name"] not in STAGES or stage["status"] not in STAGE_STATUSES:
            raise ValueError(f"results-gpu document: stage {stage['name']!r} has status {stage['status']!r}; "
                             f"stages are {STAGES}, statuses {STAGE_STATUSES}")
    if doc.get("tests") is not None:
        _check(doc["tests"], TEST_COUNTS + ("failures", "collection_errors"), "'tests'")
    if doc.get("book") is not None:
        _check(doc["book"], ("device", "tolerance", "chapters"), "'book'")
    return doc


def write(path: Path, doc: dict) -> None:
    """Validate, then write atomically (a book build reading the file never sees half of it)."""
    write_json(Path(path), validate(doc))


def read(path: Path = PATH) -> dict:
    return validate(json.loads(Path(path).read_text(encoding="utf-8")))


def headline(row: dict | None) -> dict:
    """The numbers the summary quotes, found in row 4's entries by label."""
    out = {"matmul": {}, "share": {}, "speedup": {}, "bandwidth": {}, "copy": None, "net": None}
    for entry in (row or {}).get("entries", []):
        label = entry["label"]
        judged = entry["median"] if entry.get("best") is None else entry["best"]
        if m := MATMUL.match(label):
            out["matmul"][m["mode"]] = entry["median"]
        elif m := SHARE.match(label):
            out["share"][m["mode"]] = {"value": judged, "target": entry["target"], "met": entry["met"]}
            out["net"] = m["net"]
        elif m := SPEEDUP.match(label):
            out["speedup"][m["who"]] = entry["median"]
        elif m := BANDWIDTH.match(label):
            out["bandwidth"][m["kernel"]] = judged
        elif COPY.match(label):
            out["copy"] = entry["median"]
    return out


def _number(value: float) -> str:
    """Three significant digits, never an exponent above 1000 (a card's 3000 GB/s)."""
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def _card(doc: dict) -> str:
    gpu, v = doc["gpu"], doc["versions"]
    if doc["rehearsal"]:
        return f"rehearsal on the CPU (no GPU numbers): torch {v['torch']}, Python {v['python']}"
    memory = f", {gpu['memory_gib']:g} GiB" if gpu.get("memory_gib") else ""
    return (f"{gpu['name']}{memory} (compute capability {gpu.get('capability')}), driver {gpu.get('driver')}; "
            f"torch {v['torch']}, CUDA {v['cuda']}, Python {v['python']}")


def _tests_line(tests: dict | None) -> str:
    if tests is None:
        return "CUDA test cases: not run"
    line = (f"CUDA test cases: {tests['passed']} passed, {tests['failed']} failed, {tests['errors']} errors, "
            f"{tests['skipped']} skipped, {tests['not_run']} not run, of {tests['collected']}")
    if tests["collection_errors"]:
        line += f"; {len(tests['collection_errors'])} test files could not be collected"
    return line


def _benchmark_lines(row: dict | None) -> list[str]:
    if row is None:
        return ["benchmark row 4: not run"]
    h = headline(row)
    lines = []
    if h["matmul"]:
        lines.append("matmul ceilings: " + ", ".join(f"{m} {_number(v)}" for m, v in h["matmul"].items()) + " TFLOP/s")
    if h["share"]:
        lines.append(f"MLP step {h['net']}, share of its own shapes' matmul throughput: " + ", ".join(
            f"{m} {s['value']:.0%} (target {s['target']}: {'met' if s['met'] else 'MISSED'})"
            for m, s in h["share"].items()))
    if h["bandwidth"]:
        copy = f" ({_number(h['copy'])} GB/s)" if h["copy"] is not None else ""
        lines.append(f"element-wise kernels against copy bandwidth{copy}: "
                     + ", ".join(f"{k} {v:.0%}" for k, v in h["bandwidth"].items()))
    if h["speedup"]:
        lines.append("GPU/CPU speed-up of the FP32 step: "
                     + ", ".join(f"{who} {_number(v)}x" for who, v in h["speedup"].items()))
    if not lines:
        lines.append(f"benchmark row 4: {row['status']}: " + "; ".join(row.get("notes", [])[:1]))
    return lines


def _book_line(book: dict | None) -> str:
    if book is None:
        return "book comparison cells: not run"
    chapters = book["chapters"]
    agree = [c for c in chapters if c["status"] == "ok"]
    diffs = [c["max_difference"] for c in agree if c.get("max_difference") is not None]
    line = (f"book comparison cells on {book['device']}: {len(agree)} of {len(chapters)} chapters ran and agree "
            f"with NumPy (tolerance {book['tolerance']:g}")
    line += f", largest difference {max(diffs):.1e})" if diffs else ")"
    others = [f"{Path(c['chapter']).name} {c['status']}" for c in chapters if c["status"] != "ok"]
    return line + (": " + ", ".join(others) if others else "")


def summary_lines(doc: dict) -> list[str]:
    """The short summary printed at the end of ``make gpu-check`` and shown in the appendix."""
    lines = [_card(doc), _tests_line(doc.get("tests")), *_benchmark_lines(doc.get("benchmark")),
             _book_line(doc.get("book"))]
    for stage in doc["stages"]:
        if stage["status"] in ("cut", "skipped", "failed"):
            lines.append(f"{stage['name']}: {stage['status']}: " + "; ".join(stage["notes"]))
    return lines
