"""``make gpu-check``: the torch-CUDA backend proven on a real GPU, in one command.

On a machine with an NVIDIA GPU it

1. finds a Python whose torch sees the GPU and installs what that Python
   lacks (``array-api-compat`` from ``tools/wheels/``, else the pins of
   ``requirements.txt`` from the package index) into ``_build/gpu-check/site``;
2. runs every CUDA test case (``pytest -m cuda``);
3. runs benchmark row 4 (``python -m benchmarks --rows 4``): matmul ceilings,
   the MLP step against its own shapes' matmul throughput, element-wise
   kernels against copy bandwidth, the GPU/CPU speed-up;
4. runs the book's NumPy/torch comparison cells on ``cuda`` (``tools/book_cells.py``);

and writes ``benchmarks/results-gpu.json`` with a short summary.  Each stage
has a time budget (``STAGES``), the whole run one more (``TOTAL``): a stage
out of time is stopped and the summary says what did not run.  Without a
GPU it says so in one line and exits 0, having imported nothing but the
standard library.  ``--rehearse`` runs every stage on the CPU instead (tiny
benchmark sizes, the torch backend on ``cpu``), to check the command itself.
"""

from __future__ import annotations

import argparse
import datetime
import glob
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import gpu_results  # noqa: E402 - after the path set-up above; standard library only
from tools.gpu_stages import NEEDED, WORK, environment, run_benchmark, run_book, run_tests, say, set_up  # noqa: E402

# seconds per stage; with TOTAL, the whole run stays under 8 minutes on one H100
STAGES = {"setup": 30, "tests": 150, "benchmark": 150, "book": 120}
TOTAL = 470
PROBE = r"""
import importlib.metadata, importlib.util, json, sys
out = {"python": sys.version.split()[0], "modules": {}, "torch": None, "cuda_available": False}
for name, dist in json.loads(sys.argv[1]).items():
    found = importlib.util.find_spec(name) is not None
    try:
        out["modules"][name] = importlib.metadata.version(dist) if found else None
    except importlib.metadata.PackageNotFoundError:
        out["modules"][name] = "present"
try:
    import torch
    out.update(torch=torch.__version__, cuda=torch.version.cuda, cuda_available=torch.cuda.is_available())
    if out["cuda_available"]:
        p = torch.cuda.get_device_properties(0)
        out["gpu"] = {"name": p.name, "memory_gib": round(p.total_memory / 2**30, 1),
                      "capability": f"{p.major}.{p.minor}", "count": torch.cuda.device_count()}
        out["cudnn"] = torch.backends.cudnn.version()
    import nnref
    out["nnref"] = nnref.__version__
except Exception as error:
    out["error"] = repr(error)
print("PROBE " + json.dumps(out))
"""


def nvidia_gpus() -> list[str]:
    """The GPUs ``nvidia-smi -L`` lists, else the NVIDIA device nodes; [] when there is none."""
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            done = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30)
            if done.returncode == 0:
                return [line for line in done.stdout.splitlines() if line.startswith("GPU ")]
        except (OSError, subprocess.TimeoutExpired):
            pass
    return sorted(glob.glob("/dev/nvidia[0-9]*"))


def driver() -> str | None:
    """The NVIDIA driver's version, as nvidia-smi reports it."""
    try:
        done = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=30)
        return done.stdout.splitlines()[0].strip() if done.returncode == 0 and done.stdout.strip() else None
    except (OSError, subprocess.TimeoutExpired):
        return None


def probe(python: str) -> dict | None:
    """What ``python`` holds: its version, torch and whether it sees a GPU, the modules the stages need."""
    names = {**{k: v or k for k, v in NEEDED.items()}, "xdist": "pytest-xdist"}
    try:
        done = subprocess.run([python, "-c", PROBE, json.dumps(names)], capture_output=True, text=True,
                              timeout=180, env=environment(), cwd=ROOT)
    except (OSError, subprocess.TimeoutExpired):
        return None
    line = next((x for x in done.stdout.splitlines() if x.startswith("PROBE ")), None)
    return None if line is None else {"executable": python, **json.loads(line[6:])}


def choose_python(asked: str | None, need_cuda: bool) -> tuple[dict | None, list[str]]:
    """The first candidate whose torch sees the GPU (or, rehearsing, has torch); what each candidate held."""
    candidates = [asked] if asked else [str(ROOT / ".venv" / "bin" / "python"), sys.executable,
                                        shutil.which("python3"), shutil.which("python")]
    seen = []
    for python in dict.fromkeys(c for c in candidates if c and Path(c).exists()):
        found = probe(python)
        if found and found["torch"] and (found["cuda_available"] or not need_cuda):
            return found, seen
        held = "did not answer" if found is None else f"torch {found['torch']}, CUDA seen: {found['cuda_available']}"
        seen.append(f"{python}: {held}")
    return None, seen


def parse(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python tools/gpu_check.py", description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=None,
                        help="the results file (default benchmarks/results-gpu.json; rehearsing, "
                             "_build/gpu-check/results-rehearsal.json)")
    parser.add_argument("--python", help="the Python to run the stages with (default: the first of .venv/bin/python, "
                                         "this Python, python3, python whose torch sees the GPU)")
    parser.add_argument("--rehearse", action="store_true",
                        help="no GPU needed: every stage on the CPU with tiny sizes, to check the command itself")
    parser.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated subset of {','.join(STAGES)}")
    parser.add_argument("--budget", action="append", default=[], metavar="STAGE=SECONDS",
                        help="a stage's time budget (defaults: " + ", ".join(f"{k}={v}" for k, v in STAGES.items())
                             + ")")
    parser.add_argument("--total", type=float, default=TOTAL, help=f"seconds for the whole run (default {TOTAL})")
    parser.add_argument("--chapters", default="", help="only the chapters whose file names start so, comma-separated "
                                                        "(e.g. 01,04; default: every chapter with comparison cells)")
    parser.add_argument("--scratch", type=Path, default=WORK / "run",
                        help="folder for the stages' logs and partial results, emptied first (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=None,
                        help="pytest-xdist workers for the tests (default: half the cores, at most 8, when "
                             "pytest-xdist is there and not rehearsing; else 1)")
    args = parser.parse_args(argv)
    args.stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    if not args.stages or set(args.stages) - set(STAGES):
        parser.error(f"--stages takes a comma-separated subset of {','.join(STAGES)}, got {','.join(args.stages)!r}")
    args.budgets = dict(STAGES)
    for item in args.budget:
        name, _, seconds = item.partition("=")
        if name not in STAGES or not seconds.replace(".", "", 1).isdigit():
            parser.error(f"--budget takes STAGE=SECONDS with STAGE one of {','.join(STAGES)}, got {item!r}")
        args.budgets[name] = float(seconds)
    args.chapters = [c.strip() for c in args.chapters.split(",") if c.strip()]
    if args.output is None:
        args.output = WORK / "results-rehearsal.json" if args.rehearse else gpu_results.PATH
    return args


def main(argv=None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    began, started = time.monotonic(), time.time()
    if not args.rehearse and not nvidia_gpus():
        say("no NVIDIA GPU on this machine (nvidia-smi lists none, no /dev/nvidia* device): nothing run")
        return 0
    found, seen = choose_python(args.python, need_cuda=not args.rehearse)
    if found is None:
        wanted = "has torch" if args.rehearse else "has a torch that sees the GPU"
        say(f"no Python here {wanted} ({'; '.join(seen) or 'none found'}): install torch, or name one with --python")
        return 1
    say(f"{found.get('gpu', {}).get('name', 'rehearsal on the CPU')}; {found['executable']}: Python {found['python']}, "
        f"torch {found['torch']}, CUDA {found.get('cuda')}")
    shutil.rmtree(args.scratch, ignore_errors=True)
    args.scratch.mkdir(parents=True)
    python, stages, parts = found["executable"], [], {"tests": None, "benchmark": None, "book": None}
    xdist = found["modules"].get("xdist") is not None
    workers = args.workers or (max(1, min(8, (os.cpu_count() or 2) // 2)) if xdist and not args.rehearse else 1)
    for name in STAGES:
        budget = max(0.0, min(args.budgets[name], began + args.total - time.monotonic()))
        t = time.monotonic()
        if name not in args.stages:
            stage = {"name": name, "status": "skipped", "notes": ["not asked for (--stages)"]}
        elif budget <= 0:
            stage = {"name": name, "status": "skipped", "notes": [f"no time left of the run's {args.total:.0f} s"]}
        elif name == "setup":
            stage = set_up(found, time.monotonic() + budget)
            found = probe(python) or found  # what the stages will see, set-up packages included
        elif name == "tests":
            stage, parts["tests"] = run_tests(python, budget, workers, args.scratch)
        elif name == "benchmark":
            stage, parts["benchmark"] = run_benchmark(python, budget, args.rehearse, args.scratch)
        else:
            device = "cpu" if args.rehearse else "cuda"
            stage, parts["book"] = run_book(python, budget, device, args.chapters, args.scratch)
        stage.update(seconds=round(time.monotonic() - t, 1), budget_s=args.budgets[name])
        stages.append(stage)
        if stage["status"] != "ok":
            say(f"{name}: {stage['status']}: {'; '.join(stage['notes'])}")
    gpu = found.get("gpu") or {}
    doc = {"schema": gpu_results.SCHEMA_VERSION, "kind": "gpu-check", "rehearsal": args.rehearse,
           "date": datetime.datetime.fromtimestamp(started, datetime.UTC).isoformat(timespec="seconds"),
           "wall_s": round(time.monotonic() - began, 1), "python": python, "budget_s": args.total,
           "gpu": {"name": gpu.get("name"), "driver": None if args.rehearse else driver(),
                   "memory_gib": gpu.get("memory_gib"), "capability": gpu.get("capability"),
                   "count": gpu.get("count", 0)},
           "versions": {"python": found["python"], "torch": found["torch"], "cuda": found.get("cuda"),
                        "cudnn": found.get("cudnn"), "nnref": found.get("nnref"),
                        **{k: found["modules"].get(k) for k in ("numpy", "array_api_compat", "pytest")}},
           "stages": stages, **parts, "summary": []}
    doc["summary"] = gpu_results.summary_lines(doc)
    gpu_results.write(args.output, doc)
    if args.output.resolve() == gpu_results.PATH:
        from benchmarks.book_builds import forget_cached_appendix

        forget_cached_appendix(ROOT)
    print("\n".join(["", "gpu-check summary:", *(f"  {line}" for line in doc["summary"]),
                     f"  written to {args.output} in {doc['wall_s']:.0f} s"]))
    asked = [s for s in stages if s["name"] in args.stages]
    return 0 if all(s["status"] == "ok" for s in asked) else 1


if __name__ == "__main__":
    sys.exit(main())
