"""CSV files that are safe to open in a spreadsheet, whatever the students' names hold.

A cell whose text begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return is a formula to Excel, LibreOffice and Google Sheets (CSV injection,
OWASP): such text is written with a leading apostrophe, which the
spreadsheets show as plain text.  Numbers are written as numbers.  Commas,
quotes, newlines and any Unicode go through Python's ``csv`` quoting and
come back unchanged when the file is read with ``csv.reader``.
"""

from __future__ import annotations

import csv
from pathlib import Path

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe(value) -> str | int | float:
    """``value`` as a spreadsheet cell: numbers kept, text neutralised if it could run as a formula."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    """Write ``header`` and ``rows`` to ``path`` (UTF-8, every cell through :func:`safe`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow([safe(h) for h in header])
        out.writerows([safe(cell) for cell in row] for row in rows)
    return path
