"""``python -m autograder.mutation [ASSIGNMENT ...] [--quick] [--write]``

Grades the mutant catalogue of each assignment (all of them by default)
with real ``nbgrader autograde`` and prints what was caught; ``--write``
regenerates docs/mutants.md; ``--quick`` runs the notebooks in this process
instead of nbgrader (for authoring mutants; the docs need a real run).
Exits with status 1 when a bug is not caught or a correct variant loses points.
"""

from __future__ import annotations

import argparse
import sys

from .. import course
from .runner import run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.mutation", description=__doc__.split("\n\n")[1])
    parser.add_argument("assignments", nargs="*", help="assignment names (default: all)")
    parser.add_argument("--quick", action="store_true", help="run in this process instead of nbgrader")
    parser.add_argument("--write", action="store_true", help="regenerate docs/mutants.md")
    args = parser.parse_args(argv)
    if args.quick and args.write:
        parser.error("--write needs a real nbgrader run; drop --quick")
    names = args.assignments or [a.name for a in course.assignments()]
    return 0 if run(names, quick=args.quick, write=args.write) else 1


if __name__ == "__main__":
    sys.exit(main())
