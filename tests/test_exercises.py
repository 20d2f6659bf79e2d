"""The graded exercises: check functions and their diagnostics, oracles, notebooks,
releases, feedback.

Fast tests run in this process.  Tests marked ``nbgrader`` run the real
nbgrader commands in temporary course directories (never the repository's
gradebook); the mutant catalogue is in test_mutants.py.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from autograder import checks, course, oracles
from autograder.feedback import NOTE, HideHiddenTests
from autograder.mutants import catalogue, submission
from autograder.mutants.runner import read_sections

ASSIGNMENTS = course.assignments()
IDS = [a.name for a in ASSIGNMENTS]
EXPECTED = [
    "01_neurons", "02_logistic", "03_gradient_descent", "04_backprop", "05_vanishing",
    "06_relu", "07_losses", "08_universality", "09_regularisation",
]


def _module(assignment):
    import importlib

    return importlib.import_module(assignment.tests_module)


def _source(cell) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


# --- the trust boundary and the diagnostics -----------------------------------------------------------------


class Sneaky(np.ndarray):
    """An ndarray subclass that claims to equal everything."""

    def __eq__(self, other):
        return True


class AlwaysEqual:
    def __eq__(self, other):
        return True

    def __array__(self, dtype=None, copy=None):
        return np.zeros(3)


@pytest.mark.parametrize("value", [np.zeros(3).view(Sneaky), AlwaysEqual(), "1.0", None, np.array(["a"]),
                                   [np.zeros(2), np.zeros(3)]], ids=["subclass", "object", "string", "none",
                                                                     "str_array", "ragged"])
def test_to_array_refuses_anything_but_plain_numbers(value):
    with pytest.raises(AssertionError):
        checks.to_array(value, "out")


@pytest.mark.parametrize("value, expected", [(np.arange(3), [0.0, 1.0, 2.0]), (2, 2.0), (np.float32(1.5), 1.5),
                                             ([1, 2.5], [1.0, 2.5]), (np.array([True, False]), [1.0, 0.0])])
def test_to_array_copies_plain_numbers_as_float64(value, expected):
    out = checks.to_array(value, "out")
    assert type(out) is np.ndarray and out.dtype == np.float64
    np.testing.assert_array_equal(out, expected)
    if isinstance(value, np.ndarray):
        assert not np.shares_memory(out, value)


def test_call_refuses_a_function_that_edits_its_input():
    def scale(x):
        x *= 2
        return x

    with pytest.raises(AssertionError, match=r"modified its input x in place \(entry \(0,\) changed from 1 to 2\)"):
        checks.call(scale, "scale(x)", x=np.ones(3))


def test_call_names_the_function_when_student_code_raises():
    with pytest.raises(AssertionError, match="f raised ZeroDivisionError"):
        checks.call(lambda x: 1 / 0, "f", x=np.ones(2))
    with pytest.raises(AssertionError, match="not written yet"):
        checks.call(lambda x: (_ for _ in ()).throw(NotImplementedError()), "f", x=np.ones(2))


def test_call_passes_callables_through_and_copies_data():
    seen = []
    data = np.ones(2)
    checks.call(lambda f, x: f(x), "g", f=seen.append, x=data)
    assert len(seen) == 1 and seen[0] is not data


EXPECTED_W = np.arange(1.0, 13.0).reshape(3, 4)


@pytest.mark.parametrize("received, batch, mistakes, message", [
    (EXPECTED_W.T, None, None, "looks transposed"),
    (-EXPECTED_W, None, None, "sign is flipped"),
    (5 * EXPECTED_W, 5, None, "n = 5 times too large"),
    (EXPECTED_W / 5, 5, None, "n = 5 times too small"),
    (EXPECTED_W + 1, None, {"one too many": EXPECTED_W + 1}, "common mistake: one too many"),
    (np.where(EXPECTED_W > 6, np.nan, EXPECTED_W), None, None, "NaN or infinite"),
    (np.zeros((3, 3, 4)), None, None, "silent broadcast"),
    (EXPECTED_W.sum(axis=0), None, None, "an axis is missing"),
    (np.zeros((4, 4)), None, None, "off by one"),
    (EXPECTED_W * 0.5, None, None, "same factor 0.5"),
    (np.vstack([EXPECTED_W[:2], EXPECTED_W[2:] + 1]), None, None, "Only rows [2]"),
], ids=["transposed", "sign", "sum", "mean", "named", "nan", "broadcast", "reduced", "off_by_one", "factor", "rows"])
def test_assert_close_names_the_mistake(received, batch, mistakes, message):
    with pytest.raises(AssertionError) as error:
        checks.assert_close(received, EXPECTED_W, "dW", case="X (3, 4)", batch_size=batch, mistakes=mistakes)
    assert message in str(error.value)
    assert "dW" in str(error.value)


def test_assert_close_reports_the_worst_entry_and_its_relative_error():
    received = EXPECTED_W.copy()
    received[1, 2] *= 1.5
    with pytest.raises(AssertionError, match=r"1 of 12 entries differ; the largest relative error is 0.5 at index "
                                             r"\(1, 2\) \(expected 7, received 10.5\)"):
        checks.assert_close(received, EXPECTED_W, "dW")


def test_assert_close_accepts_float32_arithmetic_and_rejects_small_real_errors():
    rng = np.random.default_rng(0)
    X, W = rng.standard_normal((7, 30)), rng.standard_normal((5, 30))
    exact = X @ W.T
    checks.assert_close(X.astype(np.float32) @ W.T.astype(np.float32), exact, "v")
    with pytest.raises(AssertionError):
        checks.assert_close(exact * (1 + 1e-3), exact, "v")


def test_assert_equal_labels_the_first_wrong_entry():
    with pytest.raises(AssertionError, match="the first for input \\(1, 1\\): expected 1, received 0. This matches "
                                             "a common mistake: strict"):
        checks.assert_equal(np.array([0.0, 0.0]), np.array([0.0, 1.0]), "tlu", labels=["input (0, 0)", "input (1, 1)"],
                            mistakes={"strict": [0.0, 0.0]})


# --- oracles --------------------------------------------------------------------------------------------------


def test_torch_oracle_agrees_with_central_differences():
    rng = np.random.default_rng(1)
    X, W, b, G = rng.standard_normal((3, 4)), rng.standard_normal((2, 4)), rng.standard_normal(2), rng.standard_normal(
        (3, 2))
    torch = oracles.torch()
    out = oracles.value_and_grad(lambda X, W, b: torch.tanh(X @ W.T + b), {"X": X, "W": W, "b": b},
                                 wrt=("X", "W", "b"), grad_out=G)
    np.testing.assert_allclose(out["dW"], oracles.central_difference(lambda W: np.sum(G * np.tanh(X @ W.T + b)), W),
                               rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(out["db"], oracles.central_difference(lambda b: np.sum(G * np.tanh(X @ W.T + b)), b),
                               rtol=1e-6, atol=1e-8)


def test_grader_oracles_agree_with_nnref_and_central_differences():
    from autograder import tests_02_logistic as t02
    from autograder import tests_04_backprop as t04
    from nnref.layers import Dense

    c = t04._dense_case(2)
    layer = Dense(c["X"].shape[1], c["W"].shape[0])
    layer.params.update(W=c["W"], b=c["b"])
    layer(c["X"])
    ref = t04.dense_oracle(c["X"], c["W"], c["b"], c["grad_out"])
    np.testing.assert_allclose(layer.backward(c["grad_out"]), ref["dX"], rtol=1e-12)
    np.testing.assert_allclose(layer.grads["W"], ref["dW"], rtol=1e-12)
    for w, b, X, y in t02._nll_cases("pm1")[:4]:
        ref = t02.nll_oracle(w, b, X, y, "pm1")
        numeric = oracles.central_difference(
            lambda w, b=b, X=X, y=y: np.mean(np.logaddexp(0.0, -y * (X @ w + b))), w)
        np.testing.assert_allclose(ref["dw"], numeric, rtol=1e-6, atol=1e-8)
    X, y, params = t04._mlp_case(0)
    ref = t04.mlp_oracle(X, y, [W for W, _ in params], [b for _, b in params])
    by_hand = t04.mlp_mistake(X, y, params, "right")
    for i, (dW, db) in enumerate(by_hand):
        np.testing.assert_allclose(ref[f"dW{i}"], dW, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(ref[f"db{i}"], db, rtol=1e-10, atol=1e-12)


def test_oracle_cache_stores_on_disk_and_reloads(tmp_path, monkeypatch):
    calls = []

    @oracles.cached
    def square(x):
        calls.append(1)
        return {"y": x**2}

    monkeypatch.setenv(oracles.CACHE_ENV, str(tmp_path))
    x = np.arange(3.0)
    first = square(x)
    oracles._memory.clear()
    second = square(x)
    assert len(calls) == 1 and len(list(tmp_path.glob("*.npz"))) == 1
    np.testing.assert_array_equal(first["y"], second["y"])
    square(x + 1)
    assert len(calls) == 2


# --- the notebooks --------------------------------------------------------------------------------------------


def test_every_assignment_is_present():
    assert set(EXPECTED) <= set(IDS), sorted(set(EXPECTED) - set(IDS))


@pytest.mark.parametrize("assignment", ASSIGNMENTS, ids=IDS)
def test_graded_parts_match_the_test_module(assignment):
    """The notebook's test cells, their points and their hidden calls match PARTS; ``uses`` names real cells."""
    notebook = course.read_notebook(assignment.source())
    cells = course.code_cells(notebook)
    parts = _module(assignment).PARTS
    assert course.graded_parts(notebook) == {gid: part.points for gid, part in parts.items()}
    answers = {gid for gid, cell in cells.items() if cell["metadata"]["nbgrader"]["solution"]}
    for gid, part in parts.items():
        source = _source(cells[gid])
        hidden = source[source.index("### BEGIN HIDDEN TESTS"):source.index("### END HIDDEN TESTS")]
        assert f"from {assignment.tests_module} import {part.check.__name__}" in hidden, gid
        assert f"{part.check.__name__}(" in hidden.split("import", 1)[1], gid
        assert set(part.uses) <= answers, (gid, set(part.uses) - answers)
    assert answers <= {cell for part in parts.values() for cell in part.uses}, "an answer cell that no part grades"
    assert parts.total >= 10


@pytest.mark.parametrize("assignment", ASSIGNMENTS, ids=IDS)
def test_source_notebooks_are_clean_and_open_with_the_rules(assignment):
    notebook = course.read_notebook(assignment.source())
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, "commit notebooks without outputs"
            assert "import torch" not in _source(cell), "student kernels need NumPy only"
    intro = re.sub(r"\s+", " ", _source(notebook["cells"][0]).replace("**", "")).lower()
    for phrase in ("what you will learn", "how to work", "how to check yourself", "hidden tests", "grade"):
        assert phrase in intro, phrase
    for gid, cell in course.code_cells(notebook).items():
        info, source = cell["metadata"]["nbgrader"], _source(cell)
        if info["solution"]:
            assert "### BEGIN SOLUTION" in source and "### END SOLUTION" in source, gid
        if info.get("grade"):
            assert source.count("### BEGIN HIDDEN TESTS") == 1 and source.count("### END HIDDEN TESTS") == 1, gid
            assert source.strip().split("### END HIDDEN TESTS")[1].strip(), f"{gid} has no visible self-check"


@pytest.mark.parametrize("assignment", ASSIGNMENTS, ids=IDS)
def test_releases_hold_no_solutions_no_hidden_tests_no_outputs(assignment):
    release = course.read_notebook(assignment.release())
    text = json.dumps(release)
    for secret in ("BEGIN SOLUTION", "HIDDEN TESTS", "autograder", "import torch"):
        assert secret not in text, secret
    for gid, cell in course.code_cells(release).items():
        if cell["metadata"]["nbgrader"]["solution"]:
            assert "raise NotImplementedError()" in _source(cell), gid
        assert cell["outputs"] == []


VISIBLE = textwrap.dedent("""
    import json, sys, time
    start = time.perf_counter()
    namespace = {"__name__": "__main__"}
    for source in json.load(sys.stdin):
        exec(compile(source, "<cell>", "exec"), namespace)
    print(json.dumps({"seconds": time.perf_counter() - start,
                      "modules": sorted(m for m in ("torch", "autograder", "nnref") if m in sys.modules)}))
""")


@pytest.mark.parametrize("assignment", ASSIGNMENTS, ids=IDS)
def test_visible_tests_pass_on_numpy_alone_in_seconds(assignment):
    """The release with the solutions filled in: every visible self-check passes, quickly, without torch."""
    filled = submission(course.read_notebook(assignment.release()), course.read_notebook(assignment.source()))
    sources = [_source(c) for c in filled["cells"] if c["cell_type"] == "code"]
    result = subprocess.run([sys.executable, "-c", VISIBLE], input=json.dumps(sources), capture_output=True,
                            text=True, cwd=course.ROOT / "exercises" / assignment.name, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["modules"] == [], f"the student notebook imported {report['modules']}"
    assert report["seconds"] < 5, f"visible tests took {report['seconds']:.1f} s"


# --- facts the notebooks state, computed here ---------------------------------------------------------------


def test_separable_counts_and_epochs_stated_in_assignment_1():
    from autograder.tests_01_neurons import separable

    for d, count in ((2, 14), (3, 104)):
        X = np.array(list(itertools.product((0.0, 1.0), repeat=d)))
        labels = [np.array(bits, dtype=float) for bits in itertools.product((0.0, 1.0), repeat=2**d)]
        assert sum(separable(X, y) for y in labels) == count
    # "a few hundred epochs is plenty for three inputs": the perceptron needs at most 20
    from autograder.tests_01_neurons import _train_reference

    X = np.array(list(itertools.product((0.0, 1.0), repeat=3)))
    for bits in itertools.product((0.0, 1.0), repeat=8):
        y = np.array(bits)
        if separable(X, y):
            assert _train_reference(X, 2 * y - 1, 1.0, 20)[2]


def test_worked_lda_example_and_the_outlier_comparison_of_assignment_2():
    from autograder import tests_02_logistic as t02
    from nnref.lda import LDA

    X = np.array([[0.0, 0.0], [2.0, 0.0], [1.0, 1.0], [0.0, 2.0], [2.0, 2.0], [1.0, 3.0]])
    lda = LDA().fit(X, np.array([0.0, 0.0, 0.0, 1.0, 1.0, 1.0]))
    np.testing.assert_allclose(lda.covariance, [[1, 0], [0, 1 / 3]], atol=1e-12)
    np.testing.assert_allclose(lda.w, [0, 6], atol=1e-12)
    assert np.isclose(lda.b, -8)
    key = t02.comparison_key()
    assert key["better"] == "logistic" and key["logistic"] - key["lda"] > 0.05, key
    # the notebook's outlier_data is the grader's
    setup = _source(course.code_cells(course.read_notebook(course.get("02_logistic").source()))["setup"])
    namespace: dict = {}
    exec(setup, namespace)
    for mine, theirs in zip(namespace["outlier_data"](), t02.outlier_data()):
        np.testing.assert_array_equal(mine, theirs)


# --- feedback -------------------------------------------------------------------------------------------------


def test_feedback_preprocessor_removes_hidden_source_and_its_traceback_frames():
    import nbformat

    cell = nbformat.v4.new_code_cell("x = 1\n### BEGIN HIDDEN TESTS\nsecret_check(f)\n### END HIDDEN TESTS\nassert x")
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "points": 1, "grade_id": "t",
                                 "schema_version": 3}
    cell.execution_count = 7
    cell.outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="dW looks transposed", traceback=[
        "\x1b[31mAssertionError\x1b[39m   Traceback (most recent call last)",
        "\x1b[36mCell\x1b[39m\x1b[36m \x1b[39m\x1b[32mIn[7]\x1b[39m, line 3\n----> 3 secret_check(f)",
        f"File {course.ROOT}/autograder/tests_04_backprop.py:10, in secret_check(f)\n   10 hidden line",
        "\x1b[36mCell\x1b[39m\x1b[36m \x1b[39m\x1b[32mIn[4]\x1b[39m, line 2, in f(x)\n----> 2 return x.T",
        "\x1b[31mAssertionError\x1b[39m: dW looks transposed"])]
    out, _ = HideHiddenTests().preprocess_cell(cell, {}, 0)
    text = out.source + "".join(out.outputs[0]["traceback"])
    assert "secret_check" not in text and "hidden line" not in text and "HIDDEN" not in text
    assert NOTE in out.source and "assert x" in out.source
    assert "return x.T" in text and "dW looks transposed" in text


@pytest.mark.parametrize("assignment", ASSIGNMENTS, ids=IDS)
def test_docs_table_lists_exactly_the_catalogue(assignment):
    section = read_sections().get(assignment.name)
    assert section, f"docs/mutants.md has no section for {assignment.name}: run python -m autograder.mutants --write"
    rows = set(re.findall(r"^\| `([^`]+)` \| `([^`]+)` \|", section, flags=re.M))
    assert rows == {(m.name, m.cell) for m in catalogue(assignment)}


def test_instructor_guide_covers_the_course_workflow():
    text = (course.ROOT / "docs" / "instructors.md").read_text()
    for command in ("nbgrader generate_assignment", "nbgrader release_assignment", "nbgrader collect",
                    "nbgrader autograde", "nbgrader generate_feedback", "nbgrader validate", "make exercises",
                    "python -m autograder.mutants"):
        assert command in text, command


# --- real nbgrader ---------------------------------------------------------------------------------------------


@pytest.mark.nbgrader
@pytest.mark.slow
def test_committed_releases_equal_a_fresh_generate_assignment(tmp_path):
    """`nbgrader generate_assignment` run from the repository root (its nbgrader_config.py), written to a
    temporary release folder, reproduces the committed exercises/ exactly (up to volatile fields)."""
    gradebook = course.ROOT / "gradebook.db"
    before = gradebook.stat().st_mtime_ns if gradebook.exists() else None
    for assignment in ASSIGNMENTS:
        out = tmp_path / "release"
        course.nbgrader("generate_assignment", assignment.name, "--force", "--no-db",
                        f"--CourseDirectory.release_directory={out}", cwd=course.ROOT)
        fresh = course.read_notebook(out / assignment.name / assignment.notebook)
        assert course.normalise(fresh) == course.normalise(course.read_notebook(assignment.release())), (
            f"exercises/{assignment.name} is out of date: run `make exercises`")
    assert (gradebook.stat().st_mtime_ns if gradebook.exists() else None) == before, "the course gradebook was touched"


@pytest.mark.nbgrader
@pytest.mark.slow
def test_feedback_shows_the_diagnosis_but_never_the_hidden_tests(tmp_path):
    """autograde + generate_feedback with the course configuration: the failure message reaches the
    student, the hidden test source does not (though the autograded notebook holds it)."""
    assignment = course.get("04_backprop")
    mutant = next(m for m in catalogue(assignment) if m.id == "dense_backward--dW_transposed")
    course.make_course(tmp_path, [assignment.name])
    course.generate_release(assignment.name, tmp_path)
    release = course.read_notebook(assignment.release())
    course.submit(tmp_path, assignment, "alice", submission(release, course.read_notebook(assignment.source()), mutant))
    course.nbgrader("autograde", assignment.name, cwd=tmp_path)
    course.nbgrader("generate_feedback", assignment.name, cwd=tmp_path)
    autograded = (tmp_path / "autograded" / "alice" / assignment.name / assignment.notebook).read_text()
    assert "check_dense_dW" in autograded and "BEGIN HIDDEN TESTS" in autograded  # what would leak by default
    html = (tmp_path / "feedback" / "alice" / assignment.name / "backprop.html").read_text()
    assert "it looks transposed" in html and "dW from dense_backward has shape (4, 3), expected (3, 4)" in html
    for secret in ("HIDDEN TESTS", "check_dense_dW", "tests_04_backprop", "autograder", "dense_oracle"):
        assert secret not in html, secret
    assert "hidden tests ran here" in html


@pytest.mark.nbgrader
@pytest.mark.slow
def test_nbgrader_validate_passes_the_solutions_and_fails_the_release(tmp_path):
    assignment = course.get("04_backprop")
    filled = submission(course.read_notebook(assignment.release()), course.read_notebook(assignment.source()))
    good = tmp_path / assignment.notebook
    good.write_text(json.dumps(filled))
    result = course.nbgrader("validate", str(good), cwd=tmp_path)
    assert "Success! Your notebook passes all the tests." in result.stdout + result.stderr
    bad = course.nbgrader("validate", str(assignment.release()), cwd=tmp_path, check=False)
    assert "NotImplementedError" in bad.stdout + bad.stderr
