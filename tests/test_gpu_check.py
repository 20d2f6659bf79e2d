"""``make gpu-check`` without a GPU: its dry run as a user runs it, and every piece that needs no GPU.

The GPU run itself cannot happen here; what can is checked: the one-line
dry run (fast, exit 0, no torch imported), the rehearsal of every stage on
the CPU (slow), the pytest plugin under pytest-xdist, the tally of outcomes,
the budgets, the set-up from ``tools/wheels``, the chapter runner, the
results file's schema and summary, and the appendix block that shows it.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from benchmarks import gpu_results
from tools import book_cells, gpu_check, gpu_stages

ROOT = Path(__file__).resolve().parents[1]
HAS_NVIDIA = bool(gpu_check.nvidia_gpus())
no_gpu_only = pytest.mark.skipif(HAS_NVIDIA, reason="an NVIDIA GPU is present: the dry run would be the real run")
DRY_RUN_LIMIT = 60  # seconds; it takes about 2 s here, the bound only catches a hang or a torch import

SAMPLE_ROW = {"id": "4", "title": "torch on CUDA", "status": "ok", "notes": [], "entries": [
    {"label": "matmul FP32 8192x8192x8192", "kind": "throughput", "unit": "TFLOP/s", "min": 50.0, "median": 51.0,
     "max": 52.0, "n": 5, "target": None, "met": None, "note": None, "best": None},
    {"label": "matmul BF16 8192x8192x8192", "kind": "throughput", "unit": "TFLOP/s", "min": 700.0, "median": 760.0,
     "max": 790.0, "n": 5, "target": None, "met": None, "note": None, "best": None},
    {"label": "784-4096-4096-10 b8192 FP32: matmul share gemm / nnref-torch step", "kind": "ratio", "unit": "x",
     "min": 0.6, "median": 0.7, "max": 0.75, "n": 5, "target": ">= 0.6", "met": True, "note": None, "best": 0.72},
    {"label": "784-4096-4096-10 b8192 FP32: GPU/CPU speed-up, nnref-torch", "kind": "ratio", "unit": "x",
     "min": 30.0, "median": 41.5, "max": 45.0, "n": 5, "target": None, "met": None, "note": None, "best": None},
    {"label": "copy, 67108864 float32 (2 x 256 MiB moved at least)", "kind": "throughput", "unit": "GB/s",
     "min": 2900.0, "median": 3000.0, "max": 3050.0, "n": 5, "target": None, "met": None, "note": None, "best": None},
    {"label": "relu forward: achieved / copy bandwidth", "kind": "ratio", "unit": "x", "min": 0.9, "median": 0.95,
     "max": 0.97, "n": 5, "target": None, "met": None, "note": None, "best": 0.96},
]}
SAMPLE = {
    "schema": gpu_results.SCHEMA_VERSION, "kind": "gpu-check", "rehearsal": False, "date": "2026-11-20T10:00:00+00:00",
    "wall_s": 431.0, "python": "/opt/torch/.venv/bin/python3", "budget_s": 470.0,
    "gpu": {"name": "NVIDIA H100 80GB HBM3", "driver": "580.159.04", "memory_gib": 79.2, "capability": "9.0",
            "count": 1},
    "versions": {"python": "3.12.3", "torch": "2.11.0+cu130", "cuda": "13.0", "cudnn": 91200, "numpy": "2.5.2",
                 "array_api_compat": "1.16.0", "pytest": "9.0.1", "nnref": "0.1.0"},
    "stages": [{"name": "setup", "status": "ok", "seconds": 3.1, "budget_s": 45, "notes": []},
               {"name": "tests", "status": "failed", "seconds": 95.0, "budget_s": 180, "notes": ["1 failed"]},
               {"name": "benchmark", "status": "ok", "seconds": 80.0, "budget_s": 150, "notes": []},
               {"name": "book", "status": "cut", "seconds": 90.0, "budget_s": 90,
                "notes": ["book/09_regularisation: skipped: the stage's time ran out first"]}],
    "tests": {"files": ["tests/test_layers.py"], "collected": 342, "passed": 340, "failed": 1, "errors": 0,
              "skipped": 1, "xfailed": 0, "not_run": 0, "skip_reasons": {"needs two GPUs": 1},
              "failures": [{"nodeid": "tests/test_layers.py::test_x[torch-cuda]", "message": "assert 1 == 2"}],
              "collection_errors": []},
    "benchmark": SAMPLE_ROW,
    "book": {"device": "cuda", "tolerance": gpu_results.BOOK_TOLERANCE, "chapters": [
        {"chapter": "book/01_neurons", "status": "ok", "seconds": 5.0, "cells_run": 11, "comparison_cells": 1,
         "device": "cuda", "max_difference": 0.0, "output": [], "error": None},
        {"chapter": "book/04_mlp_backprop", "status": "ok", "seconds": 9.0, "cells_run": 20, "comparison_cells": 2,
         "device": "cuda", "max_difference": 3.3e-16, "output": [], "error": None},
        {"chapter": "book/09_regularisation", "status": "skipped", "seconds": None, "cells_run": 0,
         "comparison_cells": 0, "device": None, "max_difference": None, "output": [],
         "error": "the stage's time ran out first"}]},
    "summary": [],
}


def sample() -> dict:
    doc = copy.deepcopy(SAMPLE)
    doc["summary"] = gpu_results.summary_lines(doc)
    return doc


# ---------------------------------------------------------------------------- the dry run, as a user runs it

@no_gpu_only
def test_make_gpu_check_without_a_gpu_says_so_in_one_line_and_exits_0():
    start = time.perf_counter()
    done = subprocess.run(["make", "--no-print-directory", "gpu-check"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    seconds = time.perf_counter() - start
    print(f"make gpu-check without a GPU took {seconds:.1f} s")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [done.stdout.strip()] and "no NVIDIA GPU" in done.stdout, done.stdout
    assert "nothing run" in done.stdout and not done.stderr.strip(), done.stderr
    assert seconds < DRY_RUN_LIMIT, f"the dry run took {seconds:.1f} s"


@no_gpu_only
def test_the_dry_run_imports_neither_torch_nor_numpy():
    script = ("import runpy, sys\nsys.argv = ['tools/gpu_check.py']\ntry:\n"
              "    runpy.run_path('tools/gpu_check.py', run_name='__main__')\nexcept SystemExit as end:\n"
              "    print('exit', end.code, sorted(m for m in ('torch', 'numpy', 'pytest') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().splitlines()[-1] == "exit 0 []", done.stdout + done.stderr


@pytest.mark.slow
def test_the_rehearsal_runs_every_stage_on_the_cpu(tmp_path):
    """Every stage as on a GPU, on the CPU: the CUDA cases collected (and skipped here), row 4 at tiny
    sizes, chapter 1's comparison cells, the results file and its summary."""
    out = tmp_path / "results.json"
    done = subprocess.run([sys.executable, "tools/gpu_check.py", "--rehearse", "--chapters", "01", "--output",
                           str(out), "--scratch", str(tmp_path / "scratch")], cwd=ROOT, capture_output=True,
                          text=True, timeout=900)
    assert out.is_file(), done.stdout + done.stderr
    doc = gpu_results.read(out)
    assert doc["rehearsal"] is True and doc["summary"][0].startswith("rehearsal on the CPU")
    assert {s["name"]: s["status"] for s in doc["stages"]} == dict.fromkeys(gpu_check.STAGES, "ok"), doc["stages"]
    assert done.returncode == 0, done.stdout + done.stderr
    tests = doc["tests"]
    assert tests["collected"] >= 300 and tests["not_run"] == 0 and not tests["collection_errors"], tests
    if not HAS_NVIDIA:
        assert tests["skipped"] == tests["collected"]
        assert tests["skip_reasons"] == {"no CUDA device on this machine": tests["collected"]}
    found = gpu_results.headline(doc["benchmark"])
    assert set(found["matmul"]) == {"FP64", "FP32", "TF32", "BF16", "FP16"} and set(found["share"]) == {"FP32", "TF32"}
    [chapter] = doc["book"]["chapters"]
    assert chapter["chapter"] == "book/01_neurons" and chapter["status"] == "ok" and chapter["device"] == "cpu"
    assert chapter["max_difference"] == 0.0 and chapter["comparison_cells"] == 1
    assert "gpu-check summary:" in done.stdout and doc["summary"][1] in done.stdout


def test_budgets_that_run_out_skip_the_stages_and_say_so(tmp_path, capsys):
    out = tmp_path / "results.json"
    assert gpu_check.main(["--rehearse", "--total", "0", "--output", str(out), "--scratch", str(tmp_path / "s")]) == 1
    doc = gpu_results.read(out)
    assert [s["status"] for s in doc["stages"]] == ["skipped"] * 4
    assert all("no time left of the run's 0 s" in line for line in doc["summary"][-4:]), doc["summary"]
    printed = capsys.readouterr().out
    assert "gpu-check: tests: skipped: no time left" in printed and doc["summary"][-1] in printed


def test_bad_command_lines_are_refused(capsys):
    for argv, message in ((["--stages", "tests,typo"], "--stages takes"), (["--budget", "tests"], "--budget takes"),
                          (["--budget", "lunch=5"], "--budget takes")):
        with pytest.raises(SystemExit):
            gpu_check.parse(argv)
        assert message in capsys.readouterr().err


# ---------------------------------------------------------------------------- pieces of the stages

def test_a_stopped_stage_takes_its_children_with_it(tmp_path):
    script = "import subprocess, sys, time\nchild = subprocess.Popen(['sleep', '60'])\nprint(child.pid, flush=True)\n" \
             "time.sleep(60)\n"
    log = tmp_path / "log"
    process = gpu_stages.start([sys.executable, "-c", script], log)
    for _ in range(100):
        if log.read_text().strip():
            break
        time.sleep(0.1)
    child = int(log.read_text().split()[0])
    gpu_stages.stop(process)
    assert process.returncode is not None
    for _ in range(50):
        if not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the stage's child {child} outlived it")


def test_tally_keeps_the_worst_outcome_of_each_case():
    events = [{"event": "collected", "n": 6},
              {"event": "test", "nodeid": "a", "when": "call", "outcome": "passed", "message": ""},
              {"event": "test", "nodeid": "a", "when": "teardown", "outcome": "failed", "message": "leak"},
              {"event": "test", "nodeid": "b", "when": "setup", "outcome": "skipped", "message": "no CUDA"},
              {"event": "test", "nodeid": "c", "when": "call", "outcome": "failed", "message": "assert 1 == 2"},
              {"event": "test", "nodeid": "d", "when": "call", "outcome": "xfailed", "message": "known"},
              {"event": "test", "nodeid": "e", "when": "setup", "outcome": "failed", "message": "fixture broke"},
              {"event": "collect-error", "nodeid": "tests/test_z.py", "message": "No module named 'nbgrader'"}]
    got = gpu_stages.tally(events)
    assert {k: got[k] for k in gpu_results.TEST_COUNTS} == {"collected": 6, "passed": 0, "failed": 1, "errors": 2,
                                                             "skipped": 1, "not_run": 1}
    assert got["xfailed"] == 1 and got["skip_reasons"] == {"no CUDA": 1}
    assert {f["nodeid"]: f["message"] for f in got["failures"]} == {"a": "leak", "c": "assert 1 == 2",
                                                                    "e": "fixture broke"}
    assert got["collection_errors"] == [{"nodeid": "tests/test_z.py", "message": "No module named 'nbgrader'"}]


PLANTED = textwrap.dedent("""
    import pytest

    @pytest.mark.parametrize("k", range(3))
    def test_passes(k):
        pass

    def test_fails():
        assert 1 == 2, "planted"

    @pytest.mark.skipif(True, reason="no CUDA device on this machine")
    def test_skipped():
        pass

    @pytest.fixture
    def broken():
        raise RuntimeError("fixture broke")

    def test_errors(broken):
        pass
""")


@pytest.mark.parametrize("workers", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_the_plugin_reports_every_outcome_once_with_and_without_xdist(tmp_path, workers):
    (tmp_path / "test_planted.py").write_text(PLANTED)
    events = tmp_path / "events.jsonl"
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tools.gpu_check_pytest",
               str(tmp_path / "test_planted.py")]
    if workers > 1:
        command[3:3] = ["-n", str(workers)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), gpu_stages.EVENTS: str(events)}
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    written = gpu_stages.read_events(events)
    assert sum(e["event"] == "test" for e in written) == 6, "each outcome once, not once per xdist worker as well"
    got = gpu_stages.tally(written)
    assert {k: got[k] for k in gpu_results.TEST_COUNTS} == {"collected": 6, "passed": 3, "failed": 1, "errors": 1,
                                                             "skipped": 1, "not_run": 0}, got
    assert got["skip_reasons"] == {"no CUDA device on this machine": 1}
    assert {f["message"] for f in got["failures"]} == {"AssertionError: planted", "RuntimeError: fixture broke"}


def test_every_file_with_cuda_cases_is_selected():
    files = gpu_stages.cuda_test_files()
    for name in ("test_activations.py", "test_layers.py", "test_losses.py", "test_properties.py",
                 "test_backend.py", "test_benchmarks.py"):
        assert f"tests/{name}" in files
    assert "tests/test_gpu_check.py" not in files and "tests/test_toc.py" not in files


@pytest.mark.slow
def test_the_selection_holds_every_collected_cuda_case():
    """pytest's own view, over the whole suite: each file holding a ``-m cuda`` case is selected."""
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "cuda", "-p", "no:xdist",
                           "-p", "no:cacheprovider", "--continue-on-collection-errors", "tests"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    holding = {line.split("::")[0] for line in done.stdout.splitlines() if "::" in line}
    assert len(holding) >= 10, done.stdout[-2000:]
    assert holding <= set(gpu_stages.cuda_test_files()), holding - set(gpu_stages.cuda_test_files())


def test_set_up_installs_the_pinned_array_api_compat_from_the_repository(tmp_path):
    found = {"executable": sys.executable, "modules": {**dict.fromkeys(gpu_stages.NEEDED, "present"),
                                                       "array_api_compat": None}}
    start = time.perf_counter()
    stage = gpu_stages.set_up(found, time.monotonic() + 120, target=tmp_path)
    print(f"set-up of array-api-compat from tools/wheels took {time.perf_counter() - start:.1f} s")
    pinned = gpu_stages.pins()["array-api-compat"]
    assert stage["status"] == "ok" and stage["notes"] == [f"installed array-api-compat=={pinned} from tools/wheels"]
    assert (tmp_path / "array_api_compat" / "__init__.py").is_file()
    assert (tmp_path / f"array_api_compat-{pinned}.dist-info").is_dir()


def test_the_wheel_in_the_repository_is_the_pinned_version():
    wheels = sorted(p.name for p in gpu_stages.WHEELS.glob("*.whl"))
    assert wheels == [f"array_api_compat-{gpu_stages.pins()['array-api-compat']}-py3-none-any.whl"], wheels


def test_a_missing_torch_or_numpy_is_not_installed_but_reported(tmp_path):
    found = {"executable": sys.executable, "modules": {**dict.fromkeys(gpu_stages.NEEDED, "present"), "numpy": None}}
    stage = gpu_stages.set_up(found, time.monotonic() + 60, target=tmp_path)
    assert stage["status"] == "failed" and "numpy is missing" in stage["notes"][0]
    assert not any(tmp_path.iterdir())


# ---------------------------------------------------------------------------- the chapter runner

CHAPTER = """---
kernelspec:
  name: python3
---

# A chapter

```{code-cell} ipython3
:tags: [remove-cell]
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display
from myst_nb import glue
from nnref.book.widgets import explore

import nnref
X = np.linspace(-1, 1, 12).reshape(4, 3)
glue("n", Markdown("**4**"), display=False)
display(Markdown("shown in the book only"))
fig, ax = plt.subplots()
ax.plot(X[:, 0])
explore(lambda lr: fig, alt="a line", caption="A line.", lr=[0.1, 1.0])
```

```{code-cell} ipython3
---
tags: [hide-input]
---
with nnref.use_backend("torch"):
    X_t = nnref.asarray(X)
print(f"max |numpy - torch| = {np.max(np.abs(X - nnref.to_numpy(X_t))) + OFFSET}")
```

```{code-cell} ipython3
raise RuntimeError("after the last comparison: never run")
```
"""


# As on the GPU machines, which have no IPython: the chapter runner's stand-in takes its place.
WITHOUT_IPYTHON = ("import runpy, sys\nsys.modules['IPython'] = sys.modules['IPython.display'] = None\n"
                   "sys.argv = sys.argv[1:]\nrunpy.run_path(sys.argv[0], run_name='__main__')\n")


@pytest.mark.parametrize("offset, status, ipython", [(0.0, "ok", True), (0.0, "ok", False),
                                                     (1e-3, "disagree", True), ("undefined", "failed", True)])
def test_the_chapter_runner_judges_the_comparison_cells(tmp_path, offset, status, ipython):
    chapter = tmp_path / "99_chapter.md"
    prefix = f"OFFSET = {offset}\n" if offset != "undefined" else ""
    chapter.write_text(CHAPTER.replace("X = np.linspace", prefix + "X = np.linspace"))
    out = tmp_path / "out.json"
    runner = [] if ipython else ["-c", WITHOUT_IPYTHON]
    done = subprocess.run([sys.executable, *runner, "tools/book_cells.py", str(chapter), "--device", "cpu",
                           "--output", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.is_file(), done.stdout + done.stderr
    result = json.loads(out.read_text())
    assert result["status"] == status and done.returncode == (status != "ok"), result
    assert result["cells_run"] == 2, "the cells after the last comparison cell do not run"
    if status == "failed":
        assert result["error"].startswith("cell 1:") and "NameError" in result["error"]
    else:
        assert result["max_difference"] == pytest.approx(offset) and result["comparison_cells"] == 1
        assert result["device"] == "cpu" and result["output"][0].startswith("max |numpy - torch| = ")


def test_code_cells_drop_their_options_and_differences_are_read_from_the_book_s_wording():
    cells = book_cells.code_cells(CHAPTER)
    assert cells[0].startswith("import matplotlib") and cells[1].startswith("with nnref.use_backend")
    assert len(cells) == 3
    printed = ("ran on numpy and on torch:cuda\nmax |Δ parameter| = 1.2e-16\n"
               "  squared error: loss    1.2345, |Δ loss| = 0.0e+00, max |Δ gradient| = 4.4e-17\n"
               "max |numpy - torch| of the outputs: 3.1e-17\nregions: numpy 41, torch 41\n"
               "  unit: max |numpy - torch| = 0.0\n(the gradients themselves range down to 1.2e-05)")
    assert book_cells.differences(printed) == [1.2e-16, 0.0, 4.4e-17, 3.1e-17, 0.0]


def test_every_chapter_with_a_comparison_cell_is_found():
    chapters = book_cells.chapters()
    assert "book/01_neurons.md" in chapters and "book/04_mlp_backprop.md" in chapters
    assert all(Path(c).name[:2].isdigit() for c in chapters), "the appendix and the bibliography compare nothing"


# ---------------------------------------------------------------------------- the results file and its summary

def test_the_results_file_round_trips_and_is_validated(tmp_path):
    doc = sample()
    gpu_results.write(tmp_path / "r.json", doc)
    assert gpu_results.read(tmp_path / "r.json") == doc
    for broken, message in (({**doc, "schema": 2}, "schema 2"), ({**doc, "gpu": {"name": "x"}}, "'gpu' lacks"),
                            ({k: v for k, v in doc.items() if k != "date"}, r"lacks \['date'\]"),
                            ({**doc, "rehearsal": "no"}, "'rehearsal' is 'no'"),
                            ({**doc, "stages": [{**doc["stages"][0], "status": "fine"}]}, "has status 'fine'")):
        with pytest.raises(ValueError, match=message):
            gpu_results.write(tmp_path / "bad.json", broken)
    assert not (tmp_path / "bad.json").exists()


def test_the_summary_quotes_the_card_the_cases_the_ceilings_the_share_the_speed_up_and_what_did_not_run():
    lines = sample()["summary"]
    assert lines[0] == ("NVIDIA H100 80GB HBM3, 79.2 GiB (compute capability 9.0), driver 580.159.04; "
                        "torch 2.11.0+cu130, CUDA 13.0, Python 3.12.3")
    assert lines[1] == "CUDA test cases: 340 passed, 1 failed, 0 errors, 1 skipped, 0 not run, of 342"
    assert lines[2] == "matmul ceilings: FP32 51, BF16 760 TFLOP/s"
    assert lines[3] == ("MLP step 784-4096-4096-10 b8192, share of its own shapes' matmul throughput: "
                        "FP32 72% (target >= 0.6: met)")
    assert lines[4] == "element-wise kernels against copy bandwidth (3000 GB/s): relu forward 96%"
    assert lines[5] == "GPU/CPU speed-up of the FP32 step: nnref-torch 41.5x"
    assert lines[6] == ("book comparison cells on cuda: 2 of 3 chapters ran and agree with NumPy (tolerance 1e-06, "
                        "largest difference 3.3e-16): 09_regularisation skipped")
    assert lines[7:] == ["tests: failed: 1 failed",
                         "book: cut: book/09_regularisation: skipped: the stage's time ran out first"]


def test_a_row_without_entries_says_why():
    doc = sample()
    doc["benchmark"] = {**SAMPLE_ROW, "status": "no GPU", "entries": [], "notes": ["no GPU: nothing measured"]}
    assert "benchmark row 4: no GPU: no GPU: nothing measured" in gpu_results.summary_lines(doc)


# ---------------------------------------------------------------------------- the appendix block

def appendix_gpu_block(workdir: Path) -> str:
    """Run the appendix's GPU cell in ``workdir`` (as the book build runs it from book/); what it displays."""
    from IPython import display as ipython_display

    [cell] = [c for c in book_cells.code_cells((ROOT / "book" / "appendix_performance.md").read_text())
              if "results-gpu.json" in c]
    shown = []
    real, cwd = ipython_display.display, os.getcwd()
    ipython_display.display = lambda *objects, **kwargs: shown.extend(o.data for o in objects)
    try:
        os.chdir(workdir)
        exec(compile(cell, "appendix GPU cell", "exec"), {})
    finally:
        ipython_display.display = real
        os.chdir(cwd)
    [text] = shown
    return text


def test_the_appendix_shows_the_latest_gpu_results_with_date_and_card(tmp_path):
    (tmp_path / "book").mkdir()
    doc = sample()
    gpu_results.write(tmp_path / "benchmarks" / "results-gpu.json", doc)
    text = appendix_gpu_block(tmp_path / "book")
    assert text.startswith("The latest `make gpu-check` ran on 2026-11-20 on NVIDIA H100 80GB HBM3:")
    assert all(f"- {line}" in text for line in doc["summary"])


def test_the_appendix_says_when_there_are_no_gpu_results(tmp_path):
    (tmp_path / "book").mkdir()
    assert appendix_gpu_block(tmp_path / "book").startswith("No GPU results yet: `make gpu-check`")
