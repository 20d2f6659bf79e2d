"""The report of a grading run: JSON (schema below) and a CSV of scores.

JSON::

    {"assignment": "01_neurons",
     "results": [{"student": "alice", "status": "graded" | "failed" | "ungradable",
                  "score": 12.0, "max_score": 14.0,
                  "parts": [{"id": "test_tlu", "score": 2.0, "max_score": 2.0, "message": ""}],
                  "error": null, "warnings": []}]}

``status`` is one of ``jobs.STATUSES``, where each is explained; ``error``
says why a submission that is not ``graded`` scored 0.  ``warnings`` lists
what the student changed that the grader ignored (locked or test cells
edited, deleted, duplicated or moved, points edited, extra files): the score
never depends on those cells, since they are taken from the instructor's
copy.  The CSV has one row per student: student, status, score, max_score,
then one column per part.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from .jobs import GRADED, STATUSES

KEYS = ("student", "status", "score", "max_score", "parts", "error", "warnings")


def write(path: Path, assignment: str, results: list[dict]) -> Path:
    """Write ``path`` (JSON) and ``path`` with suffix ``.csv``; returns the CSV path."""
    results = sorted(results, key=lambda r: r["student"])
    path = Path(path)
    path.write_text(json.dumps({"assignment": assignment,
                                "results": [{**{k: r.get(k) for k in KEYS}, "warnings": r.get("warnings", [])}
                                            for r in results]}, indent=1))
    table = path.with_suffix(".csv")
    part_ids = list(dict.fromkeys(p["id"] for r in results for p in r["parts"]))
    with table.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["student", "status", "score", "max_score", *part_ids])
        for r in results:
            scores = {p["id"]: p["score"] for p in r["parts"]}
            out.writerow([r["student"], r["status"], r["score"], r["max_score"],
                          *[scores.get(gid, "") for gid in part_ids]])
    return table


def summary(results: list[dict], skipped: int) -> str:
    """One paragraph for the end of a run."""
    counts = {s: sum(r["status"] == s for r in results) for s in STATUSES}
    full = sum(r["status"] == GRADED and r["score"] == r["max_score"] for r in results)
    each = [f"{counts[GRADED]} {GRADED} ({full} with full marks)"]
    each += [f"{counts[s]} {s}" for s in STATUSES if s != GRADED]
    return (f"{len(results)} submissions: {', '.join(each)}; "
            f"{skipped} already graded and skipped (use --force to regrade)")
