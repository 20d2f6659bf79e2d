"""Feedback pages of the grading command (``autograder.grading.feedback_html``) on assignment 01_neurons.

The notebooks are built from the real course files: the student release
with the solutions filled in (as in the mutant catalogue) and the
instructor's test cells put back, as the grading job hands them over.  A
hostile student adds outputs and cells meant to run script in the
instructor's browser or to fake a score.  The pages are parsed with
BeautifulSoup: nothing the student wrote may be live HTML, the only script
is the page's own MathJax, allowed by the page's Content-Security-Policy,
nothing may load from the network, the hidden tests must not show, and
every graded part must show the grader's points and message.

In Chromium (headless, the network closed, pages opened from ``file://``):
the maths of every assignment's text is typeset, and TeX a student writes
makes no link, script, class, id or style.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from contextlib import contextmanager

import pytest
from bs4 import BeautifulSoup

from autograder import course, notebooks
from autograder.feedback import NOTE
from autograder.grading import feedback_html, grader, jobs, mathjax
from autograder.grading.limits import Limits
from autograder.mutation import catalogue, submission

pytestmark = pytest.mark.nbgrader
ASSIGNMENT = course.get("01_neurons")
PARTS = ASSIGNMENT.parts()
BEGIN, END = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
FAKE = "Points: 14 / 14"

# Outputs a student can leave in a code cell: each marker must show as text, or not at all.
HOSTILE_OUTPUTS = [
    {"output_type": "stream", "name": "stdout", "text": f"{FAKE}\nall tests passed\n"},
    {"output_type": "stream", "name": "stdout", "text": ["<script>alert('stream')</script>\n"]},
    {"output_type": "display_data", "metadata": {"image/png": {"width": "1 onerror=alert('width')"}},
     "data": {"text/html": "<img src=x onerror=\"alert('html')\">",
              "text/plain": "<img src=y onerror=alert('plain')>"}},
    {"output_type": "display_data", "metadata": {},
     "data": {"application/javascript": "alert('js')", "text/markdown": "<script>alert('md-output')</script>",
              "image/svg+xml": "<svg onload=\"alert('svg')\"/>",
              "application/vnd.jupyter.widget-view+json": {"model_id": "alert('widget')", "version_major": 2}}},
    {"output_type": "execute_result", "execution_count": 3, "metadata": {}, "data": {"image/png": PNG}},
    {"output_type": "display_data", "metadata": {}, "data": {"image/png": "AAAA\"><script>alert('png')</script>"}},
    {"output_type": "error", "ename": "ValueError", "evalue": "bad",
     "traceback": ["\x1b[31mValueError\x1b[0m: <script>alert('traceback')</script>"]},
]
SHOWN_AS_TEXT = ["<script>alert('stream')</script>", "<img src=y onerror=alert('plain')>",
                 "ValueError: <script>alert('traceback')</script>", "<script>alert('markdown')</script>"]
ABSENT = ["alert('html')", "alert('js')", "alert('md-output')", "alert('svg')", "alert('widget')", "alert('png')",
          "alert('width')", "alert(\"gid\")", "alert(\"tag\")", "alert('count')", "forged", "\x1b["]
STUDENT_MARKDOWN = ("## My notes\n\n<script>alert('markdown')</script>\n\n<img src=x onerror=\"alert('mdimg')\">\n\n"
                    "[click](javascript:alert('href'))\n"
                    "<a href=\"javascript:alert('a')\" onclick=\"alert('c')\">a</a>\n\n"
                    f"<div class=\"panel-heading\" style=\"color: green\">{FAKE}</div>\n\n"
                    "![tracker](http://example.com/pixel.png)\n")
# TeX a student can write: two formulas, then every command that could make a link, class, id, style or script.
STUDENT_TEX = [
    r"$V = XW^\top$", r"$$\sum_i x_i^2$$",
    r"$\href{javascript:alert('tex-href')}{x}$", r"$\require{html}\href{javascript:alert('tex-require')}{x}$",
    r"""$\mmlToken{mi}[href="javascript:alert('tex-token')" class="panel-heading" style="position: fixed"]{y}$""",
    r"$\class{panel-heading}{z}$", r"$\style{position: fixed}{w}$", r"$\cssId{top}{q}$",
    r"$\bbox[position: fixed; top: 0]{b}$", r"$\text{<script>alert('tex-script')</script>}$",
    r"$\setOptions[tex]{maxMacros=1}\sqrt{2}$",
]
# a grader's message is shown as typed, maths included
MESSAGE = r"tlu(X, w, b) is wrong: expected 1, received <b>0</b> & <script>alert('message')</script>; $V = XW^\top$"
HUGE = "x" * 100_000


def _read() -> tuple[dict, dict]:
    return notebooks.read(ASSIGNMENT.source()), notebooks.read(ASSIGNMENT.release())


def autograded(student_notebook: dict, source: dict) -> dict:
    """The student's notebook with the instructor's test cells (hidden tests included) put back."""
    notebook = copy.deepcopy(student_notebook)
    instructor = notebooks.test_cells(source)
    for gid, cell in notebooks.test_cells(notebook).items():
        cell["source"] = instructor[gid]["source"]
    return notebook


def hidden_and_visible(source: dict) -> dict[str, tuple[list[str], list[str]]]:
    """``{grade_id: (hidden lines, visible lines)}`` of the instructor's test cells, blank lines left out."""
    out = {}
    for gid, cell in notebooks.test_cells(source).items():
        hidden, visible, inside = [], [], False
        for line in notebooks.cell_text(cell).split("\n"):
            if BEGIN in line:
                inside = True
            elif END in line:
                inside = False
            elif line.strip():
                (hidden if inside else visible).append(line.strip())
        out[gid] = hidden, visible
    return out


def make_result(student: str, lost: dict[str, str]) -> dict:
    """A graded result: the parts in ``lost`` score 0 with that message, the others full marks."""
    parts = [{"id": gid, "score": 0.0 if gid in lost else float(p.points), "max_score": float(p.points),
              "message": lost.get(gid, "")} for gid, p in PARTS.items()]
    return {"student": student, "status": "graded", "score": sum(p["score"] for p in parts),
            "max_score": float(sum(p.points for p in PARTS.values())), "parts": parts, "error": None}


def points(score: float, max_score: float) -> str:
    """How the page writes a part's points (nbgrader rounds to 2 decimals)."""
    return f"Points: {round(float(score), 2)} / {round(float(max_score), 2)}"


def page_path(root, student: str):
    return root / student / ASSIGNMENT.name / (ASSIGNMENT.notebook.removesuffix(".ipynb") + ".html")


def render(root, notebook, result) -> tuple[BeautifulSoup, str]:
    path = page_path(root, result["student"])
    written = feedback_html.write(notebook, result, path, ASSIGNMENT.name)
    assert written == path and path.is_file()
    html = path.read_text(encoding="utf-8")
    return BeautifulSoup(html, "html.parser"), html


def panel(soup: BeautifulSoup, gid: str):
    """The code cell (input panel and outputs) of the test cell ``gid``."""
    anchors = soup.find_all("a", attrs={"name": gid})
    assert len(anchors) == 1, f"{len(anchors)} anchors for {gid}"
    return anchors[0].find_parent("div", class_="code_cell")


def assert_inert(soup: BeautifulSoup, html: str) -> None:
    """No script but the page's MathJax, no event handler, nothing loaded from anywhere but the page itself."""
    scripts = soup.find_all("script")
    assert [s.string for s in scripts] in ([], [mathjax.script_text()]), f"{len(scripts)} scripts"
    assert [m["content"] for m in soup.head.find_all("meta", attrs={"http-equiv": True})] == [mathjax.csp()]
    for tag in ("iframe", "object", "embed", "svg", "link", "form", "base", "meta"):
        found = [t for t in soup.find_all(tag) if tag != "meta" or (t.get("http-equiv") and t.parent.name != "head")]
        assert not found, f"<{tag}> in the page: {found[:2]}"
    for element in soup.find_all(True):
        handlers = [a for a in element.attrs if a.lower().startswith("on")]
        assert not handlers, f"event handler {handlers} on <{element.name}>"
        src = element.get("src")
        assert src is None or re.match(r"data:image/(png|jpeg);base64,[A-Za-z0-9+/=]*$", src), src
        href = element.get("href")
        assert href is None or re.match(r"(#|https?:|mailto:)", href), href
    for style in soup.find_all("style"):
        for url in re.findall(r"url\(([^)]*)\)", style.get_text()):
            assert not re.match(r"['\"]?\s*([a-z]+:|//)", url, re.I), f"the CSS loads {url}"
    assert "cdn" not in html.replace(mathjax.script_text(), "").lower()  # MathJax names SRE's CDN, never used


@pytest.fixture(scope="module")
def course_files():
    source, release = _read()
    return source, release, submission(release, source)


@pytest.fixture(scope="module")
def hostile(course_files, tmp_path_factory):
    """A full-marks notebook, but for test_tlu, carrying every trick of HOSTILE_OUTPUTS and more."""
    source, _, honest = course_files
    notebook = autograded(honest, source)
    answers = notebooks.answer_cells(notebook)
    answers["tlu"]["outputs"] = copy.deepcopy(HOSTILE_OUTPUTS)
    answers["gates"]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": HUGE}]
    notebooks.test_cells(notebook)["test_tlu"]["outputs"] = [
        {"output_type": "stream", "name": "stdout", "text": "all tests passed (forged)"}]
    forged = {"cell_type": "code", "execution_count": "<script>alert('count')</script>", "outputs": [],
              "source": "answer = 42",
              "metadata": {"tags": ["x\"><script>alert(\"tag\")</script>"],
                           "nbgrader": {"solution": True, "grade": False,
                                        "grade_id": "x\"><script>alert(\"gid\")</script>"}}}
    markdown = STUDENT_MARKDOWN + "\n" + " and ".join(STUDENT_TEX) + "\n"
    notebook["cells"][1:1] = [{"cell_type": "markdown", "metadata": {}, "source": markdown}, forged]
    lost = {"test_tlu": MESSAGE}
    result = make_result("mallory", lost)
    soup, html = render(tmp_path_factory.mktemp("feedback"), notebook, result)
    return soup, html, result, source


def test_student_outputs_and_markdown_are_inert(hostile):
    soup, html, _, _ = hostile
    assert_inert(soup, html)
    text = soup.get_text()
    for marker in SHOWN_AS_TEXT:
        assert marker in text, f"{marker!r} should show, escaped"
    for marker in ABSENT:
        assert marker not in html, f"{marker!r} should be left out of the page"
    assert len(soup.select("div.output_png img")) == 1  # the valid PNG is kept, the forged one is not
    note = " ".join(s.get_text() for s in soup.select("div.output_stderr"))
    for mime in ("text/html", "application/javascript", "text/markdown", "image/svg+xml"):
        assert mime in note, f"no note that the {mime} output was left out"


def test_the_page_policy_lets_only_its_own_script_run(hostile):
    soup, _, _, _ = hostile
    meta = soup.head.find("meta", attrs={"http-equiv": "Content-Security-Policy"})
    policy = dict(directive.strip().split(" ", 1) for directive in meta["content"].split(";"))
    [script] = soup.body.find_all("script")
    digest = base64.b64encode(hashlib.sha256(script.string.encode("utf-8")).digest()).decode("ascii")
    assert policy == {"default-src": "'none'", "script-src": f"'sha256-{digest}'", "style-src": "'unsafe-inline'",
                      "img-src": "data:", "base-uri": "'none'", "form-action": "'none'"}
    assert script.string.startswith("window.MathJax = ")


def test_fake_score_shows_only_as_student_text(hostile):
    soup, _, result, _ = hostile
    fakes = soup.find_all(string=re.compile(re.escape(FAKE)))
    assert len(fakes) == 2  # the stream output and the student's markdown
    for fake in fakes:
        assert fake.find_parent("div", class_=["output_stream", "text_cell_render"]), fake.parent
        assert not fake.find_parent("div", class_="panel-heading")
        assert not fake.find_parent(id="toc")
    headings = [" ".join(s.get_text().split()) for s in soup.select("div.panel-heading span.pull-right")]
    trusted = sorted(h.removesuffix(" (Top)") for h in headings if h.startswith("Points:"))
    assert trusted == sorted(points(p["score"], p["max_score"]) for p in result["parts"])
    assert soup.find("h4").get_text().endswith(f"(Score: {result['score']} / {result['max_score']})")


def test_output_text_is_capped_per_cell(hostile):
    soup, _, _, _ = hostile
    runs = [len(run) for run in re.findall(r"x{1000,}", soup.get_text())]
    assert runs == [feedback_html.TEXT_CAP]
    assert f"{len(HUGE) - feedback_html.TEXT_CAP} more characters of output not shown" in soup.get_text()


def test_hidden_tests_hidden_and_visible_tests_shown(hostile):
    soup, html, _, source = hostile
    assert BEGIN not in html and END not in html
    regions = hidden_and_visible(source)
    assert set(regions) == set(PARTS)
    assert all(hidden and visible for hidden, visible in regions.values())  # the check below is not vacuous
    text = soup.get_text()
    for gid, (hidden, visible) in regions.items():
        cell = panel(soup, gid).get_text()
        assert NOTE in cell
        for line in visible:
            assert line in cell, f"{gid}: visible test line {line!r} missing"
        for line in hidden:
            assert line not in text, f"{gid}: hidden test line {line!r} shows"


def test_every_part_shows_its_points_and_message(hostile):
    soup, _, result, _ = hostile
    toc = [" ".join(li.get_text().split()) for li in soup.select("#toc li")]
    assert toc == [f"Test cell (Score: {round(p['score'], 2)} / {round(p['max_score'], 2)})" for p in result["parts"]]
    for part in result["parts"]:
        cell = panel(soup, part["id"])
        heading = " ".join(cell.select_one("div.panel-heading").get_text().split())
        assert points(part["score"], part["max_score"]) in heading
        errors = cell.select("div.output_error")
        if part["score"] < part["max_score"]:
            assert [e.get_text().strip() for e in errors] == [part["message"]]
            assert not errors[0].find_all(["b", "script"])
        else:
            assert errors == [] and cell.select("div.output_area") == []


@pytest.mark.parametrize("status", ["ungradable", "failed"])
def test_page_without_notebook_lists_every_part_at_zero(status, tmp_path):
    if status == "ungradable":  # a real one: the job's own result for a notebook that is not JSON
        folder = tmp_path / "submitted" / "carol" / ASSIGNMENT.name
        folder.mkdir(parents=True)
        (folder / ASSIGNMENT.notebook).write_text('{"cells": [')
        result = grader.grade(jobs.make_job(ASSIGNMENT.name, "carol", folder, Limits()))
    else:  # the student's stderr can end up in the error: it must stay text
        error = "the grading process ended with code -9 and no result <script>alert('error')</script>"
        result = {"student": "carol", "status": "failed", "score": 0.0, "error": error,
                  "max_score": float(sum(p.points for p in PARTS.values())),
                  "parts": [{"id": g, "score": 0.0, "max_score": float(p.points), "message": error}
                            for g, p in PARTS.items()]}
    assert result["status"] == status and result["error"]
    soup, html = render(tmp_path / "feedback", None, result)
    assert_inert(soup, html)
    assert soup.find_all("script") == []  # no maths on the page, no MathJax
    banner = soup.select_one("div.nnref-banner")
    assert status in banner.get_text() and result["error"] in banner.get_text()
    assert soup.find("h4").get_text().endswith(f"(Score: 0.0 / {result['max_score']})")
    assert len(soup.select("#toc li")) == len(PARTS)
    for gid, part in PARTS.items():
        cell = panel(soup, gid)
        assert points(0.0, part.points) in cell.get_text()
        assert [e.get_text().strip() for e in cell.select("div.output_error")] == [result["error"]]


@pytest.mark.slow
def test_render_of_a_real_graded_result(course_files, tmp_path):
    """A bug graded for real in the sandbox: the page shows the grader's verdict on it."""
    source, release, _ = course_files
    mutant = next(m for m in catalogue(ASSIGNMENT) if m.cell == "tlu" and not m.correct)
    notebook = submission(release, source, mutant)
    folder = tmp_path / "submitted" / "dave" / ASSIGNMENT.name
    folder.mkdir(parents=True)
    (folder / ASSIGNMENT.notebook).write_text(json.dumps(notebook))
    limits = Limits(notebook_timeout_s=60, cell_timeout_s=30)
    result = grader.grade(jobs.make_job(ASSIGNMENT.name, "dave", folder, limits))
    assert result["status"] == "graded", result["error"]
    lost = [p for p in result["parts"] if p["score"] < p["max_score"]]
    assert [p["id"] for p in lost] == ["test_tlu"] and lost[0]["message"]
    soup, html = render(tmp_path / "feedback", autograded(notebook, source), result)
    assert_inert(soup, html)
    assert soup.find("h4").get_text().endswith(f"(Score: {result['score']} / {result['max_score']})")
    for part in result["parts"]:
        cell = panel(soup, part["id"])
        assert points(part["score"], part["max_score"]) in cell.get_text()
        assert NOTE in cell.get_text()
    errors = panel(soup, "test_tlu").select("div.output_error")
    assert [e.get_text().strip() for e in errors] == [lost[0]["message"]]
    for hidden, _ in hidden_and_visible(source).values():
        assert not any(line in soup.get_text() for line in hidden)


# -- in Chromium ------------------------------------------------------------------------------------------------

# The text of each markdown cell as a reader sees it, without code and without the typeset maths.
MARKDOWN_TEXT = """() => Array.from(document.querySelectorAll(".text_cell_render"), cell => {
    const copy = cell.cloneNode(true);
    copy.querySelectorAll("pre, code, mjx-container").forEach(n => n.remove());
    return copy.textContent;
})"""
# What MathJax could not typeset: errors and undefined macros (which the noundefined extension shows in red).
MATHJAX_PROBLEMS = """() => Array.from(
    document.querySelectorAll('mjx-container [data-mml-node="merror"], [data-mml-node="mtext"][fill="red"]'),
    node => node.closest("mjx-container").querySelector("mjx-assistive-mml").textContent)"""
# Anything in typeset maths that links, runs, or carries a class, id or style MathJax did not write itself.
FOREIGN_IN_MATHS = """() => {
    const found = [];
    for (const container of document.querySelectorAll("mjx-container")) {
        for (const node of [container, ...container.querySelectorAll("*")]) {
            if (["a", "script", "foreignobject", "iframe"].includes(node.localName.toLowerCase())) {
                found.push("<" + node.localName + ">");
            }
            for (const {name, value} of node.attributes) {
                const bad = /href$/.test(name) ? !value.startsWith("#MJX-")
                    : name === "id" ? !value.startsWith("MJX-")
                    : name === "class" ? value !== "MathJax"
                    : name === "style" ? /fixed|url|javascript/i.test(value)
                    : name.startsWith("on") || /javascript|panel-heading/i.test(value);
                if (bad) found.push(node.localName + " " + name + "=" + value);
            }
        }
    }
    return found;
}"""


@pytest.fixture(scope="module")
def chromium():
    from test_browser import launched_chromium

    with launched_chromium() as browser:
        yield browser


@contextmanager
def offline(browser, path):
    """The page at ``path`` opened from disk with the network closed, once MathJax is done; and what went wrong."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from test_browser import MATHJAX_TIMEOUT_MS

    url, problems = path.as_uri(), []
    context = browser.new_context(offline=True)
    try:
        page = context.new_page()
        page.on("console", lambda m: problems.append(f"console error: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(f"uncaught exception: {error}"))
        page.on("request", lambda r: problems.append(f"request: {r.url[:200]}") if r.url != url else None)
        page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
        page.goto(url, wait_until="load")
        try:
            page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                                   timeout=MATHJAX_TIMEOUT_MS)
        except PlaywrightTimeout:
            pytest.fail(f"MathJax did not start within {MATHJAX_TIMEOUT_MS / 1000:.0f} s: {problems}")
        page.evaluate("() => MathJax.startup.promise")
        yield page, problems
    finally:
        context.close()


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("name", [a.name for a in course.assignments()])
def test_maths_of_the_assignment_typesets_offline(chromium, name, tmp_path):
    """The assignment's own text (e.g. 04_backprop's $V = XW^\\top + \\mathbf{b}$), typeset with no network."""
    from test_browser import RAW_TEX

    assignment = course.get(name)
    parts = [{"id": gid, "score": float(p.points), "max_score": float(p.points), "message": ""}
             for gid, p in assignment.parts().items()]
    result = {"student": "alice", "status": "graded", "score": sum(p["score"] for p in parts),
              "max_score": sum(p["max_score"] for p in parts), "parts": parts, "error": None}
    path = feedback_html.write(notebooks.read(assignment.release()), result, tmp_path / "page.html", name)
    with offline(chromium, path) as (page, problems):
        texts = page.evaluate(MARKDOWN_TEXT)
        typeset = page.locator(".text_cell_render mjx-container").count()
        untypeset = page.evaluate(MATHJAX_PROBLEMS)
    assert problems == []
    assert typeset > 0 and untypeset == []
    raw = [found.group(0) for found in map(RAW_TEX.search, texts) if found]
    assert raw == [], f"TeX left as typed: {raw[:5]}"


@pytest.mark.browser
@pytest.mark.slow
def test_student_tex_makes_no_link_script_class_id_or_style(chromium, hostile, tmp_path):
    from test_browser import RAW_TEX

    _, html, _, _ = hostile
    path = tmp_path / "mallory.html"
    path.write_text(html, encoding="utf-8")
    with offline(chromium, path) as (page, problems):
        typeset = page.locator(".text_cell_render", has_text="My notes").locator("mjx-container").count()
        [notes] = [text for text in page.evaluate(MARKDOWN_TEXT) if "My notes" in text]
        foreign = page.evaluate(FOREIGN_IN_MATHS)
        links = page.evaluate("() => Array.from(document.querySelectorAll('[href^=\"javascript\" i], "
                              "[*|href^=\"javascript\" i]'), n => n.outerHTML.slice(0, 200))")
        scripts = page.locator("script").count()
        message = page.locator("div.output_error pre").all_inner_texts()
        outputs_typeset = page.locator("div.output_area mjx-container").count()
    assert problems == []  # no alert, no request, no policy violation
    assert typeset == len(STUDENT_TEX) and not RAW_TEX.search(notes)
    assert foreign == [] and links == [] and scripts == 1
    assert any(r"$V = XW^\top$" in m for m in message) and outputs_typeset == 0  # the grader's text, as typed


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("width", [1280, 390])
def test_a_page_with_a_lost_part_reads_on_a_laptop_and_a_phone(chromium, width, tmp_path):
    """A student opens feedback on a phone as often as on a laptop: the page never scrolls sideways (long
    messages, code and typeset math wrap or scroll in their own box)."""
    assignment = course.get("04_backprop")
    parts = [{"id": gid, "score": 0.0 if i == 0 else float(p.points), "max_score": float(p.points),
              "message": "dW from dense_backward has shape (4, 3), expected (3, 4) (inputs: grad_out (1, 3), X (1, 4), "
                         "W (3, 4)): it looks transposed " * 3 if i == 0 else ""}
             for i, (gid, p) in enumerate(assignment.parts().items())]
    result = {"student": "alice", "status": "graded", "score": sum(p["score"] for p in parts),
              "max_score": sum(p["max_score"] for p in parts), "parts": parts, "error": None}
    path = feedback_html.write(notebooks.read(assignment.release()), result, tmp_path / "page.html", assignment.name)
    with offline(chromium, path) as (page, problems):
        page.set_viewport_size({"width": width, "height": 800})
        page.wait_for_timeout(200)
        overflow = page.evaluate("document.documentElement.scrollWidth") - width
    assert problems == []
    assert overflow <= 1, f"the page is {overflow} px wider than a {width} px screen"
