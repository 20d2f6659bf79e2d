"""Row 5 of the benchmarks: grading throughput and per-submission overhead.

The pieces (the class, its sample, reading progress and protections from a
command's log, comparing totals) are tested on their own and fast; one slow
test runs the whole row in quick mode, with real ``nbgrader autograde`` and
the real grading command, and checks that its figures are present, positive
where they must be and consistent with one another.  No test asserts a
timing bound: on a shared machine any such bound fails at random.
"""

from __future__ import annotations

import math
import re
import sys
import time

import pytest

from autograder import course, notebooks
from autograder.mutation import catalogue
from benchmarks import grading
from benchmarks.__main__ import Config

ASSIGNMENT = course.get(grading.ASSIGNMENT)


def _class(size: int) -> list[grading.Student]:
    release = notebooks.read(ASSIGNMENT.release())
    solution = notebooks.read(ASSIGNMENT.source())
    return grading.make_class(release, solution, catalogue(ASSIGNMENT), size)


def _answers(notebook: dict) -> dict[str, str]:
    return {gid: notebooks.cell_text(cell) for gid, cell in notebooks.answer_cells(notebook).items()}


def test_class_is_mostly_honest_with_mutants_and_untouched_releases():
    students = _class(grading.CLASS_SIZE)
    kinds = [s.kind for s in students]
    assert len(students) == 40 and len({s.name for s in students}) == 40
    assert kinds.count("honest") == 27 and kinds.count("mutant") == 10 and kinds.count("release") == 3
    release = notebooks.read(ASSIGNMENT.release())
    honest = next(s for s in students if s.kind == "honest")
    assert all("NotImplementedError" not in src for src in _answers(honest.notebook).values())
    assert next(s for s in students if s.kind == "release").notebook == release
    mutants = [s for s in students if s.kind == "mutant"]
    cells = {s.mutant.split("--")[0] for s in mutants}
    assert len({s.mutant for s in mutants}) == 10 and len(cells) >= 4, "mutants must spread over the catalogue"
    for s in mutants:  # each mutant changes its own answer cell, and only that one
        cell = s.mutant.split("--")[0]
        changed = {gid for gid, src in _answers(s.notebook).items() if src != _answers(honest.notebook)[gid]}
        assert changed == {cell}, s.name
    for half in (kinds[:20], kinds[20:]):
        assert set(half) == {"honest", "mutant", "release"}, "the kinds must be mixed, not in blocks"


def test_composition_refuses_a_class_too_small():
    assert grading.composition(4) == {"honest": 2, "mutant": 1, "release": 1}
    with pytest.raises(ValueError, match="at least 3 submissions"):
        grading.composition(2)


@pytest.mark.parametrize("size, sample, expected", [(40, 8, {"honest": 5, "mutant": 2, "release": 1}),
                                                    (4, 2, {"honest": 1, "mutant": 1}),
                                                    (4, 4, {"honest": 2, "mutant": 1, "release": 1})])
def test_sample_keeps_the_mix_of_the_class(size, sample, expected):
    students = _class(size)
    picked = grading.sample_of(students, sample)
    counts = {k: sum(s.kind == k for s in picked) for k in ("honest", "mutant", "release")}
    assert {k: v for k, v in counts.items() if v} == expected
    order = [s.name for s in students]
    assert [s.name for s in picked] == sorted((s.name for s in picked), key=order.index)


SCRIPT = """
import sys, time
for i in range(1, 4):
    sys.stderr.write(f"work: {i}/3 [00:00]\\r")
    sys.stderr.flush()
    time.sleep(0.3)
sys.stderr.write("sandbox: one; two\\nsandbox: MISSING protection: three\\n")
print("summary")
sys.exit(int(sys.argv[1]))
"""


def test_watch_reports_progress_time_and_failure(tmp_path):
    ok = grading.Watch([sys.executable, "-c", SCRIPT, "0"], tmp_path, None, tmp_path / "ok.log",
                       grading.COMMAND_DONE, 3, counts_last=True)
    start = time.perf_counter()
    ticks = [(n, time.perf_counter() - start) for n in ok]
    assert [n for n, _ in ticks] == [1, 2, 3] and len(ok) == 3
    assert ok.returncode == 0 and 0.6 < ok.seconds < 60
    assert ticks[0][1] < ok.seconds - 0.2, "progress must be read while the command runs, not after"
    assert ok._finished("work: 1/3 [00:00]\rwork: 2/3 [00:01]") == 2
    log = "[AutogradeApp | INFO] Setting destination file permissions to 444\n"
    assert grading.Watch([], tmp_path, None, tmp_path / "x.log", grading.NBGRADER_DONE, 2)._finished(log * 2) == 2
    ok.check("the script")
    assert grading.protections(ok.stderr) == (["one", "two"], ["three"])
    assert (tmp_path / "ok.out").read_text() == "summary\n"

    bad = grading.Watch([sys.executable, "-c", SCRIPT, "3"], tmp_path, None, tmp_path / "bad.log",
                        grading.COMMAND_DONE, 3, counts_last=True)
    list(bad)
    with pytest.raises(RuntimeError, match="the script ended with status 3"):
        bad.check("the script")


def test_watch_stops_a_hung_command(tmp_path):
    hung = grading.Watch([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path, None,
                         tmp_path / "hung.log", grading.NBGRADER_DONE, 0)
    hung.limit = 1.0
    assert list(hung) == []
    assert hung.seconds < 30 and hung.returncode is not None
    with pytest.raises(RuntimeError, match="ran past the benchmark's limit of 1 s"):
        hung.check("sleep")


def test_disagreements_name_the_student_and_both_totals():
    results = {"a": {"score": 14.0, "status": "graded"}, "b": {"score": 0.0, "status": "failed", "error": "boom"}}
    assert grading.disagreements({"a": 14.0, "b": 0.0}, results, ["a", "b"]) == []
    found = grading.disagreements({"a": 12.0, "b": 14.0}, results, ["a", "b", "c"])
    assert found == ["a: nbgrader 12, command 14", "b: nbgrader 14, command 0, failed: boom",
                     "c: missing from nbgrader"]


def _entry(row, label_start: str):
    found = [e for e in row.entries if e.label.startswith(label_start)]
    assert len(found) == 1, (label_start, [e.label for e in row.entries])
    return found[0]


@pytest.mark.slow
@pytest.mark.nbgrader
def test_quick_row_measures_both_graders_on_the_same_class():
    cfg = Config.quick_config()
    row = grading.run(cfg, lambda items, desc: items)
    assert row.status == "ok", row.notes
    size, k = grading.QUICK_CLASS_SIZE, grading.QUICK_SAMPLE
    for entry in row.entries:
        assert entry.min <= entry.median <= entry.max and all(
            math.isfinite(v) for v in (entry.min, entry.median, entry.max)), entry

    serial = _entry(row, f"serial nbgrader autograde, {size} submissions").median
    parallel = _entry(row, f"grade --workers 2, the same {size} submissions").median
    startup = _entry(row, "grade: a run with nothing to grade").median
    fixed = _entry(row, "grade: fixed cost of a run").median
    for value in (serial, parallel, startup):
        assert value > 0
    assert fixed >= 0
    speedup = _entry(row, "serial nbgrader / grade --workers 2")
    assert speedup.target == ">= 3" and speedup.best == pytest.approx(serial / parallel)
    assert speedup.met == (serial / parallel >= 3)
    assert _entry(row, "grade --workers 2: throughput").median == pytest.approx(60 * size / parallel)
    assert _entry(row, "serial nbgrader: throughput").median == pytest.approx(60 * size / serial)
    assert _entry(row, "serial nbgrader: time per submission").median == pytest.approx(serial / size)

    agree = _entry(row, "students with the same total")
    assert agree.target == f"all {size}" and agree.met == (agree.median == size), agree
    assert agree.met, [n for n in row.notes if "FINDING" in n]

    per_single = _entry(row, "grade --workers 1: time per submission")
    bare = _entry(row, "bare nbclient")
    # a difference of two runs (k and j submissions): in quick mode, with a handful of submissions, it is
    # too noisy to have a sign; its formula is what is checked here
    j = grading._small_size(k)
    assert bare.n == k and bare.min > 0 and j < k
    assert per_single.note == f"sample of {k}: (T{k} - T{j}) / {k - j}, fixed cost excluded"
    overhead = _entry(row, "per-submission overhead").median
    # the mean of the bare runs, recovered from the overhead, lies among the runs themselves
    mean_bare = per_single.median - overhead
    assert bare.min - 1e-9 <= mean_bare <= bare.max + 1e-9
    assert _entry(row, "grade --workers 1 / bare nbclient").median == pytest.approx(per_single.median / mean_bare)
    assert _entry(row, "serial nbgrader / bare nbclient").median == pytest.approx(serial / size / mean_bare)
    per_parallel = (parallel - fixed) / size
    assert _entry(row, "speed-up of 2 workers over 1").median == pytest.approx(per_single.median / per_parallel)

    notes = "\n".join(row.notes)
    assert f"assignment {grading.ASSIGNMENT}" in notes
    assert f"sample of {k} of the {size}" in notes
    assert re.search(r"sandbox protections active: \S", notes) and "sandbox protections MISSING:" in notes
    assert "none printed" not in notes, "the command no longer prints its protections"
    assert f"{size} graded" in notes or "FINDING" in notes
