"""The visible tests' helper cell (autograder/visible.py) and what the visible tests under each answer report.

The helper cell of every source notebook and every release is the module's source (written once, copied by
tools/sync_visible_cell.py); the module needs NumPy alone; its verdicts are the hidden checks' own.  For the
assignments whose visible tests have been rewritten (issue 15), a blank release says "not written yet" in
one line under every test, and every catalogued bug fails a visible test that names the mistake the
catalogue states.
"""

from __future__ import annotations

import ast
import sys

import numpy as np
import pytest

from autograder import checks, course, notebooks
from autograder.mistakes import CODES
from autograder.mutation import catalogue
from autograder.mutation.runner import RELEASE, run_cells, submissions

sys.path.insert(0, str(course.ROOT))
from tools import sync_visible_cell  # noqa: E402 - after the path set-up above

ASSIGNMENTS = course.assignments()
IDS = [a.name for a in ASSIGNMENTS]


def _helper_cell(notebook: dict) -> tuple[int, dict]:
    cells = [c for c in notebook["cells"] if notebooks.is_code(c)]
    ids = [notebooks.grade_id(c) for c in cells]
    assert sync_visible_cell.GRADE_ID in ids, "no helper cell: run tools/sync_visible_cell.py"
    return ids.index(sync_visible_cell.GRADE_ID) - ids.index("setup"), cells[ids.index(sync_visible_cell.GRADE_ID)]


@pytest.mark.parametrize("assignment", ASSIGNMENTS, ids=IDS)
def test_every_notebook_and_release_holds_the_module_as_its_helper_cell(assignment):
    for path in (assignment.source(), assignment.release()):
        offset, cell = _helper_cell(notebooks.read(path))
        assert offset == 1, f"{path}: the helper cell must come right after the setup cell"
        assert notebooks.cell_text(cell) == sync_visible_cell.cell_source(), (
            f"{path}: the helper cell differs from autograder/visible.py; run tools/sync_visible_cell.py, then "
            "tools/make_exercises.py")
        assert notebooks.is_locked(cell) and not notebooks.is_test_cell(cell) and not notebooks.is_answer_cell(cell)


def test_the_module_needs_numpy_alone():
    tree = ast.parse(sync_visible_cell.MODULE.read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= {"numpy"} | set(sys.stdlib_module_names), imported


def test_every_mistake_code_the_module_gives_is_a_known_one():
    """The module cannot import autograder.mistakes (it must stay NumPy-only), so its codes are checked here: the
    first item of every verdict it returns and the code of every failure it raises."""
    tree = ast.parse(sync_visible_cell.MODULE.read_text())
    codes = {node.value.elts[0].value for node in ast.walk(tree) if isinstance(node, ast.Return)
             and isinstance(node.value, ast.Tuple) and node.value.elts and isinstance(node.value.elts[0], ast.Constant)}
    codes |= {node.args[1].value for node in ast.walk(tree) if isinstance(node, ast.Call)
              and getattr(node.func, "id", None) == "check_failed" and len(node.args) == 2
              and isinstance(node.args[1], ast.Constant)}
    codes |= {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)
              and node.value in ("not_implemented", "crashed")}  # the codes of run_on_copies' failures
    assert {"transposed", "broadcast", "in_place", "not_finite", "wrong_rows", "constant_factor"} <= codes
    assert codes <= set(CODES), codes - set(CODES)


def test_the_sync_tool_inserts_the_cell_after_setup_and_then_finds_nothing_to_do():
    import nbformat

    notebook = nbformat.v4.new_notebook()
    setup = nbformat.v4.new_code_cell("import numpy as np")
    setup.metadata["nbgrader"] = {"grade_id": "setup", "locked": True}
    notebook.cells = [nbformat.v4.new_markdown_cell("# A"), setup, nbformat.v4.new_code_cell("x = 1")]
    assert sync_visible_cell.synced(notebook)
    assert notebooks.grade_id(notebook.cells[2]) == sync_visible_cell.GRADE_ID
    assert not sync_visible_cell.synced(notebook)
    notebook.cells[2].source += "\n# edited by hand"
    assert sync_visible_cell.synced(notebook) and len(notebook.cells) == 4


# --- the helpers, as a notebook uses them ------------------------------------------------------------------

NOTEBOOK = '''
def first(x):
    raise NotImplementedError()


def second(x):
    return first(x) + 1


def broken(x):
    return np.zeros(2) @ np.zeros(3)


def doubles_in_place(x):
    x *= 2
    return x
'''


@pytest.fixture
def namespace():
    space = {"__name__": "__main__"}
    exec(compile(sync_visible_cell.cell_source(), "<visible_checks>", "exec"), space)
    exec(compile(NOTEBOOK, "<answers>", "exec"), space)
    return space


def _verdict(call, kind=AssertionError):
    with pytest.raises(kind) as error:
        call()
    assert error.value.__context__ is None or error.value.__suppress_context__  # no traceback from elsewhere
    return str(error.value), checks.mistake_of(error.value)


def test_an_unwritten_function_is_named_in_one_line(namespace):
    run = namespace["run_on_copies"]
    assert _verdict(lambda: run(namespace["first"], x=np.ones(2)), NotImplementedError) == (
        "`first` is not written yet: replace `raise NotImplementedError()` in its cell with your code",
        "not_implemented")
    assert _verdict(lambda: run(namespace["second"], x=np.ones(2)), NotImplementedError) == (
        "`second` needs `first`, which is not written yet: replace `raise NotImplementedError()` in its cell with "
        "your code", "not_implemented")


def test_an_error_is_named_in_one_line_with_the_inputs(namespace):
    message, code = _verdict(lambda: namespace["run_on_copies"](namespace["broken"], x=np.ones((2, 3))))
    assert message.startswith("broken(x) raised ValueError: ") and message.endswith("(inputs: x (2, 3))")
    assert "\n" not in message and code == "crashed"


def test_in_place_modification_is_reported_and_the_caller_keeps_its_data(namespace):
    data = np.array([1.0, 2.0])
    message, code = _verdict(lambda: namespace["run_on_copies"](namespace["doubles_in_place"], x=data))
    assert "doubles_in_place(x) modified its input x in place (entry (0,) changed from 1 to 2)" in message
    assert code == "in_place" and np.array_equal(data, [1.0, 2.0])


def test_returned_items_and_dict_entries_are_checked(namespace):
    run = namespace["run_on_copies"]
    assert run(lambda x: (x, 2 * x), returns=("a", "b"), x=1.0) == (1.0, 2.0)
    message, code = _verdict(lambda: run(lambda x: x, returns=("a", "b"), x=1.0))
    assert message == "<lambda>(x) must return a tuple (a, b), got a float" and code == "wrong_type"
    assert _verdict(lambda: namespace["expect_entry"]({}, "GRAPH_VALUES", "g")) == (
        "GRAPH_VALUES has no entry 'g' yet", "not_implemented")
    message, _ = _verdict(lambda: namespace["expect_close"](None, [1.0], "dX"))
    assert message == "dX must be a NumPy array or a number, got NoneType: did you forget to return it?"


EXPECTED = np.arange(1.0, 13.0).reshape(3, 4)


@pytest.mark.parametrize("received, kwargs", [
    (EXPECTED.T, {}), (-EXPECTED, {}), (5 * EXPECTED, {"batch_size": 5}), (EXPECTED / 5, {"batch_size": 5}),
    (EXPECTED + 1, {"mistakes": {checks.named("missing_derivative", "one too many"): EXPECTED + 1}}),
    (np.where(EXPECTED > 6, np.nan, EXPECTED), {}), (np.zeros((3, 3, 4)), {}), (EXPECTED.sum(axis=0), {}),
    (EXPECTED * 0.5, {}), (np.vstack([EXPECTED[:2], EXPECTED[2:] + 1]), {}),
], ids=["transposed", "sign", "sum", "mean", "named", "nan", "broadcast", "reduced", "factor", "rows"])
def test_the_visible_verdict_is_the_hidden_one(namespace, received, kwargs):
    """The same message and the same mistake code from the helper cell and from the hidden checks."""
    hidden = _verdict_of(lambda: checks.assert_close(received, EXPECTED, "dW", case="X (3, 4)", **kwargs))
    shown = _verdict_of(lambda: namespace["expect_close"](received, EXPECTED, "dW", case="X (3, 4)", **kwargs))
    assert shown == hidden and hidden[1] != "other"


def test_the_visible_equality_verdict_is_the_hidden_one(namespace):
    args = (np.array([0.0, 0.0]), np.array([0.0, 1.0]), "tlu")
    options = {"labels": ["(0, 0)", "(1, 1)"], "mistakes": {"strict": [0.0, 0.0]}}
    assert _verdict_of(lambda: namespace["expect_equal"](*args, **options)) == _verdict_of(
        lambda: checks.assert_equal(*args, **options))


def _verdict_of(call):
    with pytest.raises(AssertionError) as error:
        call()
    return str(error.value), checks.mistake_of(error.value)


# --- the rewritten assignments: what a student sees before submitting ---------------------------------------


def _visible_errors(assignment) -> dict[str, list[tuple[str, BaseException]]]:
    """``{student: [(grade_id, error) of each visible test that failed]}``, each notebook run top to bottom."""
    return {student: [(notebooks.grade_id(cell), error) for cell, error in run_cells(notebook, student)
                      if error is not None and notebooks.is_test_cell(cell)]
            for student, (_, notebook) in submissions(assignment).items()}


@pytest.mark.parametrize("assignment", ASSIGNMENTS, ids=IDS)
def test_visible_tests_name_what_is_missing_and_the_mistakes_of_the_catalogue(assignment):
    errors = _visible_errors(assignment)
    tests = notebooks.test_cells(notebooks.read(assignment.source()))
    blank = errors[RELEASE]
    assert [gid for gid, _ in blank] == list(tests), "every visible test fails on the blank release"
    for gid, error in blank:
        assert checks.mistake_of(error) == "not_implemented" and "\n" not in str(error), (gid, error)
        assert " yet" in str(error) and isinstance(error, AssertionError | NotImplementedError), (gid, error)
    wrong = []
    for mutant in catalogue(assignment):
        if mutant.correct:
            continue
        codes = {checks.mistake_of(error) for _, error in errors[mutant.id]}
        if mutant.unseen is not None:  # listed, with the reason no public case catches it (runner.visible_misses)
            continue
        if not codes:
            wrong.append(f"{mutant.id}: passes every visible test")
        elif mutant.mistake != "other" and mutant.mistake not in codes:
            wrong.append(f"{mutant.id}: visible tests say {sorted(codes)}, the catalogue says {mutant.mistake!r}")
    assert not wrong, "\n".join(wrong)
