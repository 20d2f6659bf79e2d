"""The mutant catalogue: tests for the tests.

Every submission of an assignment (the solutions, the untouched release,
every mutant) runs in this process, its test cells restored as nbgrader
restores them.  The test then demands: the solutions get full marks; the
release gets zero on every part; every buggy version scores zero on the parts
it must lose and full marks on the parts it does not touch; every correct
variant gets full marks; docs/mutants.md says exactly that.

Real ``nbgrader autograde`` costs a kernel and seconds per submission, so
one nbgrader run per assignment grades the solutions, the release and a
sample (the first bug of every answer cell and a correct variant) in a
temporary course directory, with the same demands: the two ways agree.
"""

from __future__ import annotations

import functools

import pytest

from autograder import assignments, course, notebooks
from autograder.mutation import Mutant, bug, catalogue, expected_failures, minimum_bugs, must_keep, submission
from autograder.mutation.runner import (
    grade,
    judge,
    quick_run,
    quick_scores,
    read_sections,
    sample,
    section,
    summary,
    visible_failures,
    visible_misses,
    wrong_codes,
)

ASSIGNMENTS = course.assignments()
IDS = [a.name for a in ASSIGNMENTS]


@pytest.mark.parametrize("assignment", ASSIGNMENTS, ids=IDS)
def test_catalogue_is_well_formed(assignment):
    """Every answer cell has at least five bugs (fewer where FEW_BUGS says so) and a correct variant; every
    mutant applies to the solution and changes it; every part a bug must lose exists in this assignment."""
    mutants, table = catalogue(assignment), assignment.parts()
    solution = notebooks.read(assignment.source())
    release = notebooks.read(assignment.release())
    answers = notebooks.answer_cells(solution)
    for cell in answers:
        bugs = [m for m in mutants if m.cell == cell and not m.correct]
        variants = [m for m in mutants if m.cell == cell and m.correct]
        assert len(bugs) >= minimum_bugs(assignment, cell), f"{cell}: only {len(bugs)} bugs"
        assert variants, f"{cell}: no correct variant"
    for mutant in mutants:
        original = notebooks.strip_solution_markers(notebooks.cell_text(answers[mutant.cell]))
        assert mutant.cell_source(original).strip() != original.strip(), f"{mutant.id} changes nothing"
        assert set(expected_failures(mutant, table)) <= set(table), (mutant.id, expected_failures(mutant, table))
        if not mutant.correct:
            assert expected_failures(mutant, table), f"{mutant.id} must lose at least one part"
            assert mutant.mistake, f"{mutant.id} states no mistake code (bug(..., mistake=...))"
        built = submission(release, solution, mutant)
        assert "### BEGIN SOLUTION" not in str(built)


def test_mutant_rules():
    """The expectations derived from ``fails`` and ``Part.uses``."""
    PARTS = assignments.parts("04_backprop")
    dW = Mutant("dense_backward", "x", "", False, fails=("test_dense_dW",))
    assert expected_failures(dW, PARTS) == ("test_dense_dW",)
    keep = must_keep(dW, PARTS)
    assert "test_dense_dx" in keep and "test_dense_db" in keep and "test_relu_backward" in keep
    assert "test_mlp_grad_hidden" not in keep  # calls dense_backward on the way: may go either way
    default = Mutant("relu_backward", "x", "", False)
    assert expected_failures(default, PARTS) == ("test_relu_backward",)
    assert set(must_keep(Mutant("relu_backward", "x", "", True), PARTS)) == set(PARTS)


def test_a_catalogue_names_parts_by_their_check_functions():
    """``fails=`` takes the room's check functions, so a part id is written once; a typed id is refused."""
    check = assignments.checks("04_backprop").check_dense_dW
    assert bug("dense_backward", "x", "", replace=[("a", "b")], fails=[check]).fails == ("test_dense_dW",)
    with pytest.raises(TypeError, match="fails= takes the check functions of the room's checks.py"):
        bug("dense_backward", "x", "", replace=[("a", "b")], fails=["test_dense_dW"])


@functools.cache
def _in_process(name: str):
    """(scores, mistake codes) of every submission of assignment ``name``, run in this process once."""
    return quick_run(course.get(name))


@pytest.mark.parametrize("assignment", ASSIGNMENTS, ids=IDS)
def test_catalogue_in_process(assignment):
    """Every mutant scores what it must, and its diagnosis carries the mistake code the catalogue states."""
    scores, codes = _in_process(assignment.name)
    outcomes = judge(assignment, scores)
    problems = [f"{o.student}: {'; '.join(o.problems)}" for o in outcomes if not o.ok]
    assert not problems, "\n".join(problems)
    totals = summary(outcomes)
    assert totals["caught"] == totals["bugs"] > 0 and totals["rejected"] == 0
    assert not wrong_codes(assignment, codes), "\n".join(wrong_codes(assignment, codes))


@pytest.mark.parametrize("assignment", ASSIGNMENTS, ids=IDS)
def test_docs_table_of_mutants_is_up_to_date(assignment):
    outcomes = judge(assignment, _in_process(assignment.name)[0])
    assert section(assignment, outcomes) == read_sections().get(assignment.name), (
        "docs/mutants.md is out of date: run python -m autograder.mutation --write")


def test_a_wrong_mistake_code_is_reported():
    assignment = course.get("04_backprop")
    scores, codes = quick_run(assignment, mutants=[])
    bug_ = next(m for m in catalogue(assignment) if not m.correct)
    part = expected_failures(bug_, assignment.parts())[0]
    problems = wrong_codes(assignment, {bug_.id: {part: "transposed" if bug_.mistake != "transposed" else "other"}})
    assert any(p.startswith(bug_.id + ":") for p in problems)
    assert len(problems) == sum(not m.correct for m in catalogue(assignment))  # the others: no code found


def test_the_sample_has_a_bug_of_every_answer_cell_and_a_variant():
    assignment = course.get("04_backprop")
    chosen = sample(assignment)
    answers = notebooks.answer_cells(notebooks.read(assignment.source()))
    assert {m.cell for m in chosen if not m.correct} == set(answers)
    assert sum(m.correct for m in chosen) == 1


@pytest.mark.nbgrader
@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS, ids=IDS)
def test_a_sample_of_the_catalogue_through_nbgrader(assignment, tmp_path):
    chosen = sample(assignment)
    scores = grade(assignment, tmp_path, mutants=chosen)
    outcomes = judge(assignment, scores, mutants=chosen)
    problems = [f"{o.student}: {'; '.join(o.problems)}" for o in outcomes if not o.ok]
    assert not problems, "\n".join(problems)
    assert len(outcomes) == len(chosen) + 2
    # nbgrader's gradebook and the in-process run give every sampled submission the same scores
    quick = quick_scores(assignment, mutants=chosen)
    assert {s: scores[s] for s in quick} == quick


def test_the_solutions_pass_every_visible_test_and_a_blank_release_fails_them():
    for assignment in ASSIGNMENTS:
        failures = visible_failures(assignment, mutants=[])
        assert failures["solution"] == [], (assignment.name, failures["solution"])
        assert failures["release"], assignment.name


# Issue 15: every catalogued bug that loses hidden points fails a visible test before it is submitted, but
# those the catalogue lists as unseen, with the reason (runner.visible_misses).
@pytest.mark.parametrize("assignment", ASSIGNMENTS, ids=IDS)
def test_visible_tests_catch_every_catalogued_bug(assignment):
    missed = visible_misses(assignment)
    assert not missed, f"{len(missed)} bugs pass every visible test: {missed}"
