"""Row 7: the grading command on Dask distributed against its local pool, on this machine.

The class of row 5 (40 submissions to 01_neurons: honest, catalogue
mutants, untouched releases) is graded twice in one run, each time by a
fresh ``python -m autograder grade`` with a fresh gradebook and ``--force``:

a. the local pool, ``--workers 2``;
b. ``--dask local --workers 2``: a LocalCluster of two worker processes (one
   thread each), started by the command, each grading through the same
   grading process as the pool.

The issue's targets: (b) / (a) <= 1.15, each the wall time of the whole
command, start-up included (what the person grading waits for); and the
coordinator's own cost per result recorded, at most 10 ms: the time its
recorder thread spends writing each result's graded notebook, feedback page
(rendered on the worker) and gradebook row and journal entry, per result,
as the command reports it at the end of the run.  Both runs must give every
student the same total.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from . import grading
from .report import Row
from .timing import Stats

WORKERS = 2
RATIO_TARGET = 1.15
RECORD_TARGET_MS = 10.0
HOLDING = re.compile(r"dask: the command kept each result ([0-9.]+) ms before asking for the next")
RECORDED = re.compile(r"recorded: \d+ results in (\d+) batches, ([0-9.]+) ms per result")


def command(course_dir: Path, submissions: Path, total: int, tag: str, extra: list[str],
            progress) -> tuple[grading.Watch, dict[str, dict]]:
    """One ``python -m autograder grade`` of the class with a fresh gradebook; its watch and results."""
    import json

    report = course_dir / f"report-{tag}.json"
    watch = grading.Watch([sys.executable, "-m", "autograder", "grade", grading.ASSIGNMENT, "--submissions",
                           str(submissions), "--workers", str(WORKERS), "--db", str(course_dir / f"gradebook-{tag}.db"),
                           "--report", str(report), "--force", *extra],
                          course_dir, grading._env(), course_dir / f"command-{tag}.log", grading.COMMAND_DONE, total,
                          counts_last=True)
    grading._drain(watch, progress, f"row 7: grade {' '.join(extra) or '(pool)'}, {total} submissions").check(
        f"python -m autograder grade {' '.join(extra)}")
    return watch, {r["student"]: r for r in json.loads(report.read_text())["results"]}


def run(cfg, progress: Callable | None = None) -> Row:
    row = Row("7", "grading on Dask distributed against the local pool")
    try:
        _measure(row, cfg, progress or grading.default_progress)
    except (RuntimeError, ValueError, OSError) as error:
        row.status = "failed"
        row.entries.clear()
        row.notes.insert(0, f"failed: {error}")
    return row


def _measure(row: Row, cfg, progress) -> None:
    size = getattr(cfg, "grading_submissions", grading.QUICK_CLASS_SIZE if cfg.quick else grading.CLASS_SIZE)
    one = Stats.of
    with tempfile.TemporaryDirectory(prefix="nnref-dask-bench-") as tmp:
        students, submitted = grading.build_course(Path(tmp) / "course", grading.ASSIGNMENT, size)
        course_dir = Path(tmp) / "course"
        pool, pool_results = command(course_dir, submitted, size, "pool", [], progress)
        dask, dask_results = command(course_dir, submitted, size, "dask", ["--dask", "local"], progress)
    held, recorded = HOLDING.findall(dask.stderr), RECORDED.findall(dask.stderr)
    if not held or not recorded:
        raise RuntimeError("the Dask run did not report its cost per result")
    held_ms = float(held[-1])
    batches, record_ms = int(recorded[-1][0]), float(recorded[-1][1])
    ratio = dask.seconds / pool.seconds
    row.add(f"grade --workers {WORKERS} (local pool), {size} submissions", "time", "s", one([pool.seconds]))
    row.add(f"grade --dask local --workers {WORKERS}, the same {size} submissions", "time", "s", one([dask.seconds]))
    row.add_ratio(f"--dask local / local pool, {WORKERS} workers each ({size} submissions)", one([ratio]),
                  at_most=RATIO_TARGET)
    row.add("coordinator's cost per result recorded (Dask run: files, gradebook rows, journal)", "time", "ms",
            one([record_ms]), target=f"<= {RECORD_TARGET_MS:g}", met=record_ms <= RECORD_TARGET_MS,
            note=f"on the command's recorder thread, {batches} batches of one transaction each for {size} results")
    row.add("the command's hold on each result before asking for the next (Dask run, median)", "time", "ms",
            one([held_ms]), note="handing it to the recorder; the run's first results wait until recorded")
    differ = [s.name for s in students if (pool_results.get(s.name) or {}).get("score")
              != (dask_results.get(s.name) or {}).get("score")]
    agree = size - len(differ)
    row.add("students with the same total on the pool and on Dask", "count", "students", one([agree]),
            target=f"all {size}", met=agree == size)
    row.notes.append(f"class of {size} as in row 5 (01_neurons: {grading.composition(size)}); each run a fresh "
                     "command, gradebook and --force; wall times of the whole command, start-up included (the "
                     "Dask run starts its LocalCluster inside it)")
    row.notes.append(f"load average (1 min, {os.cpu_count()} cores) at the start of each run: pool {pool.load:.1f}, "
                     f"Dask {dask.load:.1f}")
    row.notes.append("the coordinator's cost: its recorder thread's time per result (graded notebook and feedback "
                     "page written, gradebook rows and journal in one transaction per batch); the feedback page is "
                     "rendered where the submission is graded, on the pool's and on Dask's workers alike")
    if differ:
        row.notes.append(f"FINDING: {len(differ)} students get different totals: {', '.join(differ[:6])}")
