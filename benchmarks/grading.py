"""Row 5: grading throughput and per-submission overhead.

The grading command comes with the grading issue; until it exists this row
is reported as pending, with no numbers.
"""

from __future__ import annotations

from .report import Row

PENDING = "pending: grading command not yet available"


def run(cfg) -> Row:
    row = Row("5", "grading throughput and per-submission overhead", status="pending")
    row.notes.append(PENDING)
    return row
