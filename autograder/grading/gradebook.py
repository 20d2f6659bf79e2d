"""Scores into nbgrader's gradebook, with a journal that makes grading resumable.

Only the command's process writes, a batch of submissions per transaction:
each one's grades, comments and late penalty (what ``nbgrader autograde``
writes) and its journal row are committed together, so a run killed at any
moment leaves each submission either fully recorded or not at all.  The journal (table
``autograder_journal``, beside nbgrader's tables) holds each finished result
as JSON; a new run skips the students it lists unless ``--force``.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import warnings
from datetime import datetime
from pathlib import Path

from nbgrader import api as nbgrader_api
from nbgrader.api import Comment, Grade, Gradebook, MissingEntry, Student, SubmittedAssignment, SubmittedNotebook
from nbgrader.preprocessors import AssignLatePenalties, SaveCells
from nbgrader.utils import compute_checksum, determine_grade, is_solution, is_task, parse_utc
from sqlalchemy import (
    Column,
    Float,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SAWarning, SQLAlchemyError

from .. import course, notebooks
from . import merge

COURSE_ID = "nnref"
METADATA = MetaData()
JOURNAL = Table("autograder_journal", METADATA,
                Column("assignment", String(128), primary_key=True),
                Column("student", String(128), primary_key=True),
                Column("status", String(16), nullable=False),
                Column("result", Text, nullable=False),
                Column("finished_at", Float, nullable=False))


_KEEP = object()  # an answer cell's comment that autograde leaves as it was
_REVISION = re.compile(r"^(down_revision|revision)\s*=\s*['\"]?([0-9a-f]+|None)['\"]?\s*$", re.MULTILINE)


def alembic_head() -> str:
    """The head revision of nbgrader's gradebook migrations, read from its migration files.

    nbgrader stamps every new gradebook with it and asks ``alembic heads`` in a
    subprocess for it (a Python start and alembic's import: seconds); the
    migrations form a chain, so the head is the one revision no other
    revision names as its parent.  ``tests/test_grading_postgres.py`` checks it
    against nbgrader's own answer.
    """
    revisions, parents = set(), set()
    for path in (Path(nbgrader_api.__file__).parent / "alembic" / "versions").glob("*.py"):
        found = dict((kind, value) for kind, value in _REVISION.findall(path.read_text()))
        if "revision" in found:
            revisions.add(found["revision"])
            parents.add(found.get("down_revision"))
    heads = revisions - parents
    if len(heads) != 1:
        raise RuntimeError(f"nbgrader's migrations have {len(heads)} heads: {sorted(heads)}")
    return heads.pop()


def url_of(db: str) -> str:
    """A SQLAlchemy URL; a plain path means a SQLite file."""
    return db if "://" in db else f"sqlite:///{db}"


def shown(url: str) -> str:
    """The URL as it may be printed: any password masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (SQLAlchemyError, ValueError):  # not a URL SQLAlchemy can parse: mask by hand
        return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)


class GradebookError(SystemExit):
    """The gradebook cannot be opened (server down, no such database, driver missing, bad URL), or written as
    nbgrader would write it (cells it refuses to change, a late-submission plugin that cannot be loaded).

    A ``SystemExit`` so that the command ends with this one line, naming the
    database, and exit status 1, instead of a long traceback through
    SQLAlchemy and the driver; in-process callers catch it by name.
    """


def _unopenable(url: str, error: Exception) -> GradebookError:
    reason = str(getattr(error, "orig", None) or error)  # the driver's own words, if it spoke
    if isinstance(error, ImportError):
        reason += " (the database driver named in the URL is not installed)"
    return GradebookError(f"cannot open the gradebook {shown(url)}: {' '.join(reason.split())}")


def _read(db: str, query) -> list:
    """The rows of ``query`` (a function of a connection), read directly: fast, and a gradebook that cannot
    be opened is named here, before any grading starts.  No gradebook yet: no rows."""
    url = url_of(db)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return []
    try:
        engine = create_engine(url)
        try:
            with engine.connect() as connection:
                return query(connection)
        finally:
            engine.dispose()
    except (SQLAlchemyError, ImportError, ValueError) as error:
        raise _unopenable(url, error) from None


def finished(db: str, assignment: str) -> dict[str, dict]:
    """``{student: result}`` from the journal: the submissions recorded by earlier runs."""
    def query(connection):
        if not inspect(connection).has_table(JOURNAL.name):
            return []
        return list(connection.execute(select(JOURNAL.c.student, JOURNAL.c.result)
                                       .where(JOURNAL.c.assignment == assignment)))
    return {student: json.loads(result) for student, result in _read(db, query)}


def enrolled(db: str) -> set[str]:
    """The students in nbgrader's gradebook (``nbgrader db student add/import``, or graded before)."""
    def query(connection):
        if not inspect(connection).has_table("student"):
            return []
        return list(connection.execute(text("SELECT id FROM student")))
    return {student for (student,) in _read(db, query)}


@contextlib.contextmanager
def _head_in_process():
    """nbgrader's ``get_alembic_version`` answered by :func:`alembic_head`, while a gradebook opens."""
    original = nbgrader_api.get_alembic_version
    nbgrader_api.get_alembic_version = alembic_head
    try:
        yield
    finally:
        nbgrader_api.get_alembic_version = original


class LatePenalty(AssignLatePenalties):
    """nbgrader's late-submission step of ``autograde`` for one submitted notebook, in the caller's transaction:
    the penalty of the plugin that ``AssignLatePenalties.plugin_class`` configures, bounded as nbgrader bounds it."""

    @classmethod
    def configured(cls) -> LatePenalty:
        """The step with the plugin the course's nbgrader configuration names (nbgrader's own by default)."""
        try:
            step = cls(config=merge.nbgrader_config())
            step.init_plugin()
        except Exception as error:
            raise GradebookError(f"nbgrader's late-submission plugin (AssignLatePenalties.plugin_class in "
                                 f"nbgrader_config.py) cannot be loaded: {error}") from None
        return step

    def penalty(self, student: str, score: float, seconds_late: float) -> float | None:
        """The points a submitted notebook scored ``score`` loses ``seconds_late`` after its due date; None for no
        penalty, as the gradebook stores it."""
        if seconds_late <= 0:
            return None
        penalty = self.plugin_inst.late_submission_penalty(student, score, seconds_late)
        return None if penalty is None else self._check_late_penalty(_Scored(score), penalty)


class _Scored:
    """What nbgrader's bound on a penalty reads of a submitted notebook: its score."""

    def __init__(self, score: float):
        self.score = score


def submitted_at(timestamp: str | None) -> datetime | None:
    """The time written in nbgrader's ``timestamp.txt``, in UTC as the gradebook stores it (nbgrader's own
    ``parse_utc``, as ``autograde`` reads it); None without one."""
    if not timestamp:
        return None
    try:
        return parse_utc(timestamp)
    except (ValueError, OverflowError) as error:
        raise ValueError(f"timestamp.txt holds {timestamp[:100]!r}, which nbgrader cannot read as a time "
                         f"({error})") from None


class Book:
    """nbgrader's gradebook for one assignment, and the journal of finished submissions.

    It writes what ``nbgrader autograde`` writes: the notebook and its cells as ``generate_assignment``
    records them (nbgrader's ``SaveCells``), and per submission the timestamp, a score for every grade cell,
    the automatic comment of every answer cell and the late penalty of nbgrader's configured plugin.
    """

    def __init__(self, db: str, assignment: str, notebook: str, parts):
        """Open ``db`` and record ``assignment`` and its source notebook's cells; ``parts`` (the checks'
        ``{grade_id: Part}``) must give each test cell the notebook's points."""
        self.late = LatePenalty.configured()
        url, self.gb = url_of(db), None
        try:
            with _head_in_process():
                self.gb = Gradebook(url, course_id=COURSE_ID)
                METADATA.create_all(self.gb.engine)
                self.assignment, self.notebook = assignment, notebook.removesuffix(".ipynb")
                self.gb.update_or_create_assignment(assignment)
                self._save_cells(url)
            self._check_points(parts)
            notebook_row = self.gb.find_notebook(self.notebook, self.assignment)
            # read once here, not loaded row by row per submission: each grade's and comment's cell name by cell
            # id, and the rows nbgrader's add_submission mirrors from the notebook, in its order
            self.cell_names = {cell.id: cell.name for cell in
                               notebook_row.grade_cells + notebook_row.solution_cells + notebook_row.task_cells}
            self.grade_cells = [(c.id, c.name) for c in notebook_row.grade_cells + notebook_row.task_cells]
            self.comment_cells = [(c.id, c.name) for c in notebook_row.solution_cells + notebook_row.task_cells]
            self.ids = {"assignment": notebook_row.assignment.id, "notebook": notebook_row.id,
                        "duedate": notebook_row.assignment.duedate}
        except BaseException as error:
            if self.gb is not None:
                self.gb.close()
            if isinstance(error, (SQLAlchemyError, ImportError, ValueError, OSError)):
                raise _unopenable(url, error) from None
            raise

    def _save_cells(self, url: str) -> None:
        """The notebook and its cells (grade, solution, task and source cells, with checksums), recorded by
        nbgrader's own ``SaveCells`` from the source as ``generate_assignment`` prepares it."""
        source = merge.registered(notebooks.read(course.get(self.assignment).source()))
        resources = {"nbgrader": {"notebook": self.notebook, "assignment": self.assignment, "db_url": url}}
        try:
            SaveCells(config=merge.nbgrader_config()).preprocess(source, resources)
        except RuntimeError as error:  # cells added or removed while the notebook has submissions
            raise GradebookError(
                f"the gradebook {shown(url)} records other cells for {self.assignment}/{self.notebook}.ipynb "
                f"than its source has, and nbgrader refuses to change them once there are submissions ({error}). "
                f"Grade into a new gradebook (--db), or remove the assignment's submissions from this one "
                f"(nbgrader db assignment remove {self.assignment} --force) and grade again with --force.") from None

    def _check_points(self, parts) -> None:
        """A clear error when a part's points differ from its grade cell's, or it has none."""
        recorded = {cell.name: cell.max_score for cell in
                    self.gb.find_notebook(self.notebook, self.assignment).grade_cells if cell.cell_type == "code"}
        wrong = [f"{gid}: the checks give {part.points:g}, the notebook "
                 + (f"{recorded[gid]:g}" if gid in recorded else "has no such grade cell")
                 for gid, part in parts.items() if recorded.get(gid) != part.points]
        if wrong:
            raise GradebookError(f"the points of {self.assignment}'s checks and of its notebook's grade cells "
                                 f"differ: {'; '.join(wrong)}")

    def record(self, result: dict, notebook: dict | None = None) -> None:
        """Write one submission as ``nbgrader autograde`` would, and its journal row, in one transaction.

        ``notebook`` is the graded notebook written into ``autograded/`` (:func:`merge.autograded`), None
        when the submission did not run.  Each part's grade cell gets the part's score; any other grade cell
        what nbgrader's ``determine_grade`` gives it, or 0 without a notebook, as for a missing notebook.  A
        manual score given in the formgrader is kept and flagged for review, as nbgrader does.  Before the
        journal row is written, ``result`` gets ``late_seconds`` (0 when on time or without due date) and
        ``penalty`` (the points taken off, 0 when none) from ``result["timestamp"]``.
        """
        self.record_many([(result, notebook)])

    def record_many(self, items: list[tuple[dict, dict | None]]) -> None:
        """:meth:`record` for several ``(result, notebook)`` in one transaction: all are written, or none.

        A student's first submission of the assignment (a class's first grading) is inserted row by row as
        nbgrader's ``add_submission`` and ``autograde`` would leave it, each table in one statement for the
        whole batch.  A submission the gradebook holds already (a rerun, a resubmission, manual grades to keep)
        is updated through nbgrader's API, whose ``add_student`` and ``add_submission`` commits only flush
        within the batch."""
        session = self.gb.db
        try:
            fresh, known, enrolled = self._split(items)
            self._insert(fresh, enrolled)
            session.commit = session.flush  # the scoped session's own commit, shadowed for the batch's length
            try:
                for result, notebook in known:
                    self._write(result, notebook)
            finally:
                del session.commit
            self._journal([result for result, _ in fresh])
            session.commit()
        except Exception:
            session.rollback()
            raise

    def _split(self, items: list[tuple[dict, dict | None]]) -> tuple[list, list, set[str]]:
        """``items`` as (first submissions, the rest, the students of ``items`` the gradebook has): a student
        the gradebook already has a submission of, or listed twice in ``items``, goes to the rest."""
        students = {result["student"] for result, _ in items}
        student, submitted = Student.__table__, SubmittedAssignment.__table__
        # Core statements on the session's connection, in its transaction: no ORM bookkeeping for rows the
        # session does not hold; one query for both questions
        found = self.gb.db.connection().execute(
            select(student.c.id, submitted.c.id).select_from(student.outerjoin(
                submitted, (submitted.c.student_id == student.c.id)
                & (submitted.c.assignment_id == self.ids["assignment"])))
            .where(student.c.id.in_(students))).all()
        enrolled = {name for name, _ in found}
        have = {name for name, submission in found if submission is not None}
        fresh, known = [], []
        for item in items:
            name = item[0]["student"]
            (known if name in have else fresh).append(item)
            have.add(name)
        return fresh, known, enrolled

    def _insert(self, items: list[tuple[dict, dict | None]], enrolled: set[str]) -> None:
        """First submissions, with their students unless ``enrolled``: what ``add_student``,
        ``add_submission`` and ``autograde`` would write, in one statement per table; ``late_seconds`` and
        ``penalty`` into each result."""
        if not items:
            return
        db, students = self.gb.db.connection(), [result["student"] for result, _ in items]
        rows = {name: [] for name in ("student", "submitted", "notebook", "grade", "comment")}
        rows["student"] = [{"id": s, "first_name": None, "last_name": None, "email": None, "lms_user_id": None}
                           for s in dict.fromkeys(students) if s not in enrolled]
        for result, notebook in items:
            student, when = result["student"], submitted_at(result.get("timestamp"))
            submission, graded = nbgrader_api.new_uuid(), nbgrader_api.new_uuid()
            cells = None if notebook is None else merge.recorded_cells(notebook)
            scores = {part["id"]: float(part["score"]) for part in result["parts"]}
            total = 0.0
            for cell_id, name in self.grade_cells:
                auto, needs = _grade_of(name, scores, cells, None) or (None, True)
                total += auto or 0.0
                rows["grade"].append({"id": nbgrader_api.new_uuid(), "notebook_id": graded, "cell_id": cell_id,
                                      "auto_score": auto, "manual_score": None, "extra_credit": None,
                                      "needs_manual_grade": needs})
            for cell_id, name in self.comment_cells:
                said = _comment_of(name, cells)
                rows["comment"].append({"id": nbgrader_api.new_uuid(), "notebook_id": graded, "cell_id": cell_id,
                                        "auto_comment": None if said is _KEEP else said, "manual_comment": None})
            due = self.ids["duedate"]
            late = 0.0 if when is None or due is None else max(0.0, (when - due).total_seconds())
            penalty = self.late.penalty(student, total, late)
            result["late_seconds"], result["penalty"] = late, float(penalty or 0.0)
            rows["submitted"].append({"id": submission, "assignment_id": self.ids["assignment"],
                                      "student_id": student, "timestamp": when, "extension": None})
            rows["notebook"].append({"id": graded, "assignment_id": submission, "notebook_id": self.ids["notebook"],
                                     "flagged": False, "late_submission_penalty": penalty})
        for name, model in (("student", Student), ("submitted", SubmittedAssignment), ("notebook", SubmittedNotebook),
                            ("grade", Grade), ("comment", Comment)):
            if rows[name]:
                db.execute(insert(model.__table__), rows[name])

    def _journal(self, results: list[dict]) -> None:
        """The journal rows of ``results``, replacing any the students had."""
        if not results:
            return
        students = [result["student"] for result in results]
        connection = self.gb.db.connection()
        connection.execute(delete(JOURNAL).where(JOURNAL.c.assignment == self.assignment,
                                                 JOURNAL.c.student.in_(students)))
        now = time.time()
        connection.execute(insert(JOURNAL), [{"assignment": self.assignment, "student": result["student"],
                                              "status": result["status"], "result": json.dumps(result),
                                              "finished_at": now} for result in results])

    def _write(self, result: dict, notebook: dict | None) -> None:
        student = result["student"]
        when = submitted_at(result.get("timestamp"))
        submission = self._submission(student, when)
        graded = self.gb.find_submission_notebook(self.notebook, self.assignment, student)
        cells = None if notebook is None else merge.recorded_cells(notebook)
        self._grade(graded, {part["id"]: float(part["score"]) for part in result["parts"]}, cells, self.cell_names)
        self.gb.db.flush()
        self.gb.db.refresh(graded)  # its score, a sum the database computes
        result["late_seconds"] = float(submission.total_seconds_late)
        graded.late_submission_penalty = self.late.penalty(student, graded.score, result["late_seconds"])
        result["penalty"] = float(graded.late_submission_penalty or 0.0)
        self._journal([result])

    def _submission(self, student: str, when: datetime | None):
        """The student's submission, created with the grade and comment rows nbgrader mirrors from the
        notebook's cells; stamped with ``when`` as ``autograde`` stamps it (without one, an earlier stamp stays)."""
        try:
            self.gb.find_student(student)
        except MissingEntry:
            self.gb.add_student(student)
        try:
            submission = self.gb.find_submission(self.assignment, student)
        except MissingEntry:
            with warnings.catch_warnings():  # nbgrader's own autoflush notice, on every new submission
                warnings.filterwarnings("ignore", message=".*not in session", category=SAWarning)
                return self.gb.add_submission(self.assignment, student, **({"timestamp": when} if when else {}))
        if when is not None:
            submission.timestamp = when
        return submission

    @staticmethod
    def _grade(graded, scores: dict[str, float], cells: dict | None, names: dict) -> None:
        """nbgrader's ``SaveAutoGrades`` on the submitted notebook ``graded`` (its rows in the gradebook)."""
        for grade in graded.grades:
            decided = _grade_of(names[grade.cell_id], scores, cells, grade.manual_score)
            if decided is not None:
                grade.auto_score, grade.needs_manual_grade = decided
        for comment in graded.comments:
            said = _comment_of(names[comment.cell_id], cells)
            if said is not _KEEP:
                comment.auto_comment = said

    def close(self) -> None:
        self.gb.close()


def _grade_of(name: str, scores: dict[str, float], cells: dict | None,
              manual: float | None) -> tuple[float | None, bool] | None:
    """What nbgrader's ``SaveAutoGrades`` gives the grade cell ``name`` of a submission: ``(auto_score,
    needs_manual_grade)``, or None to leave its row as it is.  ``scores``: the parts' scores by grade cell;
    ``cells``: the submitted notebook's cells by name, None when it did not run (every cell then scores zero,
    as autograde scores a missing notebook); ``manual``: the score a person gave it, which keeps it flagged."""
    if name in scores:
        auto = scores[name]
    elif cells is None:
        return 0.0, False
    elif name in cells:  # a manually graded answer; a test cell without a check waits for a person
        cell = cells[name]
        auto = determine_grade(cell)[0] if is_solution(cell) or cell.cell_type != "code" else None
    else:
        return None  # not in the submitted notebook: autograde leaves it as it was
    return auto, manual is not None or auto is None


def _comment_of(name: str, cells: dict | None):
    """The automatic comment autograde gives the answer cell ``name``: "No response." for a cell left as
    released, else None; ``_KEEP`` when the submitted notebook lacks it (or did not run)."""
    cell = (cells or {}).get(name)
    if cell is None:
        return _KEEP
    unchanged = cell.metadata.nbgrader.get("checksum") == compute_checksum(cell)
    return "No response." if unchanged and not is_task(cell) else None
