"""What the class got right and wrong: ``python -m autograder stats [ASSIGNMENT] [--db URL] [--html FILE]``.

For one assignment, per graded part: how many submissions, the mean score,
the share with full marks, and how often each mistake code cost points,
sorted by the points it cost; then the distribution of total scores.
Without an assignment, the course: per assignment (submitted, missing,
failed, mean) and per student (a row across assignments, flagged when work
is missing or failed).  ``--html`` writes the same as one self-contained page
(plots embedded, no network) to open or project in class.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from . import grades as grades_module
from .mistakes import CODES, explain

FULL = 1e-9  # a part or total within this of its maximum has full marks (scores are sums of floats)


@dataclass
class PartStats:
    part: str
    max_score: float
    submissions: int = 0
    total: float = 0.0
    full: int = 0
    lost: Counter = field(default_factory=Counter)  # mistake code -> points lost to it
    students: Counter = field(default_factory=Counter)  # mistake code -> students who lost points to it

    @property
    def mean(self) -> float:
        return self.total / self.submissions if self.submissions else 0.0

    @property
    def full_share(self) -> float:
        return self.full / self.submissions if self.submissions else 0.0

    def mistakes(self) -> list[tuple[str, int, float]]:
        """``(code, students, points lost)``, the costliest first."""
        return sorted(((c, self.students[c], self.lost[c]) for c in self.lost), key=lambda m: (-m[2], -m[1], m[0]))


def assignment_stats(grades: grades_module.Grades, assignment: str) -> tuple[list[PartStats], list[float]]:
    """Per-part statistics and every submission's total score."""
    table = grades.assignments[assignment]
    parts = {gid: PartStats(gid, points) for gid, points in table["parts"].items()}
    totals = []
    for submission in grades.of(assignment):
        totals.append(submission.score)
        for gid, stats in parts.items():
            score = submission.parts.get(gid, 0.0)
            stats.submissions += 1
            stats.total += score
            if score >= stats.max_score - FULL:
                stats.full += 1
            else:
                code = submission.mistakes.get(gid, "other")
                stats.lost[code] += stats.max_score - score
                stats.students[code] += 1
    return list(parts.values()), totals


def course_stats(grades: grades_module.Grades) -> tuple[list[dict], list[dict]]:
    """Per assignment and per student summaries of the whole course."""
    per_assignment, per_student = [], []
    for name, table in grades.assignments.items():
        subs = grades.of(name)
        scores = [s.score for s in subs]
        per_assignment.append({"assignment": name, "max_score": table["max_score"], "submitted": len(subs),
                               "missing": len(grades.students) - len(subs),
                               "failed": sum(s.status in ("failed", "ungradable") for s in subs),
                               "mean": statistics.fmean(scores) if scores else 0.0})
    for student in grades.students:
        row = {"student": student, "scores": {}, "flags": []}
        for name in grades.assignments:
            found = grades.submissions.get((name, student))
            if found is None:
                row["flags"].append(f"{name}: missing")
            else:
                row["scores"][name] = found.score
                if found.status != "graded":
                    row["flags"].append(f"{name}: {found.status}")
        row["total"] = sum(row["scores"].values())
        per_student.append(row)
    return per_assignment, per_student


def histogram(totals: list[float], max_score: float, bins: int = 10) -> list[int]:
    """Counts of totals in ``bins`` equal bins over [0, max_score] (the top bin includes the maximum)."""
    counts = [0] * bins
    for total in totals:
        share = total / max_score if max_score else 0.0
        counts[min(bins - 1, max(0, int(share * bins)))] += 1
    return counts


def _fmt(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".")


def assignment_text(grades: grades_module.Grades, assignment: str) -> str:
    parts, totals = assignment_stats(grades, assignment)
    max_score = grades.assignments[assignment]["max_score"]
    lines = [f"{assignment}: {len(totals)} submissions, mean {_fmt(statistics.fmean(totals) if totals else 0)}"
             f" / {_fmt(max_score)}", "",
             f"{'part':<32} {'subs':>5} {'mean':>6} {'max':>5} {'full':>6}  mistakes (students, points lost)"]
    for p in parts:
        mistakes = "; ".join(f"{code} ({n}, {_fmt(lost)})" for code, n, lost in p.mistakes()) or "-"
        lines.append(f"{p.part:<32} {p.submissions:>5} {_fmt(p.mean):>6} {_fmt(p.max_score):>5} "
                     f"{p.full_share:>6.0%}  {mistakes}")
    lines += ["", "score distribution (share of the maximum):"]
    counts = histogram(totals, max_score)
    width = max(counts or [1]) or 1
    for i, count in enumerate(counts):
        lines.append(f"  {i * 10:>3}-{(i + 1) * 10:<4}% {count:>5} {'#' * round(40 * count / width)}")
    return "\n".join(lines)


def course_text(grades: grades_module.Grades) -> str:
    per_assignment, per_student = course_stats(grades)
    lines = [f"{'assignment':<24} {'max':>5} {'submitted':>9} {'missing':>7} {'failed':>6} {'mean':>6}"]
    lines += [f"{a['assignment']:<24} {_fmt(a['max_score']):>5} {a['submitted']:>9} {a['missing']:>7} "
              f"{a['failed']:>6} {_fmt(a['mean']):>6}" for a in per_assignment]
    flagged = [s for s in per_student if s["flags"]]
    lines += ["", f"{len(per_student)} students; {len(flagged)} with missing or failed work:"]
    lines += [f"  {_printable(s['student'])}: {', '.join(s['flags'])}" for s in flagged]
    return "\n".join(lines)


def _printable(text: str) -> str:
    """A student id as a terminal may print it: control characters escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


# --- the page -------------------------------------------------------------------------------------------------


def _figure_data(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


def colour(code: str) -> str:
    """The one colour of a mistake code on every page: its place in :data:`CODES` on a 20-colour palette."""
    from matplotlib import colormaps

    known = list(CODES)
    index = known.index(code) if code in known else len(known) - 1
    red, green, blue, _ = colormaps["tab20"](index % 20)
    return f"#{int(red * 255):02x}{int(green * 255):02x}{int(blue * 255):02x}"


def _plots(parts: list[PartStats], totals: list[float], max_score: float) -> tuple[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    codes = sorted({c for p in parts for c in p.lost}, key=lambda c: -sum(p.lost[c] for p in parts))
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(parts) + 1.5))
    left = [0.0] * len(parts)
    for code in codes:
        values = [p.lost[code] / p.submissions if p.submissions else 0.0 for p in parts]
        ax.barh([p.part for p in parts], values, left=left, label=code, color=colour(code))
        left = [a + b for a, b in zip(left, values)]
    ax.invert_yaxis()
    ax.set_xlabel("points lost per submission")
    ax.set_title("Where the points went, by mistake")
    if codes:  # beside the bars, never over them
        ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    lost = _figure_data(fig)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(8, 3))
    counts = histogram(totals, max_score)
    ax.bar([f"{10 * i}–{10 * (i + 1)}%" for i in range(len(counts))], counts, color="#4c72b0")
    ax.set_xlabel("total score, share of the maximum")
    ax.set_ylabel("submissions")
    ax.set_title("Score distribution")
    ax.tick_params(axis="x", labelsize=9)
    distribution = _figure_data(fig)
    plt.close(fig)
    return lost, distribution


def assignment_html(grades: grades_module.Grades, assignment: str) -> str:
    parts, totals = assignment_stats(grades, assignment)
    max_score = grades.assignments[assignment]["max_score"]
    lost, distribution = _plots(parts, totals, max_score)
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(p.part)}</td><td>{p.submissions}</td><td>{_fmt(p.mean)} / {_fmt(p.max_score)}</td>"
        f"<td>{p.full_share:.0%}</td><td>{e('; '.join(f'{c} ({n})' for c, n, _ in p.mistakes()) or '-')}</td></tr>"
        for p in parts)
    frequent = Counter()
    for p in parts:
        frequent.update(p.students)
    explained = "".join(f"<li><code>{e(code)}</code> ({n} part-submissions): {e(explain(code))}</li>"
                        for code, n in frequent.most_common(8))
    mean = statistics.fmean(totals) if totals else 0.0
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(assignment)}: class statistics</title>
<style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.5}}
table{{border-collapse:collapse;width:100%}}td,th{{border-bottom:1px solid #ccc;padding:.3rem .5rem;text-align:left;
overflow-wrap:anywhere}}th,td:first-child{{overflow-wrap:normal;white-space:nowrap}}
.wide{{overflow-x:auto}}
img{{max-width:100%;height:auto}}</style></head>
<body><h1>{e(assignment)}</h1>
<p>{len(totals)} submissions; mean {_fmt(mean)} of {_fmt(max_score)} points.</p>
<figure><img src="{lost}" alt="Bar chart of the points lost per submission in each part, split by mistake">
<figcaption>Points lost per submission, part by part, coloured by the mistake that cost them.</figcaption></figure>
<h2>Parts</h2><div class="wide"><table><thead><tr><th>part</th><th>submissions</th><th>mean</th><th>full marks</th>
<th>mistakes (students)</th></tr></thead><tbody>{rows}</tbody></table></div>
<h2>The most frequent mistakes</h2><ul>{explained or '<li>none</li>'}</ul>
<figure><img src="{distribution}" alt="Histogram of total scores as a share of the maximum">
<figcaption>How the total scores are spread.</figcaption></figure>
</body></html>
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("assignment", nargs="?", help="e.g. 04_backprop (default: the whole course)")
    p.add_argument("--db", default="gradebook.db", help="SQLite file or SQLAlchemy URL (default gradebook.db)")
    p.add_argument("--html", type=Path, help="also write a self-contained page of the statistics (one assignment)")


def run(args: argparse.Namespace) -> int:
    grades = grades_module.read(args.db, [args.assignment] if args.assignment else None)
    if args.assignment:
        if args.assignment not in grades.assignments:
            raise SystemExit(f"stats: the gradebook has no assignment {args.assignment!r}; "
                             f"it has {', '.join(grades.assignments) or 'none'}")
        print(assignment_text(grades, args.assignment))
        if args.html:
            args.html.write_text(assignment_html(grades, args.assignment), encoding="utf-8")
            print(f"\nstats: page written to {args.html}")
    else:
        if args.html:
            raise SystemExit("stats: --html needs an assignment (the page shows one assignment's parts)")
        print(course_text(grades))
    return 0

