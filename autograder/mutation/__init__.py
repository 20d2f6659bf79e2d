"""The mutant catalogue: tests for the tests.

For every graded function, the assignment's room holds a catalogue,
``autograder/assignments/<name>/mutants.py``, of buggy versions (the common
mistakes: transposed, sign flipped, sum versus mean, missing activation
derivative, inputs modified in place, off by one ...) and correct versions
written differently (loops versus vectorised, another stable formula,
float32).  Each is a *mutant* of one answer cell::

    from autograder.mutation import bug, variant

    from .checks import check_dense_dW

    MUTANTS = [
        bug("dense_backward", "dW_transposed", "dW = Xᵀ grad_out, shape (n_in, n_out)",
            replace=[("grad_out.T @ X", "X.T @ grad_out")], fails=[check_dense_dW]),
        variant("dense_backward", "loops", "explicit loops over the batch", source='''def dense_backward(...)...'''),
    ]

``replace`` edits the solution's code (each old text must occur exactly
once); ``source`` gives the whole cell.  ``fails`` names parts by their
check functions (imported from the room's ``checks.py``), so a part id is
written once.  A submission is the student release with every answer cell
filled in from the solutions and the mutant's cell replaced;
``runner.py`` grades all of them with nbgrader.

What a mutant must score (checked by ``tests/test_mutants.py``):

* a correct variant: full marks on every part;
* a bug: zero on each part in ``fails`` (default: every part that tests
  its cell first, see ``Part.uses``); full marks on the other parts that
  test its cell first (partial credit per component) and on every part
  that does not use its cell; parts that merely call its cell on the way
  (a full MLP calling a dense layer) may go either way.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from dataclasses import replace as replace_field

from .. import notebooks
from ..course import Assignment
from ..mistakes import check_code

# answer cells with fewer than this many bugs fail tests/test_mutants.py, unless the catalogue's FEW_BUGS says less
MINIMUM_BUGS = 5


@dataclass(frozen=True)
class Mutant:
    """A buggy or correct version of one answer cell."""

    cell: str
    name: str
    description: str
    correct: bool
    source: str | None = None
    replace: tuple[tuple[str, str], ...] = ()
    fails: tuple[str, ...] | None = None
    mistake: str | None = None  # a bug's: the mistake code its first lost part's diagnosis must carry
    unseen: str | None = None  # a bug's: why no public case can catch it (the visible tests let it through)

    @property
    def id(self) -> str:
        return f"{self.cell}--{self.name}"

    def cell_source(self, solution_source: str) -> str:
        """The cell as the student would have written it."""
        if self.source is not None:
            return self.source.strip("\n")
        code = notebooks.strip_solution_markers(solution_source)
        for old, new in self.replace:
            count = code.count(old)
            if count != 1:
                raise ValueError(f"mutant {self.id}: {old!r} occurs {count} times in the solution of "
                                 f"{self.cell!r}; it must occur exactly once")
            code = code.replace(old, new)
        return code


def bug(cell: str, name: str, description: str, *, source: str | None = None, replace=(), fails=None,
        mistake: str | None = None, unseen: str | None = None) -> Mutant:
    """A buggy version of ``cell``: it must lose the points of ``fails`` (check functions of the room), the
    first of them with the diagnosis ``mistake`` (a code of :data:`autograder.mistakes.CODES`).  Every bug
    must also fail a visible test of the release, unless ``unseen`` says why no public case can catch it."""
    made = _make(cell, name, description, False, source, replace, fails)
    if unseen is not None:
        made = replace_field(made, unseen=unseen)
    return made if mistake is None else replace_field(made, mistake=check_code(mistake))


def variant(cell: str, name: str, description: str, *, source: str | None = None, replace=()) -> Mutant:
    """A correct version of ``cell`` written differently: it must get full marks."""
    return _make(cell, name, description, True, source, replace, None)


def _make(cell, name, description, correct, source, replace, fails) -> Mutant:
    if (source is None) == (not replace):
        raise ValueError(f"mutant {cell}--{name}: give either source= or replace=, not both or neither")
    return Mutant(cell, name, description, correct, source, tuple(tuple(r) for r in replace),
                  None if fails is None else tuple(_part_id(f"mutant {cell}--{name}", check) for check in fails))


def _part_id(mutant: str, check) -> str:
    """The grade_id of a check function declared with ``@PARTS.add``."""
    grade_id = getattr(check, "grade_id", None)
    if not callable(check) or not isinstance(grade_id, str):
        raise TypeError(f"{mutant}: fails= takes the check functions of the room's checks.py (declared with "
                        f"@PARTS.add), got {check!r}")
    return grade_id


def catalogue(assignment: Assignment) -> list[Mutant]:
    """The mutants of an assignment, checked for unique ids."""
    mutants = list(assignment.mutants().MUTANTS)
    ids = [m.id for m in mutants]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"duplicate mutant ids in {assignment.room / 'mutants.py'}: {duplicates}")
    return mutants


def minimum_bugs(assignment: Assignment, cell: str) -> int:
    """``MINIMUM_BUGS`` per answer cell, unless the catalogue's ``FEW_BUGS`` says fewer make sense for that cell."""
    return int(getattr(assignment.mutants(), "FEW_BUGS", {}).get(cell, MINIMUM_BUGS))


def expected_failures(mutant: Mutant, assignment_parts) -> tuple[str, ...]:
    """The parts a bug must score zero on."""
    if mutant.correct:
        return ()
    if mutant.fails is not None:
        return mutant.fails
    return tuple(gid for gid, part in assignment_parts.items() if part.uses[0] == mutant.cell)


def must_keep(mutant: Mutant, assignment_parts) -> tuple[str, ...]:
    """The parts a mutant must keep full marks on."""
    if mutant.correct:
        return tuple(assignment_parts)
    fails = set(expected_failures(mutant, assignment_parts))
    return tuple(gid for gid, part in assignment_parts.items()
                 if gid not in fails and (part.uses[0] == mutant.cell or mutant.cell not in part.uses))


def submission(release: dict, solution: dict, mutant: Mutant | None = None) -> dict:
    """The release with every answer cell filled in from the solutions, and ``mutant`` applied."""
    notebook = copy.deepcopy(release)
    answers = notebooks.answer_cells(solution)
    if mutant is not None and mutant.cell not in answers:
        raise ValueError(f"mutant {mutant.id}: no answer cell {mutant.cell!r}; answer cells: {sorted(answers)}")
    for gid, cell in notebooks.code_cells(notebook).items():
        if gid in answers:
            source = notebooks.cell_text(answers[gid])
            if mutant is not None and mutant.cell == gid:
                cell["source"] = mutant.cell_source(source)
            else:
                cell["source"] = notebooks.strip_solution_markers(source)
    return notebook
