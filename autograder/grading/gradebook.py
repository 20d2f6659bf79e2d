"""Scores into nbgrader's gradebook, with a journal that makes grading resumable.

Only the command's main process writes, one submission per transaction: its
grades, comments and late penalty (what ``nbgrader autograde`` writes) and
its journal row are committed together, so a run killed at any moment leaves
each submission either fully recorded or not at all.  The journal (table
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
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import AssignLatePenalties, SaveCells
from nbgrader.utils import compute_checksum, determine_grade, is_solution, is_task, parse_utc
from sqlalchemy import Column, Float, MetaData, String, Table, Text, create_engine, delete, inspect, select, text
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

    def penalty(self, student: str, notebook, seconds_late: float) -> float | None:
        """The points ``notebook`` (a gradebook ``SubmittedNotebook``) loses ``seconds_late`` after its due date;
        None for no penalty, as the gradebook stores it."""
        if seconds_late <= 0:
            return None
        penalty = self.plugin_inst.late_submission_penalty(student, notebook.score, seconds_late)
        return None if penalty is None else self._check_late_penalty(notebook, penalty)


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
            # each grade's and comment's cell name by cell id: read once here, not loaded row by row per submission
            self.cell_names = {cell.id: cell.name for cell in
                               notebook_row.grade_cells + notebook_row.solution_cells + notebook_row.task_cells}
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
        try:
            self._write(result, notebook)
            self.gb.db.commit()
        except Exception:
            self.gb.db.rollback()
            raise

    def record_many(self, items: list[tuple[dict, dict | None]]) -> None:
        """:meth:`record` for several ``(result, notebook)`` in one transaction: all are written, or none.

        nbgrader's ``add_student`` and ``add_submission`` commit at once; within the batch they only flush, and
        the batch commits at its end: one commit instead of three per submission."""
        session = self.gb.db
        try:
            session.commit = session.flush  # the scoped session's own commit, shadowed for the batch's length
            try:
                for result, notebook in items:
                    self._write(result, notebook)
            finally:
                del session.commit
            session.commit()
        except Exception:
            session.rollback()
            raise

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
        graded.late_submission_penalty = self.late.penalty(student, graded, result["late_seconds"])
        result["penalty"] = float(graded.late_submission_penalty or 0.0)
        self.gb.db.execute(delete(JOURNAL).where(JOURNAL.c.assignment == self.assignment,
                                                 JOURNAL.c.student == student))
        self.gb.db.execute(JOURNAL.insert().values(assignment=self.assignment, student=student,
                                                   status=result["status"], result=json.dumps(result),
                                                   finished_at=time.time()))

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
        """nbgrader's ``SaveAutoGrades`` on the submitted notebook ``graded``: a score for each grade cell
        (``scores`` for the parts), and "No response." for each answer cell left as released; ``names``: the
        cells' names by id."""
        for grade in graded.grades:
            name = names[grade.cell_id]
            if name in scores:
                grade.auto_score = scores[name]
            elif cells is None:  # the notebook did not run: zero, as autograde scores a missing notebook
                grade.auto_score, grade.needs_manual_grade = 0.0, False
                continue
            elif name in cells:  # a manually graded answer; a test cell without a check waits for a person
                cell = cells[name]
                grade.auto_score = determine_grade(cell)[0] if is_solution(cell) or cell.cell_type != "code" else None
            else:
                continue  # not in the submitted notebook: autograde leaves it as it was
            grade.needs_manual_grade = grade.manual_score is not None or grade.auto_score is None
        for comment in graded.comments:
            cell = (cells or {}).get(names[comment.cell_id])
            if cell is not None:
                unchanged = cell.metadata.nbgrader.get("checksum") == compute_checksum(cell)
                comment.auto_comment = "No response." if unchanged and not is_task(cell) else None

    def close(self) -> None:
        self.gb.close()
