"""The class's grades, read back from nbgrader's gradebook (and the grading command's journal).

Read-only, and fast at class scale: one SQL query per kind of row instead of
nbgrader's object-by-object API, so 2,000 students x 9 assignments read in a
second or two.  Scores are nbgrader's own (``Grade.score``: a manual score
when a grader set one, else the autograder's, plus extra credit), and a
submission's score is nbgrader's ``max(0, raw − late penalty)``, so every
number agrees with ``nbgrader export`` and the formgrader.  The journal adds
what only the grading command knows: each submission's status and each
part's mistake code.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field

from nbgrader import api as nb
from sqlalchemy import func, inspect, select

from .grading.gradebook import JOURNAL, url_of


@dataclass(frozen=True)
class Student:
    id: str
    first_name: str | None
    last_name: str | None
    email: str | None
    lms_user_id: str | None


@dataclass
class Submission:
    """One student's graded assignment."""

    assignment: str
    student: str
    raw_score: float
    max_score: float
    penalty: float
    timestamp: object
    parts: dict[str, float] = field(default_factory=dict)  # grade_id -> score
    status: str = "graded"  # from the journal when the grading command graded it
    mistakes: dict[str, str] = field(default_factory=dict)  # grade_id -> mistake code of a part that lost points

    @property
    def score(self) -> float:
        return max(0.0, self.raw_score - self.penalty)


@dataclass
class Grades:
    """Everything the gradebook holds about the course's grades."""

    assignments: dict[str, dict]  # name -> {"duedate", "max_score", "parts": {grade_id: max_score}}
    students: dict[str, Student]
    submissions: dict[tuple[str, str], Submission]  # (assignment, student) -> Submission
    journal: dict[tuple[str, str], dict] = field(default_factory=dict)  # (assignment, student) -> result

    def of(self, assignment: str) -> list[Submission]:
        return [s for (a, _), s in sorted(self.submissions.items()) if a == assignment]


def read(db: str, assignments: list[str] | None = None) -> Grades:
    """The grades in the gradebook ``db`` (a SQLite path or a SQLAlchemy URL), for ``assignments`` or all."""
    with nb.Gradebook(url_of(db)) as gb:
        session = gb.db
        wanted = (lambda name: True) if not assignments else set(assignments).__contains__
        parts: dict[str, dict[str, float]] = defaultdict(dict)
        for name, cell, points in session.query(nb.Assignment.name, nb.GradeCell.name, nb.GradeCell.max_score) \
                .select_from(nb.GradeCell).join(nb.Notebook, nb.GradeCell.notebook_id == nb.Notebook.id) \
                .join(nb.Assignment, nb.Notebook.assignment_id == nb.Assignment.id):
            if wanted(name):
                parts[name][cell] = float(points or 0.0)
        table = {a.name: {"duedate": a.duedate, "max_score": sum(parts[a.name].values()), "parts": parts[a.name]}
                 for a in session.query(nb.Assignment).order_by(nb.Assignment.name) if wanted(a.name)}
        students = {s.id: Student(s.id, s.first_name, s.last_name, s.email, s.lms_user_id)
                    for s in session.query(nb.Student).order_by(nb.Student.id)}
        submissions: dict[tuple[str, str], Submission] = {}
        total_penalty = func.coalesce(func.sum(nb.SubmittedNotebook.late_submission_penalty), 0.0)
        penalties = session.query(nb.SubmittedNotebook.assignment_id, total_penalty.label("penalty")) \
            .group_by(nb.SubmittedNotebook.assignment_id).subquery()
        for name, student, timestamp, penalty in session.query(
                nb.Assignment.name, nb.SubmittedAssignment.student_id, nb.SubmittedAssignment.timestamp,
                penalties.c.penalty).select_from(nb.SubmittedAssignment) \
                .join(nb.Assignment, nb.SubmittedAssignment.assignment_id == nb.Assignment.id) \
                .outerjoin(penalties, penalties.c.assignment_id == nb.SubmittedAssignment.id):
            if name in table:
                submissions[name, student] = Submission(name, student, 0.0, table[name]["max_score"],
                                                        float(penalty or 0.0), timestamp)
        for name, student, cell, score in session.query(
                nb.Assignment.name, nb.SubmittedAssignment.student_id, nb.GradeCell.name, nb.Grade.score) \
                .select_from(nb.Grade).join(nb.GradeCell, nb.Grade.cell_id == nb.GradeCell.id) \
                .join(nb.SubmittedNotebook, nb.Grade.notebook_id == nb.SubmittedNotebook.id) \
                .join(nb.SubmittedAssignment, nb.SubmittedNotebook.assignment_id == nb.SubmittedAssignment.id) \
                .join(nb.Assignment, nb.SubmittedAssignment.assignment_id == nb.Assignment.id):
            found = submissions.get((name, student))
            if found is not None:
                found.parts[cell] = float(score or 0.0)
                found.raw_score += float(score or 0.0)
        journal = _journal(gb.engine, set(table))
    for key, result in journal.items():
        found = submissions.get(key)
        if found is not None:
            found.status = str(result.get("status", "graded"))
            found.mistakes = {p["id"]: p.get("mistake") or "other" for p in result.get("parts", [])
                              if isinstance(p, dict) and "id" in p and float(p.get("score", 0)) < float(
                                  p.get("max_score", 0))}
    return Grades(table, students, submissions, journal)


def _journal(engine, assignments: set[str]) -> dict[tuple[str, str], dict]:
    """The grading command's finished results, where it has graded (no journal table: nothing)."""
    with engine.connect() as connection:
        if not inspect(connection).has_table(JOURNAL.name):
            return {}
        rows = connection.execute(select(JOURNAL.c.assignment, JOURNAL.c.student, JOURNAL.c.result))
        return {(a, s): json.loads(r) for a, s, r in rows if a in assignments}
