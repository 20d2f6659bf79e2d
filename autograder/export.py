"""Grades out of the gradebook: ``python -m autograder export [--format csv|canvas|gradescope]``.

* ``csv``: one row per student, one column per assignment (points after any
  late penalty, as ``nbgrader export`` computes them), then the total;
* ``canvas``: Canvas's gradebook-import layout (Student, ID, SIS User ID,
  SIS Login ID, Section, then one column per assignment, with the "Points
  Possible" row), students mapped through ``--roster``;
* ``gradescope``: one ``<student>/<assignment>/results.json`` per submission
  in Gradescope's autograder results format (``schemas/``), the parts as
  its tests and their diagnoses as output; hidden-test source never appears
  (only the checks' messages are stored).

Every CSV cell goes through :mod:`autograder.tables`, so names that start
like a formula open as text.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from . import grades as grades_module
from .tables import write_csv

FORMATS = ("csv", "canvas", "gradescope")
SCHEMA = Path(__file__).resolve().parent / "schemas" / "gradescope-results.schema.json"
ROSTER_COLUMNS = ("student_id", "name", "canvas_id", "sis_user_id", "sis_login_id", "section")


def _points(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(float(value), 4)


def class_table(grades: grades_module.Grades) -> tuple[list[str], list[list]]:
    """Header and rows: student, each assignment's score (0 when nothing was submitted, as nbgrader), total."""
    names = list(grades.assignments)
    rows = []
    for student in grades.students:
        scores = [grades.submissions[name, student].score if (name, student) in grades.submissions else 0.0
                  for name in names]
        rows.append([student, *[_points(s) for s in scores], _points(sum(scores))])
    return ["student", *names, "total"], rows


def to_csv(grades: grades_module.Grades, out: Path) -> Path:
    header, rows = class_table(grades)
    return write_csv(out, header, rows)


def read_roster(path: Path | None) -> dict[str, dict[str, str]]:
    """``{nbgrader student id: {column: value}}`` from a CSV with the columns of ``ROSTER_COLUMNS``."""
    if path is None:
        return {}
    with Path(path).open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in ("student_id",) if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"roster {path}: no column {missing[0]!r}; expected columns {', '.join(ROSTER_COLUMNS)}")
        return {row["student_id"]: row for row in reader}


def to_canvas(grades: grades_module.Grades, out: Path, roster: dict[str, dict[str, str]]) -> Path:
    """Canvas's import layout; a student who submitted nothing gets an empty cell (Canvas leaves it ungraded)."""
    names = list(grades.assignments)
    header = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *names]
    rows = [["Points Possible", "", "", "", "", *[_points(grades.assignments[n]["max_score"]) for n in names]]]
    for student_id, student in grades.students.items():
        entry = roster.get(student_id, {})
        full = " ".join(x for x in (student.first_name, student.last_name) if x) or student_id
        name = entry.get("name") or (f"{student.last_name}, {student.first_name}"
                                     if student.last_name and student.first_name else full)
        scores = [_points(grades.submissions[n, student_id].score) if (n, student_id) in grades.submissions else ""
                  for n in names]
        rows.append([name, entry.get("canvas_id") or student.lms_user_id or "", entry.get("sis_user_id", ""),
                     entry.get("sis_login_id") or student_id, entry.get("section", ""), *scores])
    return write_csv(out, header, rows)


def gradescope_results(grades: grades_module.Grades, assignment: str, student: str) -> dict:
    """Gradescope's ``results.json`` for one submission."""
    submission = grades.submissions[assignment, student]
    result = grades.journal.get((assignment, student), {})
    messages = {p["id"]: str(p.get("message") or "") for p in result.get("parts", []) if isinstance(p, dict)}
    tests = []
    for number, (part, max_score) in enumerate(grades.assignments[assignment]["parts"].items(), start=1):
        score = submission.parts.get(part, 0.0)
        test = {"name": part, "number": str(number), "score": _points(score), "max_score": _points(max_score),
                "status": "passed" if score >= max_score else "failed", "output": messages.get(part, ""),
                "visibility": "visible"}
        if part in submission.mistakes:
            test["tags"] = [submission.mistakes[part]]
        tests.append(test)
    output = f"{_points(submission.score)} / {_points(submission.max_score)} points"
    if submission.penalty:
        output += f" after a late penalty of {_points(submission.penalty)}"
    if submission.status != "graded":
        output += f" (status: {submission.status}; {result.get('error') or 'see the tests below'})"
    out = {"score": _points(submission.score), "output": output, "visibility": "visible", "tests": tests}
    if isinstance(result.get("seconds"), int | float):
        out["execution_time"] = result["seconds"]
    return out


def validate_gradescope(results: dict) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``results`` follows Gradescope's published format."""
    import jsonschema

    jsonschema.validate(results, json.loads(SCHEMA.read_text()))


def to_gradescope(grades: grades_module.Grades, out: Path) -> list[Path]:
    """``out/<student>/<assignment>/results.json`` for every submission."""
    written = []
    for (assignment, student), _ in sorted(grades.submissions.items()):
        results = gradescope_results(grades, assignment, student)
        validate_gradescope(results)
        path = Path(out) / _folder_name(student) / assignment / "results.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=1, ensure_ascii=False), encoding="utf-8")
        written.append(path)
    return written


def _folder_name(student: str) -> str:
    """A student id as one folder name: path separators and a leading dot cannot escape ``out``."""
    name = student.replace("/", "_").replace("\\", "_").replace("\0", "_")
    return "_" + name if name.startswith(".") or not name else name


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=FORMATS, default="csv", help="csv (default), canvas or gradescope")
    p.add_argument("--assignment", action="append", help="only this assignment (repeatable; default all)")
    p.add_argument("--db", default="gradebook.db", help="SQLite file or SQLAlchemy URL (default gradebook.db)")
    p.add_argument("--roster", type=Path, help=f"canvas: CSV with columns {', '.join(ROSTER_COLUMNS)}")
    p.add_argument("--out", type=Path, help="file (csv, canvas) or folder (gradescope); default grades.csv, "
                   "canvas.csv or gradescope/")


def run(args: argparse.Namespace) -> int:
    grades = grades_module.read(args.db, args.assignment)
    if args.format == "csv":
        path = to_csv(grades, args.out or Path("grades.csv"))
        print(f"export: {len(grades.students)} students x {len(grades.assignments)} assignments -> {path}")
    elif args.format == "canvas":
        path = to_canvas(grades, args.out or Path("canvas.csv"), read_roster(args.roster))
        print(f"export: {len(grades.students)} students -> {path} (Canvas gradebook import)")
    else:
        written = to_gradescope(grades, args.out or Path("gradescope"))
        print(f"export: {len(written)} results.json files -> {args.out or Path('gradescope')}")
    return 0
