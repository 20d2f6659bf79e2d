"""Results: rows of entries, one table on the terminal, one JSON file.

Every row of the issue becomes a :class:`Row` holding :class:`Entry` objects.
An entry is a measured quantity (a time, a throughput, a count) or a ratio of
two quantities measured side by side; ratios may carry a target, and then
say whether they met it.  A row that cannot run here (no GPU, a command that
does not exist yet) has a status saying so and no numbers.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .timing import Stats, ratio

SCHEMA_VERSION = 1
KINDS = ("time", "throughput", "ratio", "count")
STATUSES = ("ok", "no GPU", "pending", "failed", "skipped")


@dataclass
class Entry:
    """One line of the table: a label, min / median / max, a unit, maybe a target."""

    label: str
    kind: str
    unit: str
    min: float
    median: float
    max: float
    n: int
    target: str | None = None
    met: bool | None = None
    note: str | None = None
    best: float | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")


@dataclass
class Row:
    """One row of the issue: what it measures, its status and its entries."""

    id: str
    title: str
    status: str = "ok"
    entries: list[Entry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    def add(self, label: str, kind: str, unit: str, stats: Stats, *, target: str | None = None,
            met: bool | None = None, note: str | None = None, best: float | None = None) -> Entry:
        entry = Entry(label, kind, unit, stats.min, stats.median, stats.max, stats.n, target, met, note, best)
        self.entries.append(entry)
        return entry

    def add_ratio(self, label: str, stats: Stats, *, best: float | None = None, at_most: float | None = None,
                  at_least: float | None = None, note: str | None = None) -> Entry:
        """A ratio against an upper or a lower bound (or none).

        ``stats`` are the round-by-round ratios; ``best`` is the ratio of the
        two candidates' fastest samples.  The target is judged on ``best``
        when given (noise on a busy machine only ever adds time, so each
        candidate's fastest sample is its least disturbed one), else on the
        median.
        """
        judged = stats.median if best is None else best
        target, met = None, None
        if at_most is not None:
            target, met = f"<= {at_most:g}", judged <= at_most
        elif at_least is not None:
            target, met = f">= {at_least:g}", judged >= at_least
        return self.add(label, "ratio", "x", stats, target=target, met=met, note=note, best=best)

    def add_comparison(self, label: str, samples: dict, numerator: str, denominator: str, **target) -> Entry:
        """The ratio numerator / denominator of times from one ``timing.compare``."""
        return self.add_ratio(label, ratio(samples, numerator, denominator),
                              best=min(samples[numerator]) / min(samples[denominator]), **target)


def _number(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1e5 or magnitude < 1e-3:
        return f"{value:.3g}"
    return f"{value:.4g}" if magnitude < 100 else f"{value:.0f}"


def _verdict(entry: Entry) -> str:
    if entry.target is None:
        return ""
    return f"{entry.target} {'met' if entry.met else 'MISSED'}"


def table(rows: list[Row]) -> str:
    """One plain-text table of every row (what ``python -m benchmarks`` prints)."""
    header = ("row", "measurement", "min", "median", "max", "best", "unit", "target")
    lines = []
    for row in rows:
        if not row.entries:
            said = row.notes[0] if row.notes and row.status != "ok" else row.status
            lines.append((row.id, f"{row.title}: {said}", "", "", "", "", "", ""))
        for entry in row.entries:
            label = entry.label + (f" [{entry.note}]" if entry.note else "")
            best = "" if entry.best is None else _number(entry.best)
            lines.append((row.id, label, _number(entry.min), _number(entry.median), _number(entry.max), best,
                          entry.unit, _verdict(entry)))
    widths = [max(len(str(line[i])) for line in [header, *lines]) for i in range(len(header))]
    widths[1] = min(widths[1], 100)

    def fmt(line):
        cells = [str(c)[:widths[i]].ljust(widths[i]) if i < 2 or i >= 6 else str(c).rjust(widths[i])
                 for i, c in enumerate(line)]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * w for w in widths)
    out = [fmt(header), rule]
    previous = None
    for line in lines:
        if previous is not None and line[0] != previous:
            out.append(rule)
        out.append(fmt(line))
        previous = line[0]
    notes = [f"row {row.id}: {note}" for row in rows for note in row.notes]
    out += ["", "min / median / max: over the rounds (a ratio: round by round); best: for a ratio, the ratio of the "
            "two candidates' fastest samples, on which its target is judged (else the median)"]
    if notes:
        out += ["", "notes:", *("  " + n for n in notes)]
    return "\n".join(out)


def summary(rows: list[Row]) -> tuple[int, int]:
    """(targets met, targets judged) over every entry with a target."""
    judged = [e for row in rows for e in row.entries if e.target is not None]
    return sum(bool(e.met) for e in judged), len(judged)


def to_json(rows: list[Row], meta: dict) -> dict:
    """The document written to ``results.json``: metadata and every row."""
    return {"schema": SCHEMA_VERSION, **meta, "rows": [asdict(row) for row in rows]}


def merged(previous: dict | None, document: dict) -> dict:
    """``document`` (a run of some rows) with the rows of ``previous`` (the file it replaces) that it did not
    run, so that measuring one row keeps the others; every row carries the date it was measured."""
    rows = {row["id"]: {**row, "date": row.get("date", document["date"])} for row in document["rows"]}
    if previous and previous.get("schema") == document["schema"] and previous.get("quick") == document["quick"]:
        for row in previous.get("rows", []):
            rows.setdefault(row["id"], {**row, "date": row.get("date", previous.get("date"))})
    return {**document, "rows": [rows[key] for key in sorted(rows, key=lambda k: (len(k), k))]}


def write(path: Path, document: dict) -> None:
    """Write the JSON next to ``path`` and rename it into place, so that a book
    build reading the file never sees half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps(document, indent=1, allow_nan=True) + "\n")
    os.replace(partial, path)
