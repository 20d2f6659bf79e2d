"""Row 8: ``stats`` and ``export`` on a course-sized gradebook (2,000 students x every assignment).

The gradebook is synthetic but has nbgrader's own schema and the real
course's parts: each assignment, notebook and grade cell is created through
nbgrader's API (as the grading command does); the students' submissions,
grades and journal rows (with mistake codes) are inserted in bulk, since
nbgrader's object-by-object API would take most of an hour for 18,000
submissions.  Timed, once each and cold (a fresh read of the file): reading
every grade (:func:`autograder.grades.read`), the course summary, the
per-part statistics of one assignment with its page's plots, and the CSV
and Canvas exports.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import numpy as np

from .report import Row
from .timing import Stats, once

STUDENTS = 2000
CODES = ("transposed", "sign_flipped", "batch_factor", "output_derivative", "wrong_shape", "other")
TARGET_S = 10.0  # "thousands of submissions in seconds"


def _id() -> str:
    return uuid.uuid4().hex


def synthetic_gradebook(path: Path, students: int, seed: int = 0) -> tuple[int, int]:
    """Write a gradebook of ``students`` x every course assignment to ``path``; (assignments, submissions)."""
    from nbgrader import api as nb
    from sqlalchemy import insert

    from autograder import course
    from autograder.grading.gradebook import COURSE_ID, JOURNAL, METADATA

    rng = np.random.default_rng(seed)
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"  # alembic
    url = f"sqlite:///{path}"
    nb.Gradebook(url, course_id=COURSE_ID).close()
    names = [f"s{i:05d}" for i in range(students)]
    rows = {"student": [{"id": n, "first_name": "First", "last_name": n, "email": f"{n}@example.org",
                         "lms_user_id": str(100000 + i)} for i, n in enumerate(names)],
            "submitted_assignment": [], "submitted_notebook": [], "grade": [], "journal": []}
    with nb.Gradebook(url, course_id=COURSE_ID) as gb:
        METADATA.create_all(gb.engine)
        assignments = course.assignments()
        for assignment in assignments:
            table = assignment.parts()
            notebook_name = Path(assignment.notebook).stem
            gb.update_or_create_assignment(assignment.name, duedate=datetime(2026, 10, 1))
            gb.update_or_create_notebook(notebook_name, assignment.name)
            cells = {gid: gb.update_or_create_grade_cell(gid, notebook_name, assignment.name, max_score=part.points,
                                                         cell_type="code").id for gid, part in table.items()}
            assignment_id = gb.find_assignment(assignment.name).id
            notebook_id = gb.find_notebook(notebook_name, assignment.name).id
            for student in names:
                if rng.random() < 0.03:  # a few students miss each assignment
                    continue
                submitted, graded = _id(), _id()
                rows["submitted_assignment"].append({"id": submitted, "assignment_id": assignment_id,
                                                     "student_id": student, "timestamp": datetime(2026, 9, 30)})
                rows["submitted_notebook"].append({"id": graded, "assignment_id": submitted,
                                                   "notebook_id": notebook_id, "flagged": False,
                                                   "late_submission_penalty": 0.0})
                parts = []
                for gid, part in table.items():
                    lost = rng.random() < 0.2
                    score = 0.0 if lost else part.points
                    rows["grade"].append({"id": _id(), "notebook_id": graded, "cell_id": cells[gid],
                                          "auto_score": score, "needs_manual_grade": False})
                    parts.append({"id": gid, "score": score, "max_score": part.points, "message": "",
                                  "mistake": str(rng.choice(CODES)) if lost else None})
                result = {"student": student, "status": "graded", "score": sum(p["score"] for p in parts),
                          "max_score": table.total, "parts": parts, "error": None}
                rows["journal"].append({"assignment": assignment.name, "student": student, "status": "graded",
                                        "result": json.dumps(result), "finished_at": 0.0})
        with gb.engine.begin() as connection:
            for name, table in (("student", nb.Student.__table__),
                                ("submitted_assignment", nb.SubmittedAssignment.__table__),
                                ("submitted_notebook", nb.SubmittedNotebook.__table__),
                                ("grade", nb.Grade.__table__), ("journal", JOURNAL)):
                connection.execute(insert(table), rows[name])
    return len(assignments), len(rows["submitted_assignment"])


def run(cfg, progress=None) -> Row:
    from autograder import export, grades, stats

    row = Row("8", "stats and export on a course-sized gradebook")
    students = 50 if cfg.quick else STUDENTS
    with tempfile.TemporaryDirectory(prefix="nnref-stats-bench-") as tmp:
        db = Path(tmp) / "gradebook.db"
        start = time.perf_counter()
        count, submissions = synthetic_gradebook(db, students)
        row.notes.append(f"synthetic gradebook: {students} students x {count} assignments, {submissions} "
                         f"submissions, written in {time.perf_counter() - start:.1f} s (not timed below)")
        first = grades.read(str(db))
        name = next(iter(first.assignments))

        def one(label: str, fn) -> None:
            seconds = once(fn)
            row.add(label, "time", "s", Stats.of([seconds]), target=f"<= {TARGET_S:g} s",
                    met=seconds <= TARGET_S)

        one("read every grade and the journal (grades.read)", lambda: grades.read(str(db)))
        one("course summary: per assignment and per student (stats, no assignment)",
            lambda: stats.course_text(grades.read(str(db))))
        one(f"one assignment's per-part stats and its HTML page ({name})",
            lambda: stats.assignment_html(grades.read(str(db), [name]), name))
        one("CSV export, one row per student", lambda: export.to_csv(grades.read(str(db)), Path(tmp) / "g.csv"))
        one("Canvas export", lambda: export.to_canvas(grades.read(str(db)), Path(tmp) / "c.csv", {}))
    return row
