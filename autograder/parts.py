"""The graded parts of an assignment: one autograded test cell each, with its points.

Each room's ``autograder/assignments/<assignment>/checks.py`` declares its
parts with a decorator on the check function that its hidden test cell
reaches through ``autograder.assignments.check``::

    PARTS = Parts()

    @PARTS.add("test_dense_dW", points=2, uses=("dense_backward",))
    def check_dense_dW(dense_backward): ...

``uses`` lists the solution cells (by grade_id) whose code the part runs.
The test suite checks that the notebook's test cells match this table, and
the mutant catalogue uses it to prove partial credit: a mistake in one
solution cell must cost the parts that use it and nothing else.  The
decorator records the part's grade_id on its check function
(``check_dense_dW.grade_id``), so the catalogue names a part by its
function and the id is written once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Part:
    """One autograded test cell."""

    grade_id: str
    points: float
    uses: tuple[str, ...]
    check: object


class Parts(dict):
    """``{grade_id: Part}`` in the order the notebook grades them."""

    def add(self, grade_id: str, points: float, uses: tuple[str, ...]):
        def register(check):
            if grade_id in self:
                raise ValueError(f"part {grade_id!r} is declared twice")
            self[grade_id] = Part(grade_id, float(points), tuple(uses), check)
            check.grade_id = grade_id
            return check

        return register

    def using(self, cell: str) -> list[str]:
        """The parts that run the code of solution cell ``cell``."""
        return [gid for gid, part in self.items() if cell in part.uses]

    @property
    def total(self) -> float:
        return sum(part.points for part in self.values())
