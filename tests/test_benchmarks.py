"""Smoke tests of the benchmark harness: tiny sizes, the JSON schema, the rows.

No test here asserts a timing: on a shared machine any such bound is either
loose enough never to fail or tight enough to fail at random.  What is
asserted is the structure every run must have, and the few outcomes that do
not depend on speed (planted gradient errors are caught, a markdown edit
executes no notebook, a code edit executes exactly one).
"""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
from helpers import HAS_CUDA

from benchmarks import book_builds, cuda, gpu_results, gradcheck_cost, mlp_step, report, timing
from benchmarks.__main__ import Config, main
from benchmarks.timing import Stats, compare, ratio

ENTRY_KEYS = {"label", "kind", "unit", "min", "median", "max", "n", "target", "met", "note", "best"}


@pytest.fixture(scope="module")
def quick_results(tmp_path_factory):
    """One quick run of rows 1-4 (row 5 grades a class: tests/test_benchmarks_grading.py; row 6 builds a
    book: see its own test)."""
    out = tmp_path_factory.mktemp("bench") / "results.json"
    assert main(["--quick", "--rows", "1,2,3,4", "--output", str(out), "--no-progress", "--threads", "1"]) == 0
    return json.loads(out.read_text())


def test_results_document_has_machine_versions_date_and_rows(quick_results):
    doc = quick_results
    assert doc["schema"] == report.SCHEMA_VERSION
    assert doc["quick"] is True
    assert doc["date"][:2] == "20" and "T" in doc["date"]
    assert doc["machine"]["cpu_count"] >= 1 and "cpu" in doc["machine"]
    assert doc["versions"]["numpy"] == np.__version__ and doc["versions"]["torch"]
    assert doc["threads"]["threads"] == 1 and doc["threads"]["torch_threads"] == 1
    assert doc["clock"] == "thread-cpu", "one thread: time the calling thread's CPU, not the wall"
    assert doc["threads"]["numpy_blas_threads"] in (1, None)
    assert [row["id"] for row in doc["rows"]] == ["1", "2", "3", "4"]


def test_every_entry_has_min_median_max_in_order(quick_results):
    for row in quick_results["rows"]:
        assert row["status"] in report.STATUSES
        for entry in row["entries"]:
            assert set(entry) == ENTRY_KEYS, entry
            assert entry["kind"] in report.KINDS
            assert entry["min"] <= entry["median"] <= entry["max"], entry
            assert all(math.isfinite(entry[k]) for k in ("min", "median", "max")), entry
            if entry["target"] is not None:
                assert isinstance(entry["met"], bool), entry
            if entry["kind"] == "ratio" and entry["target"] is not None:
                assert entry["best"] is not None and entry["best"] > 0, entry


def _row(doc, rid):
    return next(row for row in doc["rows"] if row["id"] == rid)


def test_ratio_rows_are_present(quick_results):
    labels = {rid: [e["label"] for e in _row(quick_results, rid)["entries"] if e["kind"] == "ratio"]
              for rid in ("1", "2", "3")}
    assert any("torch time / numpy time" in lab for lab in labels["1"])
    for needle in ("overhead nnref-numpy / inline-numpy", "nnref-numpy / torch-autograd",
                   "raw GEMM share", "no cliff", "with dL/dX"):
        assert any(needle in lab for lab in labels["2"]), needle
    assert any(lab.endswith("directional / analytic gradient") for lab in labels["3"])
    assert any(lab.endswith("full central differences / directional") for lab in labels["3"])
    targets = {e["label"]: e["target"] for e in _row(quick_results, "2")["entries"] if e["kind"] == "ratio"}
    assert any(t == "<= 1.1" for t in targets.values()) and any(t == ">= 0.8" for t in targets.values())


@pytest.mark.parametrize("batch", [1, 5])
def test_row_2_candidates_compute_the_same_steps(batch):
    """Like with like: nnref's step (with or without dL/dX), the inline NumPy step and
    plain torch give the same losses, step after step, from the same weights."""
    sizes, dtype = [6, 5, 3], "float64"
    X, y = mlp_step.problem(sizes, batch, dtype)
    weights = mlp_step.initial_weights(sizes, dtype)
    steps = {"nnref": mlp_step.nnref_step(sizes, X, y, dtype),
             "nnref with dL/dX": mlp_step.nnref_step(sizes, X, y, dtype, input_grad=True),
             "inline": mlp_step.inline_step(weights, X, y),
             "torch": mlp_step.torch_autograd_step(weights, X, y)}
    losses = {name: [step() for _ in range(6)] for name, step in steps.items()}
    assert losses["nnref with dL/dX"] == losses["nnref"]
    for name in ("inline", "torch"):
        np.testing.assert_allclose(losses[name], losses["nnref"], rtol=1e-12, err_msg=name)
    assert losses["nnref"][-1] < losses["nnref"][0], "the steps must actually train"


def test_gradcheck_row_extrapolates_and_catches_every_planted_error(quick_results):
    row = _row(quick_results, "3")
    full = next(e for e in row["entries"] if e["label"].endswith("full central differences"))
    assert "extrapolated" in full["note"]
    caught = {e["label"]: e["met"] for e in row["entries"] if e["unit"] == "caught"}
    assert len(caught) == len(gradcheck_cost.PLANTED) and all(caught.values()), caught


def test_gpu_row_says_why_it_is_empty(quick_results):
    gpu = _row(quick_results, "4")
    if HAS_CUDA:
        assert gpu["status"] == "ok" and gpu["entries"]
    else:
        assert gpu["status"] == "no GPU" and not gpu["entries"] and "no GPU" in gpu["notes"][0]


def test_table_prints_every_row():
    rows = [report.Row("1", "one"), report.Row("5", "five", status="pending", notes=["pending: not yet"])]
    rows[0].add_ratio("a / b", Stats.of([0.9, 1.0, 1.2]), at_most=1.1)
    judged_on_best = rows[0].add_comparison("c / d", {"c": [3.0, 1.2], "d": [1.0, 1.0]}, "c", "d", at_most=1.5)
    assert judged_on_best.median == pytest.approx(2.1) and judged_on_best.best == pytest.approx(1.2)
    assert judged_on_best.met
    text = report.table(rows)
    assert "a / b" in text and "<= 1.1 met" in text and "five: pending: not yet" in text


def test_cuda_row_runs_end_to_end_on_the_cpu():
    """The CUDA code path, driven on the CPU with tiny sizes: every kind of entry appears."""
    row = cuda.run(Config.quick_config(), np.random.default_rng(0), lambda items, desc: items, device="cpu")
    labels = " ".join(e.label for e in row.entries)
    for needle in ("matmul TF32", "matmul BF16", "FP32: matmul share gemm / nnref-torch step",
                   "GPU/CPU speed-up", "relu forward: achieved / copy bandwidth"):
        assert needle in labels, needle
    assert any(e.target == ">= 0.6" for e in row.entries)
    assert "dry run" in row.notes[0]
    found = gpu_results.headline(report.to_json([row], {})["rows"][0])
    assert set(found["matmul"]) == set(cuda.MATMUL_MODES) and set(found["share"]) == {"FP32", "TF32"}, found
    assert set(found["speedup"]) == {"nnref-torch", "torch-autograd"}, "the GPU summary quotes these labels"
    assert set(found["bandwidth"]) == {"relu forward", "relu backward", "sigmoid forward"} and found["copy"] > 0
    assert found["net"] == "20-32-4 b16"


def test_cuda_row_starts_no_step_after_its_deadline(tmp_path):
    row = cuda.run(Config.quick_config(), np.random.default_rng(0), lambda items, desc: items, device="cpu",
                   deadline=time.monotonic())
    assert row.status == "skipped" and not row.entries
    assert row.notes[-1] == "skipped, the time budget ran out first: matmul, mlp, elementwise"
    out = tmp_path / "r.json"
    assert main(["--quick", "--rows", "4", "--gpu-device", "cpu", "--gpu-budget", "0", "--output", str(out),
                 "--no-progress", "--threads", "1"]) == 0
    [written] = json.loads(out.read_text())["rows"]
    assert written["status"] == "skipped" and written["notes"][-1].startswith("skipped, the time budget ran out")


def test_planted_errors_are_those_of_the_checker_tests():
    from test_gradcheck import _planted, _problem

    _, _, grads = _problem("numpy")
    for kind in gradcheck_cost.PLANTED:
        ours, theirs = gradcheck_cost.planted(grads, kind, batch_size=6), _planted(grads, kind)
        for name in grads:
            np.testing.assert_array_equal(ours[name], theirs[name], err_msg=f"{kind}: {name}")
    with pytest.raises(ValueError, match="kind must be one of"):
        gradcheck_cost.planted(grads, "typo", 6)


def test_compare_interleaves_and_ratio_pairs_rounds():
    calls = []
    samples = compare({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=3, min_time=0.0)
    assert [len(v) for v in samples.values()] == [3, 3]
    assert ratio({"x": [2.0, 4.0], "y": [1.0, 1.0]}, "x", "y") == Stats(2.0, 3.0, 4.0, 2)
    assert Stats.of([1.0, 2.0, 4.0]).map(lambda t: 1 / t) == Stats(0.25, 0.5, 1.0, 3)
    with pytest.raises(ValueError, match="repeats must be >= 1"):
        compare({"a": lambda: None}, repeats=0, min_time=0.0)
    with pytest.raises(ValueError, match="empty"):
        Stats.of([])
    with pytest.raises(ValueError, match="clock must be one of"):
        timing.use_clock("sundial")


def test_bad_command_line_is_refused(capsys):
    with pytest.raises(SystemExit):
        main(["--rows", "1,9"])
    assert "--rows takes" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--threads", "zero"])
    assert "--threads takes" in capsys.readouterr().err


TINY_TOC = "format: jb-book\nroot: book/intro\nchapters:\n- file: book/page\n"
TINY_PAGE = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# A page

Some text.

```{code-cell} ipython3
x = 1 + 1
x
```
"""


@pytest.mark.slow
def test_book_build_row_counts_executions(tmp_path):
    """A two-page book: a markdown edit executes nothing, a code edit one notebook."""
    (tmp_path / "book").mkdir()
    (tmp_path / "_config.yml").write_text("title: tiny\nexecute:\n  execute_notebooks: cache\n"
                                         "  cache: _build/.jupyter_cache\n")
    (tmp_path / "_toc.yml").write_text(TINY_TOC)
    (tmp_path / "book" / "intro.md").write_text("# Intro\n\nPlain markdown.\n")
    (tmp_path / "book" / "page.md").write_text(TINY_PAGE)
    row = book_builds.run(Config.quick_config(), tmp_path, lambda items, desc: items)
    assert row.status == "ok", row.notes
    executed = {e.label: e.median for e in row.entries if e.unit == "notebooks"}
    assert executed == {"clean: notebooks executed": 1, "no change: notebooks executed": 0,
                        "markdown edit: notebooks executed": 0, "code edit: notebooks executed": 1}
    assert any(e.kind == "ratio" and "execution off" in e.label for e in row.entries)
    assert not (tmp_path / "_build").exists(), "the benchmark must build a copy, never the book itself"


# The changes made to nnref for speed must not change a result.

def test_backward_without_input_grad_keeps_parameter_gradients(backend):
    from helpers import split, to_backend

    import nnref
    from nnref.models import MLP

    name, device = split(backend)
    model = MLP([5, 4, 3], activation="tanh", rng=0, backend=name, device=device)
    rng = np.random.default_rng(0)
    X, y = to_backend(rng.standard_normal((7, 5)), backend), to_backend(rng.standard_normal((7, 3)), backend)
    loss = model.default_loss()
    loss(model(X), y)
    assert model.backward(loss.backward()) is not None
    full = {k: nnref.to_numpy(v).copy() for k, v in model.gradients().items()}
    model.zero_grad()
    assert model.backward(loss.backward(), input_grad=False) is None
    short = {k: nnref.to_numpy(v) for k, v in model.gradients().items()}
    assert short.keys() == full.keys()
    for k in full:
        np.testing.assert_array_equal(short[k], full[k], err_msg=k)


def test_single_sample_weight_gradient_is_the_exact_outer_product(backend):
    from helpers import split, to_backend

    import nnref
    from nnref.layers import Dense

    name, device = split(backend)
    layer = Dense(6, 4, rng=0, backend=name, device=device)
    rng = np.random.default_rng(1)
    x, g = rng.standard_normal((1, 6)), rng.standard_normal((1, 4))
    layer(to_backend(x, backend))
    layer.backward(to_backend(g, backend))
    np.testing.assert_array_equal(nnref.to_numpy(layer.grads["W"]), np.outer(g[0], x[0]))


def test_namespace_cache_still_refuses_mixed_backends():
    torch = pytest.importorskip("torch")
    import nnref

    nnref.namespace(np.zeros(2))
    nnref.namespace(torch.zeros(2))
    with pytest.raises(TypeError, match="different backends cannot be mixed"):
        nnref.namespace(np.zeros(2), torch.zeros(2))
    with pytest.raises(TypeError, match="different backends cannot be mixed"):
        nnref.namespace(torch.zeros(2), np.zeros(2))


@pytest.mark.slow
def test_appendix_page_without_and_with_results(tmp_path, quick_results):
    """The appendix says so when there are no results, plots them when there are,
    and ``forget_cached_appendix`` makes the next build re-execute that page only."""
    import shutil
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    (tmp_path / "book").mkdir()
    shutil.copy(repo / book_builds.APPENDIX, tmp_path / book_builds.APPENDIX)
    (tmp_path / "book" / "intro.md").write_text("# Intro\n\nPlain markdown.\n")
    (tmp_path / "_toc.yml").write_text(TINY_TOC.replace("book/page", "book/appendix_performance"))
    (tmp_path / "_config.yml").write_text("title: tiny\nexecute:\n  execute_notebooks: cache\n"
                                         "  cache: _build/.jupyter_cache\n  stderr_output: error\n")
    page = tmp_path / "_build" / "html" / "book" / "appendix_performance.html"

    first = book_builds.build(tmp_path, tmp_path / "first.log")
    assert first["rc"] == 0 and first["executed"] == 1, first["problems"]
    assert "No benchmark results were found" in page.read_text()

    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "results.json").write_text(json.dumps(quick_results))
    assert "removed the cached appendix" in book_builds.forget_cached_appendix(tmp_path)
    second = book_builds.build(tmp_path, tmp_path / "second.log")
    assert second["rc"] == 0 and second["executed"] == 1, second["problems"]
    html = page.read_text()
    assert "quick smoke-test run" in html and "<img" in html
    assert "Every target of the latest run" in html, "the figure caption is missing"
    assert "A dot plot with one row per benchmark target" in html, "the figure's alt text is missing"

    third = book_builds.build(tmp_path, tmp_path / "third.log")
    assert third["rc"] == 0 and third["executed"] == 0


def test_stats_row_reads_back_the_synthetic_gradebook_it_wrote(tmp_path):
    """Row 8's gradebook is nbgrader's: grades.read and nbgrader's own API agree on it."""
    from nbgrader.api import Gradebook

    from autograder import grades
    from benchmarks.stats_scale import CODES, synthetic_gradebook

    db = tmp_path / "gradebook.db"
    count, submissions = synthetic_gradebook(db, students=12)
    read = grades.read(str(db))
    assert len(read.assignments) == count and len(read.submissions) == submissions
    with Gradebook(f"sqlite:///{db}") as gb:
        for (assignment, student), found in list(read.submissions.items())[:20]:
            assert gb.find_submission(assignment, student).score == found.score
    lost = [code for s in read.submissions.values() for code in s.mistakes.values()]
    assert lost and set(lost) <= set(CODES)


def test_a_run_of_some_rows_keeps_the_others_with_their_dates():
    """``python -m benchmarks --rows 7`` replaces row 7 of results.json and keeps every other row, each
    with the date it was measured; a quick run never mixes with a full one."""
    old = {"schema": report.SCHEMA_VERSION, "date": "2026-11-22", "quick": False,
           "rows": [{"id": "1", "title": "a"}, {"id": "7", "title": "old 7"}, {"id": "10", "title": "b"}]}
    new = {"schema": report.SCHEMA_VERSION, "date": "2026-12-08", "quick": False,
           "rows": [{"id": "7", "title": "new 7"}]}
    merged = report.merged(old, new)
    assert [(r["id"], r["title"], r["date"]) for r in merged["rows"]] == [
        ("1", "a", "2026-11-22"), ("7", "new 7", "2026-12-08"), ("10", "b", "2026-11-22")]
    assert merged["date"] == "2026-12-08"
    assert [r["id"] for r in report.merged({**old, "quick": True}, new)["rows"]] == ["7"]
    assert [r["id"] for r in report.merged(None, new)["rows"]] == ["7"]
