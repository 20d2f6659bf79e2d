"""The stages of ``make gpu-check`` (``tools/gpu_check.py``): set-up, CUDA tests, benchmark row 4, book cells.

Each stage runs in processes of its own, started in a session of their own
so that a stage out of time is stopped with all its children, and returns
``(stage, part)``: the stage's status and notes for ``results-gpu.json``,
and its part of the document (``benchmarks/gpu_results.py`` gives the
schema).  Standard library only, like the command.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import gpu_results  # noqa: E402 - after the path set-up above; standard library only

WORK = ROOT / "_build" / "gpu-check"
SITE = WORK / "site"
WHEELS = ROOT / "tools" / "wheels"
BENCH_GRACE = 60  # row 4 starts no new step this long before its budget ends: its longest step fits
# import name -> distribution; torch and numpy are never installed here (a CUDA build and its ABI come with it)
NEEDED = {"torch": None, "numpy": None, "array_api_compat": "array-api-compat", "tqdm": "tqdm",
          "pytest": "pytest", "yaml": "pyyaml", "hypothesis": "hypothesis", "matplotlib": "matplotlib"}
EVENTS = "NNREF_GPU_CHECK_EVENTS"  # the file tools/gpu_check_pytest.py writes each test's outcome to
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def say(text: str) -> None:
    print(f"gpu-check: {text}", flush=True)


def progress(total: int | None, desc: str):
    """A tqdm bar when tqdm is importable here, else a stand-in that prints nothing until the end."""
    try:
        from tqdm.auto import tqdm

        # a captured log gets a line every 10 s rather than a redraw every 0.1 s
        return tqdm(total=total, desc=desc, file=sys.stderr, mininterval=0.1 if sys.stderr.isatty() else 10)
    except ImportError:
        class Quiet:
            n, total = 0, None

            def update(self, k=1):
                self.n += k

            def close(self):
                say(f"{desc}: {self.n} done")

        return Quiet()


def environment(extra: dict | None = None) -> dict:
    """The environment of every stage: the repository and the set-up packages first on the path."""
    path = os.pathsep.join([str(ROOT), str(SITE)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    return {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1", **(extra or {})}


def pins() -> dict:
    """distribution -> the version requirements.txt pins it to."""
    out = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        name, _, version = line.split("#")[0].strip().partition("==")
        if version:
            out[name.lower()] = version.strip()
    return out


def set_up(found: dict, deadline: float, target: Path = SITE) -> dict:
    """Install what ``found`` (a probed Python) lacks into ``target``: from tools/wheels, else from the
    package index, at the version requirements.txt pins; torch and numpy only ever come with the Python."""
    start, notes, status = time.monotonic(), [], "ok"
    missing = [n for n in NEEDED if found["modules"].get(n) is None]
    pinned = pins()
    for name in missing:
        dist = NEEDED[name]
        if dist is None:
            status = "failed"
            notes.append(f"{name} is missing: it must come with the Python that has the CUDA build of torch")
            continue
        spec = f"{dist}=={pinned[dist]}" if dist in pinned else dist
        base = [found["executable"], "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                "--disable-pip-version-check"]
        for source in (["--no-index", "--find-links", str(WHEELS)], ["--timeout", "10", "--retries", "0"]):
            left = deadline - time.monotonic()
            try:
                if left > 0 and subprocess.run(base + source + [spec], capture_output=True,
                                               timeout=left).returncode == 0:
                    notes.append(f"installed {spec} from {'tools/wheels' if '--no-index' in source else 'the index'}")
                    break
            except subprocess.TimeoutExpired:
                pass
        else:
            status = "failed"
            notes.append(f"could not install {spec} (not in tools/wheels, index unreachable or time up)")
    if not missing:
        notes.append("nothing to install: the Python holds every package the stages need")
    return {"name": "setup", "status": status, "seconds": round(time.monotonic() - start, 1), "notes": notes}


def start(command: list[str], log: Path, extra: dict | None = None, stderr: bool = True) -> subprocess.Popen:
    """A stage's process, in a session of its own so that ``stop`` ends it with all its children."""
    with open(log, "w") as out:
        return subprocess.Popen(command, cwd=ROOT, env=environment(extra), stdout=out,
                                stderr=out if stderr else None, start_new_session=True)


def stop(process: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if process.poll() is not None:
            return
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass


def tail(log: Path, lines: int = 3) -> str:
    text = log.read_text(errors="replace").strip().splitlines() if log.is_file() else []
    return " | ".join(text[-lines:]) or "(no output)"


def cuda_test_files() -> list[str]:
    """Test modules that can hold CUDA cases: they take the ``backend`` fixture or use the ``cuda`` marker."""
    pattern = re.compile(r"def \w+\([^)]*\bbackend\b|mark\.cuda|BACKEND_PARAMS")
    return [f"tests/{p.name}" for p in sorted((ROOT / "tests").glob("test_*.py")) if pattern.search(p.read_text())]


def tally(events: list[dict]) -> dict:
    """Counts, failures and skip reasons from the plugin's events (one outcome per test, the worst)."""
    worst = {"errors": 3, "failed": 2}
    outcome, messages, collected, collection_errors = {}, {}, 0, []
    for e in events:
        if e["event"] == "collected":
            collected = max(collected, e["n"])
        elif e["event"] == "collect-error":
            collection_errors.append({"nodeid": e["nodeid"], "message": e["message"]})
        else:
            new = "errors" if e["when"] != "call" and e["outcome"] == "failed" else e["outcome"]
            if worst.get(new, 0) >= worst.get(outcome.get(e["nodeid"]), 0):
                outcome[e["nodeid"]], messages[e["nodeid"]] = new, e["message"]
    counts = {k: sum(v == k for v in outcome.values()) for k in ("passed", "failed", "errors", "skipped", "xfailed")}
    reasons = {}
    for nodeid, o in outcome.items():
        if o == "skipped":
            reasons[messages[nodeid]] = reasons.get(messages[nodeid], 0) + 1
    return {"collected": collected, **counts, "not_run": max(0, collected - len(outcome)),
            "failures": [{"nodeid": n, "message": messages[n]} for n, o in outcome.items() if o in worst],
            "collection_errors": collection_errors, "skip_reasons": reasons}


def read_events(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def run_tests(python: str, budget: float, workers: int, scratch: Path) -> tuple[dict, dict]:
    """Every CUDA case of the suite, in one pytest run; stopped when the budget ends."""
    events, log, files = scratch / "tests.jsonl", scratch / "tests.log", cuda_test_files()
    command = [python, "-m", "pytest", "-m", "cuda", "-q", "-p", "no:cacheprovider", "-p", "tools.gpu_check_pytest",
               "--continue-on-collection-errors", *(["-n", str(workers)] if workers > 1 else []), *files]
    process, deadline, bar = start(command, log, {EVENTS: str(events)}), time.monotonic() + budget, None
    notes = [f"pytest -m cuda over {len(files)} test files, {workers} worker(s); log {log}"]
    status = "ok"
    while True:
        finished = process.poll() is not None
        tests = tally(read_events(events))
        if tests["collected"] and bar is None:
            bar = progress(tests["collected"], "CUDA test cases")
        if bar is not None:
            bar.update(tests["collected"] - tests["not_run"] - bar.n)
        if finished:
            break
        if time.monotonic() > deadline:
            stop(process)
            status = "cut"
            notes.append(f"stopped when its {budget:.0f} s ran out")
            break
        time.sleep(0.5)
    if bar is not None:
        bar.close()
    tests = {"files": files, **tally(read_events(events))}
    if status == "cut":
        notes.append(f"not run: {tests['not_run']} of {tests['collected']} collected cases")
    elif process.returncode not in (0, 1, 5) or tests["failed"] or tests["errors"] or tests["collection_errors"]:
        status = "failed"
        notes.append(f"pytest exit status {process.returncode}: {tail(log, 2)}")
    return {"name": "tests", "status": status, "notes": notes}, tests


def run_benchmark(python: str, budget: float, rehearse: bool, scratch: Path) -> tuple[dict, dict | None]:
    """Benchmark row 4 alone; it starts no new step in the last BENCH_GRACE seconds of its budget."""
    out, log = scratch / "benchmark.json", scratch / "benchmark.log"
    # every core for the CPU side of the speed-up: 'auto' would count the load the tests just left as busy cores
    sizes = ["--quick", "--gpu-device", "cpu"] if rehearse else ["--threads", str(os.cpu_count() or 1)]
    command = [python, "-m", "benchmarks", "--rows", "4", "--output", str(out), "--gpu-budget",
               f"{max(0.0, budget - BENCH_GRACE):.0f}", *sizes]
    process, status, notes = start(command, log, stderr=False), "ok", [f"table in {log}"]
    try:
        process.wait(timeout=budget)
    except subprocess.TimeoutExpired:
        stop(process)
        status = "cut"
        notes.append(f"stopped when its {budget:.0f} s ran out: no row written")
    row = json.loads(out.read_text())["rows"][0] if out.is_file() else None
    if status == "ok" and (process.returncode != 0 or row is None):
        status = "failed"
        notes.append(f"python -m benchmarks exit status {process.returncode}: {tail(log)}")
    if row is not None:
        notes += [n for n in row["notes"] if n.startswith("skipped")]
        status = "cut" if row["status"] == "skipped" or any(n.startswith("skipped") for n in row["notes"]) else status
    return {"name": "benchmark", "status": status, "notes": notes}, row


def run_book(python: str, budget: float, device: str, chosen: list[str] | None, scratch: Path) -> tuple[dict, dict]:
    """The comparison cells of each chapter, chapters in parallel processes, one BLAS thread each."""
    listing = subprocess.run([python, "-c", "import json; from tools import book_cells; "
                              "print(json.dumps(book_cells.chapters()))"],
                             capture_output=True, text=True, env=environment(), cwd=ROOT, timeout=120)
    chapters = json.loads(listing.stdout) if listing.returncode == 0 else []
    if chosen:
        chapters = [c for c in chapters if any(Path(c).stem.startswith(k) for k in chosen)]
    results, pending, running = {}, list(chapters), {}
    workers = max(1, min(len(chapters), (os.cpu_count() or 2) // 2, 8))
    deadline, bar = time.monotonic() + budget, progress(len(chapters), f"book cells on {device}")
    while pending or running:
        while pending and len(running) < workers and time.monotonic() < deadline:
            chapter = pending.pop(0)
            out = scratch / f"book-{Path(chapter).stem}.json"
            command = [python, "tools/book_cells.py", chapter, "--device", device, "--output", str(out)]
            running[chapter] = (start(command, out.with_suffix(".log"), ONE_THREAD), out)
        for chapter, (process, out) in list(running.items()):
            if process.poll() is None and time.monotonic() <= deadline:
                continue
            if process.poll() is None:
                stop(process)
                results[chapter] = {"status": "cut", "error": f"stopped when the stage's {budget:.0f} s ran out"}
            elif out.is_file():
                results[chapter] = json.loads(out.read_text())
            else:
                results[chapter] = {"status": "failed", "error": tail(out.with_suffix(".log"))}
            del running[chapter]
            bar.update(1)
        if not running and pending and time.monotonic() >= deadline:
            results.update({c: {"status": "skipped", "error": "the stage's time ran out first"} for c in pending})
            pending = []
        time.sleep(0.2)
    bar.close()
    rows = [{"chapter": Path(c).with_suffix("").as_posix(), "seconds": None, "cells_run": 0, "comparison_cells": 0,
             "device": None, "max_difference": None, "output": [], "error": None, **results[c]} for c in chapters]
    notes = [f"{r['chapter']}: {r['status']}: {r['error']}" for r in rows if r["status"] != "ok"]
    if listing.returncode != 0 or not chapters:
        notes.append(f"no chapter with comparison cells found: {listing.stderr.strip()[-300:]}")
    statuses = {r["status"] for r in rows}
    status = ("failed" if statuses - {"ok", "cut", "skipped"} or not chapters
              else "cut" if statuses & {"cut", "skipped"} else "ok")
    return {"name": "book", "status": status, "notes": notes}, {"device": device,
                                                               "tolerance": gpu_results.BOOK_TOLERANCE,
                                                               "chapters": rows}


