"""Every assignment through the grading command, and the catalogue's verdicts where grader functions travel.

For each of the nine assignments: the honest submission earns full marks
and the untouched release zero.  Where a check hands the student's code a
function of the grader's (a gradient for an optimiser, the ``f`` of a
numerical gradient or of a fit) or a NumPy generator, every mutant of that
cell in the catalogue is graded through the command too and must get the
verdict ``tests/test_mutants.py`` demands of nbgrader: zero on the parts the
bug breaks, full marks on those it must keep, full marks for correct
variants.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import course, notebooks
from autograder.mutation import catalogue, expected_failures, must_keep, submission

pytestmark = pytest.mark.slow
# the answer cells whose checks pass grader functions or generators into the student's code
CALLBACK_CELLS = {"02_logistic": ["fit_logistic"], "03_gradient_descent": ["batch_gd", "sgd", "minibatch_sgd"],
                  "04_backprop": ["numerical_gradient"], "08_universality": ["fit_relu_sum"]}
NAMES = [a.name for a in course.assignments()]


def _class(assignment) -> dict[str, dict]:
    release, solution = (notebooks.read(p) for p in (assignment.release(), assignment.source()))
    students = {"honest": submission(release, solution), "release": release}
    for mutant in catalogue(assignment):
        if mutant.cell in CALLBACK_CELLS.get(assignment.name, []):
            students[mutant.id.replace("--", "__")] = submission(release, solution, mutant)
    return students


@pytest.fixture(scope="module", params=NAMES)
def graded(request, tmp_path_factory):
    assignment = course.get(request.param)
    root = tmp_path_factory.mktemp(assignment.name)
    students = _class(assignment)
    for student, notebook in students.items():
        path = root / "submitted" / student / assignment.name / assignment.notebook
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(notebook))
    run = subprocess.run([sys.executable, "-m", "autograder", "grade", assignment.name,
                          "--submissions", str(root / "submitted"), "--db", str(root / "gradebook.db"),
                          "--workers", "2", "--report", str(root / "report.json")],
                         capture_output=True, text=True, timeout=900, cwd=root)
    assert run.returncode == 0, run.stderr[-3000:]
    results = {r["student"]: r for r in json.loads((root / "report.json").read_text())["results"]}
    return assignment, results, run


def test_honest_full_marks_and_release_zero(graded):
    assignment, results, run = graded
    total = assignment.parts().total
    honest = results["honest"]
    assert honest["status"] == "graded" and honest["score"] == honest["max_score"] == total, \
        [(p["id"], p["message"]) for p in honest["parts"] if p["score"] < p["max_score"]]
    assert results["release"]["status"] == "graded" and results["release"]["score"] == 0
    # torch's answers were computed once, in the trusted process, for every part
    assert f"oracles: computed once for {len(assignment.parts())} of {len(assignment.parts())} parts" in run.stderr


def test_catalogue_verdicts_where_grader_functions_travel(graded):
    assignment, results, _ = graded
    table = assignment.parts()
    checked = 0
    for mutant in catalogue(assignment):
        if mutant.cell not in CALLBACK_CELLS.get(assignment.name, []):
            continue
        result = results[mutant.id.replace("--", "__")]
        scores = {p["id"]: (p["score"], p["max_score"], p["message"]) for p in result["parts"]}
        assert result["status"] == "graded", (mutant.id, result["error"])
        for gid in expected_failures(mutant, table):
            assert scores[gid][0] == 0, f"{mutant.id} ({mutant.description}) not caught by {gid}"
        for gid in must_keep(mutant, table):
            assert scores[gid][0] == scores[gid][1], f"{mutant.id} lost {gid}: {scores[gid][2]}"
        checked += 1
    if assignment.name in CALLBACK_CELLS:
        assert checked >= 5 * len(CALLBACK_CELLS[assignment.name])
    else:
        assert checked == 0


def test_callback_cells_are_the_ones_that_need_them():
    """The list above is not stale: each named cell exists in its assignment's catalogue."""
    for name, cells in CALLBACK_CELLS.items():
        known = {m.cell for m in catalogue(course.get(name))}
        assert set(cells) <= known, (name, set(cells) - known)
    assert Path(course.ROOT / "solutions").is_dir()
