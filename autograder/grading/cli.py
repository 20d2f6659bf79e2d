"""``python -m autograder grade ASSIGNMENT --submissions DIR``: grade a class, safely and in parallel."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from .. import course
from . import limits
from .run import grade_class


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser("grade", help="grade every submission of an assignment")
    g.add_argument("assignment", help="e.g. 01_neurons")
    g.add_argument("--submissions", required=True, type=Path, help="DIR/<student>/<assignment>/<notebook>.ipynb")
    g.add_argument("--workers", type=int, default=2, help="submissions graded at once (default 2)")
    g.add_argument("--db", default="gradebook.db", help="SQLite file or SQLAlchemy URL (default gradebook.db)")
    g.add_argument("--report", type=Path, help="write the JSON report here, and a CSV beside it")
    g.add_argument("--force", action="store_true", help="regrade every submission, changed or not (by default a "
                   "rerun grades only new and changed submissions and earlier errors)")
    g.add_argument("--student", action="append", default=[], metavar="NAME",
                   help="grade (or regrade) only this student; repeatable")
    g.add_argument("--feedback", type=Path, help="feedback HTML goes to FEEDBACK/<student>/<assignment>/ and the "
                   "graded notebooks beside it in autograded/ (default: beside the submissions folder, as "
                   "nbgrader lays out a course)")
    g.add_argument("--dask", metavar="ADDRESS", help="grade on a Dask cluster: its scheduler's address "
                   "(tcp://HOST:PORT), or 'local' for a LocalCluster of --workers processes on this machine "
                   "(default: the local pool of --workers processes)")
    limits.add_options(g.add_argument_group("limits per submission"))
    return p


def checked(p: argparse.ArgumentParser, args: argparse.Namespace) -> limits.Limits:
    """The limits the command line asks for, after refusing (exit status 2, naming the option) a bad value."""
    if args.workers <= 0:
        p.error(f"--workers must be positive, got {args.workers}")
    for name in args.student:
        if not name or name.startswith(".") or "/" in name or name != name.strip():
            p.error(f"--student {name!r} is not a student's folder name")
    if not args.submissions.is_dir():
        p.error(f"--submissions {args.submissions} is not a directory")
    try:
        course.get(args.assignment)
    except (ValueError, KeyError, FileNotFoundError) as error:
        p.error(f"unknown assignment {args.assignment!r}: {error}")
    try:
        return limits.from_options(args)
    except ValueError as error:
        p.error(str(error))


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    chosen = checked(p, args)
    # nbgrader runs ``alembic`` from PATH when it creates a gradebook
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
    start = time.monotonic()
    code = grade_class(args.assignment, args.submissions, chosen, args.workers, args.db, force=args.force,
                       report_path=args.report, feedback=args.feedback, students=args.student, dask=args.dask)
    print(f"done in {time.monotonic() - start:.1f} s", file=sys.stderr)
    return code
