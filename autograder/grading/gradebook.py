"""Scores into nbgrader's gradebook, with a journal that makes grading resumable.

Only the command's main process writes, one submission per transaction: the
grades of its parts and its journal row are committed together, so a run
killed at any moment leaves each submission either fully recorded or not at
all.  The journal (table ``autograder_journal``, beside nbgrader's tables)
holds each finished result as JSON; a new run skips the students it lists
unless ``--force``.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import warnings
from pathlib import Path

from nbgrader import api as nbgrader_api
from nbgrader.api import Gradebook, MissingEntry
from sqlalchemy import Column, Float, MetaData, String, Table, Text, create_engine, delete, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SAWarning, SQLAlchemyError

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
    """The gradebook cannot be opened (server down, no such database, driver missing, bad URL).

    A ``SystemExit`` so that the command ends with this one line, naming the
    database, and exit status 1, instead of a long traceback through
    SQLAlchemy and the driver; in-process callers catch it by name.
    """


def _unopenable(url: str, error: Exception) -> GradebookError:
    reason = str(getattr(error, "orig", None) or error)  # the driver's own words, if it spoke
    if isinstance(error, ImportError):
        reason += " (the database driver named in the URL is not installed)"
    return GradebookError(f"cannot open the gradebook {shown(url)}: {' '.join(reason.split())}")


def finished(db: str, assignment: str) -> dict[str, dict]:
    """``{student: result}`` from the journal, read directly: fast, and a gradebook that cannot be
    opened is named here, before any grading starts.  No gradebook yet: nothing finished."""
    url = url_of(db)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return {}
    try:
        engine = create_engine(url)
        try:
            with engine.connect() as connection:
                if not inspect(connection).has_table(JOURNAL.name):
                    return {}
                rows = connection.execute(select(JOURNAL.c.student, JOURNAL.c.result)
                                          .where(JOURNAL.c.assignment == assignment))
                return {student: json.loads(result) for student, result in rows}
        finally:
            engine.dispose()
    except (SQLAlchemyError, ImportError, ValueError) as error:
        raise _unopenable(url, error) from None


@contextlib.contextmanager
def _head_in_process():
    """nbgrader's ``get_alembic_version`` answered by :func:`alembic_head`, while a gradebook opens."""
    original = nbgrader_api.get_alembic_version
    nbgrader_api.get_alembic_version = alembic_head
    try:
        yield
    finally:
        nbgrader_api.get_alembic_version = original


class Book:
    """nbgrader's gradebook for one assignment, and the journal of finished submissions."""

    def __init__(self, db: str, assignment: str, notebook: str, parts):
        url, self.gb = url_of(db), None
        try:
            with _head_in_process():
                self.gb = Gradebook(url, course_id=COURSE_ID)
            METADATA.create_all(self.gb.engine)
            self.assignment, self.notebook = assignment, notebook.removesuffix(".ipynb")
            self.gb.update_or_create_assignment(assignment)
            self.gb.update_or_create_notebook(self.notebook, assignment)
            for gid, part in parts.items():
                self.gb.update_or_create_grade_cell(gid, self.notebook, assignment, max_score=part.points,
                                                    cell_type="code")
        except (SQLAlchemyError, ImportError, ValueError, OSError) as error:
            if self.gb is not None:
                self.gb.close()
            raise _unopenable(url, error) from None

    def record(self, result: dict) -> None:
        """Write one submission's grades and its journal row in one transaction."""
        student = result["student"]
        try:
            try:
                self.gb.find_student(student)
            except MissingEntry:
                self.gb.add_student(student)
            try:
                self.gb.find_submission(self.assignment, student)
            except MissingEntry:
                with warnings.catch_warnings():  # nbgrader's own autoflush notice, on every new submission
                    warnings.filterwarnings("ignore", message=".*not in session", category=SAWarning)
                    self.gb.add_submission(self.assignment, student)
            for part in result["parts"]:
                grade = self.gb.find_grade(part["id"], self.notebook, self.assignment, student)
                grade.auto_score = float(part["score"])
                grade.manual_score = None
            self.gb.db.execute(delete(JOURNAL).where(JOURNAL.c.assignment == self.assignment,
                                                     JOURNAL.c.student == student))
            self.gb.db.execute(JOURNAL.insert().values(assignment=self.assignment, student=student,
                                                       status=result["status"], result=json.dumps(result),
                                                       finished_at=time.time()))
            self.gb.db.commit()
        except Exception:
            self.gb.db.rollback()
            raise

    def close(self) -> None:
        self.gb.close()
