"""The report of a grading run: JSON (schema below) and a CSV of scores.

JSON::

    {"assignment": "01_neurons",
     "results": [{"student": "alice", "status": "graded",
                  "score": 12.0, "max_score": 14.0,
                  "parts": [{"id": "test_tlu", "score": 2.0, "max_score": 2.0, "message": "",
                             "mistake": null}],
                  "error": null, "warnings": [],
                  "timestamp": "2026-03-02 17:58:23.948203 UTC", "late_seconds": 0.0, "penalty": 0.0,
                  "detail": ""}]}

A part's ``mistake`` is null at full marks, else the code of the mistake
that cost it points (``autograder.mistakes.CODES``; ``other`` when none
matched).  ``status`` is one of ``jobs.STATUSES``, where each is explained; ``error``
says why a submission that is not ``graded`` scored 0, or, for ``error``
and ``missing``, why it has no score (``score`` and ``max_score`` are then
null, ``parts`` empty, and ``detail`` holds the grader's traceback or log,
for the instructor).  ``warnings`` lists what the student changed that the
grader ignored (locked or test cells edited, deleted, duplicated or moved,
points edited, extra files): the score never depends on those cells, since
they are taken from the instructor's copy.  ``timestamp`` is nbgrader's
``timestamp.txt``; ``late_seconds`` and ``penalty`` (points taken off, by
the late-submission plugin nbgrader is configured with) are those the
gradebook recorded.  The CSV has one row per student: student, status,
score, max_score, late_seconds, penalty, then one column per part; a cell
that a spreadsheet would take for a formula (a student's folder name that
begins with ``=``, ...) is neutralised by :func:`autograder.tables.safe`.
A run on a Dask cluster (``--dask``) adds ``worker`` to each result it graded,
the address of the Dask worker that graded it (``dask`` when the cluster gave
the job up), and a last CSV column ``worker``.
Where the terminal shows a student's name, it shows
:func:`.submission.printable`.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from ..tables import safe
from .jobs import ERROR, GRADED, MISSING, STATUSES
from .submission import printable

KEYS = ("student", "status", "score", "max_score", "parts", "error", "warnings", "timestamp", "late_seconds",
        "penalty", "detail")
DEFAULTS = {"warnings": [], "late_seconds": 0.0, "penalty": 0.0, "detail": ""}
OPTIONAL = ("worker",)  # in the JSON, and a last CSV column, when a result has it


def write(path: Path, assignment: str, results: list[dict]) -> Path:
    """Write ``path`` (JSON) and ``path`` with suffix ``.csv``; returns the CSV path."""
    results = sorted(results, key=lambda r: r["student"])
    path = Path(path)
    path.write_text(json.dumps({"assignment": assignment,
                                "results": [{**{k: r.get(k, DEFAULTS.get(k)) for k in KEYS},
                                            **{k: r[k] for k in OPTIONAL if k in r}} for r in results]},
                               indent=1))
    table = path.with_suffix(".csv")
    part_ids = list(dict.fromkeys(p["id"] for r in results for p in r["parts"]))
    optional = [k for k in OPTIONAL if any(k in r for r in results)]
    with table.open("w", newline="", encoding="utf-8", errors="backslashreplace") as f:
        out = csv.writer(f)
        out.writerow([safe(h) for h in ["student", "status", "score", "max_score", "late_seconds", "penalty",
                                        *part_ids, *optional]])
        for r in results:
            scores = {p["id"]: p["score"] for p in r["parts"]}
            numbers = ["" if r.get(k) is None else r[k] for k in ("score", "max_score")]
            lateness = [r.get(k, DEFAULTS[k]) for k in ("late_seconds", "penalty")]
            out.writerow([safe(cell) for cell in [r["student"], r["status"], *numbers, *lateness,
                                                  *[scores.get(gid, "") for gid in part_ids],
                                                  *[r.get(k, "") for k in optional]]])
    return table


def summary(now: list[dict], kept: list[dict], missing: list[dict], unstarted: int = 0) -> str:
    """What a run did, for its end: the submissions graded now by status, those skipped, those missing, and
    each ``error`` with its cause (the grader's fault: nothing recorded, the next run retries)."""
    counts = {s: sum(r["status"] == s for r in now) for s in STATUSES}
    full = sum(r["status"] == GRADED and r["score"] == r["max_score"] for r in now)
    each = [f"{counts[GRADED]} {GRADED} ({full} with full marks)"]
    each += [f"{counts[s]} {s}" for s in STATUSES if s not in (GRADED, MISSING)]
    lines = [f"{len(now)} submissions: {', '.join(each)}; {len(kept)} unchanged since recorded and skipped "
             f"(--student NAME or --force regrades); {len(missing)} {MISSING}"]
    if unstarted:
        lines.append(f"{unstarted} not started: the run was stopped")
    errors = [r for r in now if r["status"] == ERROR]
    if errors:
        lines.append(f"{len(errors)} {ERROR} (the grader's fault: no grade or feedback was written; run the same "
                     "command again to grade them):")
        lines += [f"  {printable(r['student'])}: {printable(r['error'])}"
                  for r in sorted(errors, key=lambda r: r["student"])]
    return "\n".join(lines)
