"""Grades out and insight in: ``python -m autograder stats`` and ``export`` on a gradebook whose answer is known.

The gradebook holds what the grading command writes (nbgrader's tables, with
a score per grade cell, plus the journal of results), written here with
nbgrader's API for a hand-built class rather than a real notebook: three parts,
five students, known scores, known mistakes, one late penalty, one student
who submitted nothing.  Every number below is worked out by hand from that
class.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import warnings
from datetime import datetime, timedelta
from pathlib import Path

import jsonschema
import pytest
from nbgrader.api import Gradebook, MissingEntry

from autograder import export, grades, stats
from autograder.grading.gradebook import COURSE_ID, JOURNAL, METADATA

ROOT = Path(__file__).resolve().parents[1]
PARTS = {"test_forward": 2.0, "test_backward": 3.0, "test_update": 1.0}
ODD_NAMES = ["=HYPERLINK(\"http://x\",\"y\")", "+1", "-2", "@SUM(A1)", 'Smith, "Jo"\nline two', "Zoë 李"]
# student -> {part: (score, mistake code or None)}
CLASS = {
    "alice": {"test_forward": (2, None), "test_backward": (3, None), "test_update": (1, None)},
    "bob": {"test_forward": (2, None), "test_backward": (0, "transposed"), "test_update": (1, None)},
    "carol": {"test_forward": (0, "batch_factor"), "test_backward": (0, "transposed"), "test_update": (0, None)},
    "dan": {"test_forward": (2, None), "test_backward": (0, "sign_flipped"), "test_update": (1, None)},
}
LATE_PENALTY = {"dan": 1.5}
NOT_SUBMITTED = ["erin"]


def _result(student, parts):
    return {"student": student, "status": "graded", "error": None, "seconds": 2.5,
            "score": float(sum(s for s, _ in parts.values())), "max_score": float(sum(PARTS.values())),
            "parts": [{"id": gid, "score": float(score), "max_score": PARTS[gid],
                       "message": "" if code is None else f"dW is wrong: {code}",
                       **({} if code is None else {"mistake": code})}
                      for gid, (score, code) in parts.items()]}


def _record(gb: Gradebook, result: dict) -> None:
    """One graded submission: its grade cells' scores and its journal row."""
    try:
        gb.find_student(result["student"])
    except MissingEntry:
        gb.add_student(result["student"])
    with warnings.catch_warnings():  # nbgrader's own autoflush notice, on every new submission
        warnings.filterwarnings("ignore", message=".*not in session")
        gb.add_submission("04_backprop", result["student"])
    for part in result["parts"]:
        gb.find_grade(part["id"], "backprop", "04_backprop", result["student"]).auto_score = part["score"]
    gb.db.execute(JOURNAL.insert().values(assignment="04_backprop", student=result["student"], status="graded",
                                          result=json.dumps(result), finished_at=0.0))
    gb.db.commit()


@pytest.fixture(scope="module")
def gradebook(tmp_path_factory) -> str:
    db = str(tmp_path_factory.mktemp("gradebook") / "gradebook.db")
    with pytest.MonkeyPatch.context() as env:  # a new gradebook: nbgrader runs alembic from PATH
        env.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
        Gradebook(f"sqlite:///{db}", course_id=COURSE_ID).close()
    with Gradebook(f"sqlite:///{db}", course_id=COURSE_ID) as gb:
        METADATA.create_all(gb.engine)
        gb.update_or_create_assignment("04_backprop")
        gb.update_or_create_notebook("backprop", "04_backprop")
        for gid, points in PARTS.items():
            gb.update_or_create_grade_cell(gid, "backprop", "04_backprop", max_score=points, cell_type="code")
        for student, parts in CLASS.items():
            _record(gb, _result(student, parts))
        for i, name in enumerate(ODD_NAMES):
            _record(gb, _result(name, {gid: (points if i % 2 else 0, None if i % 2 else "other")
                                       for gid, points in PARTS.items()}))
    with Gradebook(f"sqlite:///{db}") as gb:
        for student in NOT_SUBMITTED:
            gb.add_student(student)
        assignment = gb.find_assignment("04_backprop")
        assignment.duedate = datetime(2026, 10, 1, 12, 0)
        for student, penalty in LATE_PENALTY.items():
            submission = gb.find_submission("04_backprop", student)
            submission.timestamp = assignment.duedate + timedelta(hours=5)
            submission.notebooks[0].late_submission_penalty = penalty
        gb.db.commit()
    return db


def test_stats_count_each_part_and_mistake_as_worked_out_by_hand(gradebook):
    g = grades.read(gradebook, ["04_backprop"])
    parts, totals = stats.assignment_stats(g, "04_backprop")
    by_id = {p.part: p for p in parts}
    n = len(CLASS) + len(ODD_NAMES)
    assert [p.submissions for p in parts] == [n, n, n]
    backward = by_id["test_backward"]
    # alice 3, bob/carol/dan 0; odd names: 3 of 6 full (odd indices)
    assert backward.mean == pytest.approx((3 + 3 * 3) / n)
    assert backward.full == 1 + 3
    assert backward.students == {"transposed": 2, "sign_flipped": 1, "other": 3}
    assert backward.mistakes()[0] == ("other", 3, 9.0)  # 3 students x 3 points, the costliest first
    assert backward.mistakes()[1] == ("transposed", 2, 6.0)
    forward = by_id["test_forward"]
    assert forward.students == {"batch_factor": 1, "other": 3}
    update = by_id["test_update"]
    assert update.students == {"other": 1 + 3}  # carol lost it with no code recorded: "other"
    # totals after nbgrader's late penalty: dan 3 - 1.5
    expected = sorted([6, 3, 0, 1.5] + [0, 6, 0, 6, 0, 6])
    assert sorted(totals) == pytest.approx(expected)
    assert stats.histogram(totals, 6.0) == [4, 0, 1, 0, 0, 1, 0, 0, 0, 4]


def test_the_course_summary_flags_missing_work(gradebook):
    g = grades.read(gradebook)
    per_assignment, per_student = stats.course_stats(g)
    assert per_assignment[0]["submitted"] == len(CLASS) + len(ODD_NAMES)
    assert per_assignment[0]["missing"] == len(NOT_SUBMITTED)
    flagged = {s["student"]: s["flags"] for s in per_student if s["flags"]}
    assert flagged == {"erin": ["04_backprop: missing"]}


def test_stats_command_prints_the_table_and_writes_a_page(gradebook, tmp_path):
    page = tmp_path / "stats.html"
    out = subprocess.run([sys.executable, "-m", "autograder", "stats", "04_backprop", "--db", gradebook,
                          "--html", str(page)], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert "test_backward" in out and "transposed (2, 6)" in out and "sign_flipped (1, 3)" in out
    text = page.read_text()
    assert text.count("<img src=\"data:image/svg+xml;base64,") == 2
    assert "http" not in text.replace("http://www.w3.org", "")  # self-contained: nothing fetched
    course = subprocess.run([sys.executable, "-m", "autograder", "stats", "--db", gradebook],
                            capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert "erin: 04_backprop: missing" in course


def _read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_csv_export_agrees_with_nbgrader_export(gradebook, tmp_path):
    ours = tmp_path / "grades.csv"
    subprocess.run([sys.executable, "-m", "autograder", "export", "--db", gradebook, "--out", str(ours)],
                   check=True, cwd=ROOT, capture_output=True)
    theirs = tmp_path / "nbgrader.csv"
    subprocess.run([sys.executable, "-m", "nbgrader", "export", f"--db=sqlite:///{gradebook}", f"--to={theirs}"],
                   check=True, cwd=tmp_path, capture_output=True)
    with theirs.open(newline="") as f:
        nbgrader_scores = {row["student_id"]: float(row["score"]) for row in csv.DictReader(f)
                           if row["student_id"] in CLASS or row["student_id"] in NOT_SUBMITTED}
    rows = _read_csv(ours)
    assert rows[0] == ["student", "04_backprop", "total"]
    ours_scores = {row[0]: float(row[1]) for row in rows[1:] if row[0] in nbgrader_scores}
    assert ours_scores == nbgrader_scores
    assert ours_scores["dan"] == 1.5 and ours_scores["erin"] == 0.0


def test_every_exported_cell_is_safe_in_a_spreadsheet_and_survives_a_round_trip(gradebook, tmp_path):
    path = export.to_csv(grades.read(gradebook), tmp_path / "grades.csv")
    names = [row[0] for row in _read_csv(path)[1:]]
    for name in ODD_NAMES:
        if name[0] in "=+-@":
            assert "'" + name in names, name  # neutralised: opens as text, the name intact after the quote
        else:
            assert name in names, name  # commas, quotes, newlines, non-ASCII: unchanged
    assert not [n for n in names if n[:1] in ("=", "+", "-", "@")]


def test_canvas_export_has_canvas_columns_points_possible_and_roster_ids(gradebook, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,name,canvas_id,sis_user_id,sis_login_id,section\n"
                      "alice,\"Liddell, Alice\",101,S-1,aliddell,Lab 1\n")
    out = tmp_path / "canvas.csv"
    subprocess.run([sys.executable, "-m", "autograder", "export", "--format", "canvas", "--db", gradebook,
                    "--roster", str(roster), "--out", str(out)], check=True, cwd=ROOT, capture_output=True)
    rows = _read_csv(out)
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "04_backprop"]
    assert rows[1][0] == "Points Possible" and float(rows[1][5]) == 6.0
    alice = next(r for r in rows if r[1] == "101")
    assert alice == ["Liddell, Alice", "101", "S-1", "aliddell", "Lab 1", "6"]
    erin = next(r for r in rows if r[3] == "erin")
    assert erin[5] == ""  # nothing submitted: left ungraded in Canvas


def test_gradescope_export_follows_the_published_format(gradebook, tmp_path):
    subprocess.run([sys.executable, "-m", "autograder", "export", "--format", "gradescope", "--db", gradebook,
                    "--out", str(tmp_path / "gs")], check=True, cwd=ROOT, capture_output=True)
    files = sorted((tmp_path / "gs").rglob("results.json"))
    assert len(files) == len(CLASS) + len(ODD_NAMES)
    assert all(f.resolve().is_relative_to((tmp_path / "gs").resolve()) for f in files)
    dan = json.loads((tmp_path / "gs" / "dan" / "04_backprop" / "results.json").read_text())
    export.validate_gradescope(dan)
    assert dan["score"] == 1.5 and "late penalty of 1.5" in dan["output"]
    assert [t["name"] for t in dan["tests"]] == list(PARTS)
    backward = dan["tests"][1]
    assert backward == {"name": "test_backward", "number": "2", "score": 0, "max_score": 3, "status": "failed",
                        "output": "dW is wrong: sign_flipped", "visibility": "visible", "tags": ["sign_flipped"]}
    for f in files:
        assert "HIDDEN" not in f.read_text() and "check(" not in f.read_text()


def test_the_gradescope_schema_refuses_what_gradescope_would(gradebook):
    good = export.gradescope_results(grades.read(gradebook), "04_backprop", "alice")
    export.validate_gradescope(good)
    for bad in ({**good, "visibility": "public"}, {k: v for k, v in good.items() if k != "score"} | {"tests": [{}]},
                {**good, "tests": [{"name": 3}]}):
        with pytest.raises(jsonschema.ValidationError):
            export.validate_gradescope(bad)


@pytest.mark.browser
def test_the_stats_page_opens_in_chromium_with_every_plot(gradebook, tmp_path):
    from test_browser import launched_chromium

    page_file = tmp_path / "stats.html"
    page_file.write_text(stats.assignment_html(grades.read(gradebook), "04_backprop"))
    errors = []
    with launched_chromium() as browser:
        for width in (1280, 390):
            page = browser.new_page(viewport={"width": width, "height": 800})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(page_file.as_uri())
            widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
            assert len(widths) == 2 and all(w > 0 for w in widths), widths
            assert page.evaluate("document.documentElement.scrollWidth") <= width + 1
            page.close()
    assert errors == []


def test_the_command_lists_every_subcommand():
    done = subprocess.run([sys.executable, "-m", "autograder", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    for command in ("grade", "stats", "export"):
        assert f"  {command} " in done.stdout, done.stdout
    bare = subprocess.run([sys.executable, "-m", "autograder"], capture_output=True, text=True, cwd=ROOT)
    assert bare.returncode == 2 and "commands:" in bare.stdout


def test_every_mistake_code_has_its_own_colour_on_every_page():
    from autograder.mistakes import CODES

    assert len({stats.colour(code) for code in CODES}) == len(CODES)
    assert stats.colour("no_such_code") == stats.colour("other")
