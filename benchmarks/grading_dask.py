"""Row 7: the grading command on Dask distributed against its local pool, on this machine.

The class of row 5 (40 submissions to 01_neurons: honest, catalogue
mutants, untouched releases) is graded four times in one run, each time by
a fresh ``python -m autograder grade`` with a fresh gradebook and
``--force``, in the order pool, Dask, Dask, pool (so that a load that rises
or falls through the run weighs on both alike):

a. the local pool, ``--workers 2``;
b. ``--dask local --workers 2``: a LocalCluster of two worker processes (one
   thread each), started by the command, each grading through the same
   grading process as the pool.

The issue's targets: (b) / (a) <= 1.15, each the wall time of the whole
command, start-up included (what the person grading waits for), judged on
each one's faster run; and the coordinator's own cost per result recorded,
at most 10 ms: the time its recorder thread spends on a CPU writing each
result's graded notebook, feedback page (rendered on the worker) and
gradebook rows and journal entry, as the command reports it at the end of
the Dask runs.  Its wall time per result, which on this 2-core machine also
waits for the CPUs the two graders keep busy, is reported beside it, and so
is its capacity: 200 results handed to a recorder at once, in this process.
Every run must give every student the same total.
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
RECORDED = re.compile(r"recorded: \d+ results in (\d+) batches, ([0-9.]+) ms per result .*?of which ([0-9.]+) ms "
                      r"on a CPU")
CAPACITY_RESULTS = 200


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
    order = ["pool", "dask", "dask", "pool"]
    seconds: dict[str, list[float]] = {"pool": [], "dask": []}
    loads: dict[str, list[float]] = {"pool": [], "dask": []}
    held, cpu, wall, batches, totals = [], [], [], [], {}
    with tempfile.TemporaryDirectory(prefix="nnref-dask-bench-") as tmp:
        students, submitted = grading.build_course(Path(tmp) / "course", grading.ASSIGNMENT, size)
        course_dir = Path(tmp) / "course"
        for i, kind in enumerate(order):
            watch, results = command(course_dir, submitted, size, f"{kind}-{i}",
                                     ["--dask", "local"] if kind == "dask" else [], progress)
            seconds[kind].append(watch.seconds)
            loads[kind].append(watch.load)
            totals[f"{kind} run {i + 1}"] = {s.name: (results.get(s.name) or {}).get("score") for s in students}
            if kind == "dask":
                found_held, found = HOLDING.findall(watch.stderr), RECORDED.findall(watch.stderr)
                if not found_held or not found:
                    raise RuntimeError("the Dask run did not report its cost per result")
                held.append(float(found_held[-1]))
                batches.append(int(found[-1][0]))
                wall.append(float(found[-1][1]))
                cpu.append(float(found[-1][2]))
        capacity = recorder_capacity(Path(tmp) / "capacity", CAPACITY_RESULTS)
    row.add(f"grade --workers {WORKERS} (local pool), {size} submissions", "time", "s", one(seconds["pool"]))
    row.add(f"grade --dask local --workers {WORKERS}, the same {size} submissions", "time", "s",
            one(seconds["dask"]))
    row.add_comparison(f"--dask local / local pool, {WORKERS} workers each ({size} submissions)", seconds,
                       "dask", "pool", at_most=RATIO_TARGET)
    best_cpu = min(cpu)
    row.add("coordinator's cost per result recorded, on a CPU (Dask runs: files, gradebook rows, journal)",
            "time", "ms", one(cpu), target=f"<= {RECORD_TARGET_MS:g}", met=best_cpu <= RECORD_TARGET_MS,
            note=f"on the command's recorder thread, {'/'.join(map(str, batches))} transactions for {size} "
                 "results; judged on the less disturbed run")
    row.add("the same, wall time (it also waits for the disk, and for the CPUs both graders keep busy)", "time",
            "ms", one(wall))
    row.add(f"recorder's capacity: {CAPACITY_RESULTS} results handed at once, wall time per result", "time", "ms",
            one([capacity["wall_ms"]]), note=f"{capacity['batches']} transactions; on a CPU "
                                             f"{capacity['cpu_ms']:.1f} ms per result")
    row.add("the command's hold on each result before asking for the next (Dask runs, median)", "time", "ms",
            one(held), note="handing it to the recorder; the run's first results wait until recorded")
    first = next(iter(totals.values()))
    differ = sorted({name for run in totals.values() for name, score in run.items() if score != first[name]})
    agree = size - len(differ)
    row.add(f"students with the same total in all {len(order)} runs (pool and Dask)", "count", "students",
            one([agree]), target=f"all {size}", met=agree == size)
    row.notes.append(f"class of {size} as in row 5 (01_neurons: {grading.composition(size)}); runs in the order "
                     f"{', '.join(order)}, each a fresh command, gradebook and --force; wall times of the whole "
                     "command, start-up included (the Dask runs start their LocalCluster inside it); the ratio "
                     "is judged on each one's faster run")
    row.notes.append(f"load average (1 min, {os.cpu_count()} cores) at the start of each run: "
                     + ", ".join(f"{kind} {load:.1f}" for kind in ("pool", "dask") for load in loads[kind]))
    row.notes.append("the coordinator's cost: its recorder thread's time per result (graded notebook and feedback "
                     "page written, gradebook rows and journal in one transaction per batch; a class's first "
                     "submissions inserted one statement per table); the feedback page is rendered where the "
                     "submission is graded, on the pool's and on Dask's workers alike")
    if differ:
        row.notes.append(f"FINDING: {len(differ)} students get different totals between runs: {', '.join(differ[:6])}")


def recorder_capacity(folder: Path, count: int) -> dict[str, float]:
    """``count`` results of honest submissions handed at once to a :class:`~autograder.grading.recorder.Recorder`
    writing into a fresh SQLite gradebook: its wall and CPU time per result, and the transactions it took."""
    from concurrent.futures import Future

    from autograder import course, mutation, notebooks
    from autograder.grading import feedback_html, jobs
    from autograder.grading.gradebook import Book
    from autograder.grading.limits import Limits
    from autograder.grading.recorder import Recorder

    assignment = course.get(grading.ASSIGNMENT)
    folder.mkdir(parents=True)
    notebook = mutation.submission(*(notebooks.read(p) for p in (assignment.release(), assignment.source())))
    parts = assignment.parts()

    def result(student: str) -> dict:
        job = jobs.make_job(assignment.name, student, folder, Limits())
        return jobs.result(job, parts, jobs.GRADED, parts=[jobs.part(gid, p.points, p.points)
                                                           for gid, p in parts.items()])

    page = feedback_html.render(notebook, result("s0000"), Path(assignment.notebook).stem, assignment.name)
    opened: Future = Future()
    opened.set_result(Book(str(folder / "gradebook.db"), assignment.name, assignment.notebook, parts))
    recorder = Recorder(assignment, folder / "feedback", opened)
    try:
        for i in range(count):
            recorder.put({**result(f"s{i:04d}"), "notebook": notebook, "page": page})
        recorded = recorder.close()
    finally:
        opened.result().close()
    if len(recorded) != count or any(r["status"] != jobs.GRADED for r in recorded):
        raise RuntimeError(f"the recorder recorded {len(recorded)} of {count} results, "
                           f"{sum(r['status'] != jobs.GRADED for r in recorded)} not graded")
    return {"wall_ms": 1000 * recorder.seconds / count, "cpu_ms": 1000 * recorder.cpu_seconds / count,
            "batches": recorder.batches}
