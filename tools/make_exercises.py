"""Regenerate the student releases from the sources: ``make exercises``.

For each assignment (all by default) runs ``nbgrader generate_assignment
NAME --force --no-db`` at the repository root, which writes
``exercises/NAME/NOTEBOOK.ipynb`` without solutions, hidden tests or outputs.
``--no-db`` keeps the course's gradebook out of it: releasing to students
(docs/instructors.md) is when the gradebook learns about an assignment.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autograder import course  # noqa: E402 - after the path set-up above


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("assignments", nargs="*", help="assignment names (default: all under solutions/)")
    names = parser.parse_args(argv).assignments or [a.name for a in course.assignments()]
    for name in names:
        course.get(name)
        course.nbgrader("generate_assignment", name, "--force", "--no-db", cwd=course.ROOT)
        print(f"exercises/{name}: regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
