"""What the grader reads from a submission's files and folder names, on its trusted side (issue 14).

One run of ``python -m autograder grade`` over a class where each student
attacks the grader's own reading: links to the instructor's solutions or to
a peer's notebook, special files, a sparse giant, a folder for a notebook,
and folder names no terminal, web page or spreadsheet should take raw.  Each
gets its exact status, none scores more than the honest submission, nothing
of the solutions or of the grader's paths reaches any output, and the honest
students graded beside them keep their marks.  Honest work the feedback page
once choked on (a pasted image, 50,000-character markdown cells) is graded,
with a page built in bounded time.
"""

from __future__ import annotations

import base64
import csv
import json
import os
import resource
import struct
import sys
import time
import zlib
from pathlib import Path

import pytest

from autograder import course, notebooks
from autograder.grading import feedback_html, submission

sys.path.insert(0, str(Path(__file__).parent))
from test_grading import ASSIGNMENT, FULL, _grade, _notebook, _write  # noqa: E402

pytestmark = pytest.mark.slow
SOLUTIONS = course.ROOT / "solutions" / ASSIGNMENT.name


def _png() -> str:
    """A 1x1 PNG, base64, as Jupyter stores a pasted image."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))
    return base64.b64encode(data).decode()


def _markdown(source: str, **extra) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": source, **extra}


def _with_cells(*cells: dict) -> dict:
    notebook = _notebook()
    notebook["cells"][1:1] = list(cells)
    return notebook


LONG = "[a](b) " * (50_000 // 7)  # nbconvert took seconds per line of links; three such cells, 113 s
PASTED = _markdown("My drawing: ![image.png](attachment:image.png) and a lost one ![x](attachment:gone.png)",
                   attachments={"image.png": {"image/png": _png()}})


def _solution_line() -> str:
    """A line of the instructor's solution code that the student release does not hold."""
    release = notebooks.read(ASSIGNMENT.release())
    released = "\n".join(notebooks.cell_text(c) for c in release["cells"])
    for cell in notebooks.read(ASSIGNMENT.source())["cells"]:
        if notebooks.is_code(cell) and not notebooks.is_test_cell(cell):
            for line in notebooks.cell_text(cell).split("\n"):
                if len(line.strip()) > 20 and line not in released:
                    return line.strip()
    raise AssertionError("no solution line found")


def _link_student(folder: Path) -> None:
    (folder / "link_student").symlink_to(SOLUTIONS.parent)


def _link_folder(folder: Path) -> None:
    (folder / "link_folder").mkdir()
    (folder / "link_folder" / ASSIGNMENT.name).symlink_to(SOLUTIONS)


def _in_folder(student: str, make):
    def build(folder: Path) -> None:
        own = folder / student / ASSIGNMENT.name
        own.mkdir(parents=True)
        make(folder, own / ASSIGNMENT.notebook)
    return build


def _hard_linked_fifo(folder: Path, path: Path) -> None:
    elsewhere = folder.parent / "fifo-elsewhere"
    os.mkfifo(elsewhere)
    os.link(elsewhere, path)


def _sparse(folder: Path, path: Path) -> None:
    with path.open("wb") as f:
        f.truncate(1_500_000_000)


# student: (how the folder is made, status, what the message says)
FILES = {
    "link_solution": (_in_folder("link_solution", lambda d, p: p.symlink_to(SOLUTIONS / ASSIGNMENT.notebook)),
                      "neurons.ipynb is a symbolic link"),
    "link_peer": (_in_folder("link_peer", lambda d, p: p.symlink_to(d / "honest" / ASSIGNMENT.name
                                                                     / ASSIGNMENT.notebook)),
                  "neurons.ipynb is a symbolic link"),
    "link_folder": (_link_folder, "the folder 01_neurons is a symbolic link"),
    "link_student": (_link_student, "the folder link_student is a symbolic link"),
    "fifo": (_in_folder("fifo", lambda d, p: os.mkfifo(p)), "neurons.ipynb is a FIFO"),
    "hard_linked_fifo": (_in_folder("hard_linked_fifo", _hard_linked_fifo), "neurons.ipynb is a FIFO"),
    "sparse_giant": (_in_folder("sparse_giant", _sparse), "neurons.ipynb is 1500.0 MB, over the 16 MB"),
    "folder_notebook": (_in_folder("folder_notebook", lambda d, p: p.mkdir()), "neurons.ipynb is a folder"),
}
if os.geteuid() == 0:  # only root makes device files
    FILES["device"] = (_in_folder("device", lambda d, p: os.mknod(p, 0o600 | 0o020000, os.makedev(1, 3))),
                       "neurons.ipynb is a device")

# folder name: how the report, the terminal and the CSV show it
NAMES = {
    "ansi\x1b]0;pwned\x07\x1b[2K\x1b[8mhidden": "ansi\\x1b]0;pwned\\x07\\x1b[2K\\x1b[8mhidden",
    "<img src=x onerror=alert(1)>": "<img src=x onerror=alert(1)>",
    "=1+2": "=1+2", "+1": "+1", "-1+2": "-1+2", "@SUM(1)": "@SUM(1)",
    "new\nline": "new\\nline",
    "n" * 255: "n" * 255,
}
NOT_UTF8 = os.fsdecode(b"jos\xe9")  # a Latin-1 name: os.listdir gives it with a lone surrogate


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("files")
    folder, db, report = root / "submitted", root / "gradebook.db", root / "report.json"
    _write(folder, "honest", _notebook())
    _write(folder, "pasted_image", _with_cells(PASTED))
    _write(folder, "long_cells", _with_cells(*[_markdown(LONG) for _ in range(3)]))
    for make, _ in FILES.values():
        make(folder)
    for name in [*NAMES, NOT_UTF8]:
        _write(folder, name, _notebook())
    start = time.monotonic()
    run = _grade(folder, db, report=report)
    seconds = time.monotonic() - start
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    assert run.returncode == 0, run.stderr[-3000:]
    results = {r["student"]: r for r in json.loads(report.read_text())["results"]}
    print(f"\n{len(results)} students graded in {seconds:.1f} s; largest process {peak_mb:.0f} MB")
    return root, folder, report, results, run, peak_mb


def _outputs(root: Path, report: Path) -> str:
    """Everything the grader wrote: feedback pages, graded notebooks, the report."""
    texts = [report.read_text(), report.with_suffix(".csv").read_text()]
    texts += [p.read_text(errors="replace") for d in ("feedback", "autograded") for p in (root / d).rglob("*")
              if p.is_file()]
    return "\n".join(texts)


def test_honest_work_the_page_choked_on_is_graded_with_its_page(graded):
    root, folder, report, results, run, _ = graded
    for student in ("honest", "pasted_image", "long_cells"):
        assert results[student]["status"] == "graded" and results[student]["score"] == FULL, results[student]
    page = (root / "feedback" / "pasted_image" / ASSIGNMENT.name / "neurons.html").read_text()
    assert f'<img alt="image.png" src="data:image/png;base64,{_png()}"/>' in page  # shown, and nothing else
    assert '<img alt="x"/>' in page
    long_page = (root / "feedback" / "long_cells" / ASSIGNMENT.name / "neurons.html").read_text()
    assert feedback_html.AS_TYPED in long_page and "[a](b) [a](b)" in long_page


@pytest.mark.parametrize("student", list(FILES))
def test_each_file_attack_is_ungradable_and_reads_nothing(graded, student):
    root, folder, report, results, run, _ = graded
    result = results[student]
    assert result["status"] == "ungradable" and result["score"] == 0, result
    assert FILES[student][1] in result["error"], result["error"]
    assert not (root / "autograded" / student).exists()
    page = (root / "feedback" / student / ASSIGNMENT.name / "neurons.html").read_text()
    assert _solution_line() not in page and str(course.ROOT) not in page and "/tmp/" not in page
    assert results["honest"]["score"] == FULL


def test_no_solution_or_grader_path_in_any_output_of_an_attack(graded):
    root, folder, report, results, run, _ = graded
    texts = [json.dumps(results[s]) for s in FILES]
    texts += [p.read_text(errors="replace") for s in FILES for p in (root / "feedback" / s).rglob("*")
              if p.is_file()]
    for text in texts:
        assert _solution_line() not in text and str(course.ROOT) not in text and "site-packages" not in text


def test_the_grader_never_read_the_sparse_giant(graded):
    *_, peak_mb = graded
    assert peak_mb < 1500  # the worker that refused it, the command, the kernels: none grew by its size


@pytest.mark.parametrize("name", list(NAMES))
def test_odd_folder_names_are_graded_and_shown_escaped(graded, name):
    root, folder, report, results, run, _ = graded
    assert results[name]["status"] == "graded" and results[name]["score"] == FULL
    rows = {row[0]: row for row in csv.reader(report.with_suffix(".csv").open(newline="", encoding="utf-8"))}
    neutral = "'" + name if name[0] in "=+-@" else name
    assert rows[neutral][1:4] == ["graded", "14.0", "14.0"]
    page = (root / "feedback" / name / ASSIGNMENT.name / "neurons.html").read_text()
    assert "<img src=x" not in page and "\x1b" not in page


def test_the_terminal_gets_no_raw_name(graded):
    root, folder, report, results, run, _ = graded
    shown = run.stdout + run.stderr
    assert "\x1b" not in shown and "\x07" not in shown and "new\nline" not in shown
    assert "jos\\xe9" in shown  # named, escaped, in the plan


def test_a_name_the_gradebook_cannot_store_is_refused_alone(graded):
    root, folder, report, results, run, _ = graded
    result = results["jos\\xe9"]
    assert result["status"] == "ungradable" and result["score"] == 0
    assert "jos\\xe9 is not UTF-8" in result["error"]
    assert sum(r["status"] == "graded" and r["score"] == FULL for r in results.values()) == 3 + len(NAMES)
    assert "jos\\xe9,ungradable,0.0,14.0" in report.with_suffix(".csv").read_text()


def test_pathological_markdown_is_cut_in_bounded_time(tmp_path):
    """Three 50,000-character cells of each kind nbconvert renders slowly, and many cells just under the caps."""
    result = {"student": "s", "status": "graded", "parts": []}
    feedback_html.write(_with_cells(_markdown("x")), result, tmp_path / "warm.html", ASSIGNMENT.name)
    for unit in ("[a](b) ", "- a\n", "# a\n", "<div>", "![a](attachment:x) "):
        for size, count in ((50_000, 3), (feedback_html.MARKDOWN_CELL_CAP - 1, 40)):
            notebook = {"nbformat": 4, "cells": [_markdown(unit * (size // len(unit))) for _ in range(count)]}
            start = time.monotonic()
            feedback_html.write(notebook, result, tmp_path / "page.html", ASSIGNMENT.name)
            assert time.monotonic() - start < 5, (unit, size, count)


def test_load_reads_only_a_plain_file_of_its_own_folder(tmp_path):
    folder = tmp_path / "ann" / ASSIGNMENT.name
    folder.mkdir(parents=True)
    (folder / ASSIGNMENT.notebook).write_text(json.dumps(_notebook()))
    assert submission.load(folder, ASSIGNMENT.notebook)["nbformat"] == 4
    with pytest.raises(ValueError, match="over the 0.001 MB"):
        submission.load(folder, ASSIGNMENT.notebook, 0.001)
    assert submission.printable("a\x1b[2K\n" + os.fsdecode(b"\xe9")) == "a\\x1b[2K\\n\\xe9"
