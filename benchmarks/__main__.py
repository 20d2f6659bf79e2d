"""``python -m benchmarks``: run every row, print one table, write results.json.

Options: ``--quick`` (tiny sizes, a smoke test of the harness, not numbers to
quote), ``--rows 1,2,3`` (a subset), ``--output PATH`` (default
``benchmarks/results.json``), ``--book-root PATH`` (the book to build in
row 6, default the repository root).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from . import (
    book_builds,
    cuda,
    environment,
    gemm,
    gradcheck_cost,
    grading,
    grading_dask,
    mlp_step,
    report,
    stats_scale,
    timing,
)

HERE = Path(__file__).resolve().parent
ROWS = ("1", "2", "3", "4", "5", "6", "7", "8")


@dataclass
class Config:
    """Sizes and repeats of one run; ``Config.quick_config()`` is the smoke-test version."""

    quick: bool = False
    repeats: int = 5
    min_time: float = 0.03
    gemm_size: int = 1024
    nets: list = field(default_factory=lambda: [[784, 512, 10], [784, 2048, 2048, 10]])
    batches: tuple = (1, 32, 128, 512)
    dtypes: tuple = ("float32", "float64")
    cliff_batches: tuple = (1, 32)
    gradcheck_sizes: list = field(default_factory=lambda: [784, 128, 10])
    gradcheck_batches: tuple = (64, 256)
    gradcheck_sample: int = 30
    directions: int = 3
    gpu_gemm_size: int = 8192
    gpu_sizes: list = field(default_factory=lambda: [784, 4096, 4096, 10])
    gpu_batch: int = 8192
    gpu_elements: int = 2**26
    cpu_repeats: int = 2
    rebuild_repeats: int = 2
    clean_build_limit: float = 300.0
    ceilings: dict = field(default_factory=dict)

    @classmethod
    def quick_config(cls) -> Config:
        return cls(quick=True, repeats=2, min_time=0.002, gemm_size=64, nets=[[20, 16, 4]], batches=(1, 8, 128),
                   gradcheck_sizes=[30, 16, 4], gradcheck_batches=(8,), gradcheck_sample=5, gpu_gemm_size=64,
                   gpu_sizes=[20, 32, 4], gpu_batch=16, gpu_elements=4096, cpu_repeats=1, rebuild_repeats=1)


def parse(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the harness, not the library")
    parser.add_argument("--rows", default=",".join(ROWS), help="comma-separated rows to run (default: all)")
    parser.add_argument("--output", type=Path, default=None,
                        help="where to write the JSON (default benchmarks/results.json, "
                             "benchmarks/results-quick.json with --quick)")
    parser.add_argument("--book-root", type=Path, default=HERE.parent, help="the book to build in row 6")
    parser.add_argument("--threads", default="auto",
                        help="threads for NumPy's BLAS and torch alike: a number, or 'auto' (default: NumPy's "
                             "default, capped at the idle cores)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--gpu-device", default=None,
                        help="device of row 4 (default: the GPU when there is one); 'cpu' runs the row's code "
                             "path without a GPU, a rehearsal rather than GPU numbers")
    parser.add_argument("--gpu-budget", type=float, default=None,
                        help="seconds: row 4 starts no new measurement after this long and lists what it "
                             "skipped (default: no limit; make gpu-check sets it)")
    args = parser.parse_args(argv)
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    unknown = sorted(set(rows) - set(ROWS))
    if unknown or not rows:
        parser.error(f"--rows takes a comma-separated subset of {','.join(ROWS)}, got {args.rows!r}")
    args.rows = rows
    if args.output is None:
        args.output = HERE / ("results-quick.json" if args.quick else "results.json")
    if args.threads != "auto" and not (args.threads.isdigit() and int(args.threads) >= 1):
        parser.error(f"--threads takes a positive integer or 'auto', got {args.threads!r}")
    return args


def run_rows(rows, cfg: Config, book_root: Path, progress, gpu_device=None, deadline=None) -> list[report.Row]:
    rng = np.random.default_rng(0)
    out = []
    for row in progress(rows, desc="benchmark rows"):
        if row == "1":
            out.append(gemm.run(cfg, rng))
        elif row == "2":
            out.append(mlp_step.run(cfg, rng, progress))
        elif row == "3":
            out.append(gradcheck_cost.run(cfg, rng))
        elif row == "4":
            out.append(cuda.run(cfg, rng, progress, device=gpu_device, deadline=deadline))
        elif row == "5":
            out.append(grading.run(cfg, progress))
        elif row == "6":
            out.append(book_builds.run(cfg, book_root, progress))
        elif row == "7":
            out.append(grading_dask.run(cfg, progress))
        elif row == "8":
            out.append(stats_scale.run(cfg, progress))
    return out


def main(argv=None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    cfg = Config.quick_config() if args.quick else Config()
    start = time.perf_counter()
    deadline = None if args.gpu_budget is None else time.monotonic() + args.gpu_budget
    threads = environment.match_threads(args.threads)
    timing.use_clock("thread-cpu" if threads["threads"] == 1 else "wall")

    def progress(items, desc):
        return tqdm(items, desc=desc, leave=False, disable=args.no_progress, file=sys.stderr)

    rows = run_rows(args.rows, cfg, args.book_root, progress, args.gpu_device, deadline)
    wall = time.perf_counter() - start
    meta = {"date": environment.now(), "quick": cfg.quick, "wall_s": round(wall, 1), "threads": threads,
            "clock": timing.clock_name(), "malloc": {k: os.environ.get(k) for k in MALLOC},
            "machine": environment.machine(), "versions": environment.versions()}
    document = report.to_json(rows, meta)
    if args.output.exists():  # the rows not run this time stay, with the date each was measured
        try:
            document = report.merged(json.loads(args.output.read_text()), document)
        except ValueError:  # not JSON: replaced
            pass
    report.write(args.output, document)
    refreshed = None
    if args.output.resolve() == (HERE / "results.json").resolve() and not cfg.quick:
        refreshed = book_builds.forget_cached_appendix(HERE.parent)
    met, judged = report.summary(rows)
    print(report.table(rows))
    print(f"\n{met} of {judged} targets met; wall time {wall:.0f} s; "
          f"threads: NumPy BLAS {threads['numpy_blas_threads']}, torch {threads.get('torch_threads')} "
          f"({threads['reason']}); clock: {timing.clock_name()}; "
          f"written to {args.output}")
    if refreshed:
        print(f"book: {refreshed}")
    return 0


# glibc returns large freed blocks to the system and maps them again on the next
# allocation, so a candidate can pay a page fault per page on every step depending
# only on the order of its allocations (seen: 1 536 faults, 4.1 ms of a 0.5 ms
# step).  Fixed thresholds keep freed memory for reuse, alike for every candidate
# (NumPy and torch both allocate through glibc).  They are read at start-up: set
# them and start again.
MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(32 * 2**20), "MALLOC_TRIM_THRESHOLD_": str(2**31),
          "MALLOC_TOP_PAD_": str(64 * 2**20)}


def _with_malloc_settings() -> None:
    if any(os.environ.get(k) != v for k, v in MALLOC.items()):
        os.execve(sys.executable, [sys.executable, "-m", "benchmarks", *sys.argv[1:]], {**os.environ, **MALLOC})


if __name__ == "__main__":
    _with_malloc_settings()
    raise SystemExit(main())
