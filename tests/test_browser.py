"""The built book in a real browser: Debian's Chromium, headless, driven by Playwright.

The site is served from ``_build/html`` on 127.0.0.1 by a background
``http.server`` thread.  Every request to another host is blocked and
reported, so a page that needs the network (a CDN) fails here, as it would
for a reader offline.  For every page: no console error or uncaught
exception, no failed request, no broken image, no broken internal link or
missing anchor, all maths typeset by MathJax (no raw TeX left, no MathJax
error), and every kernel-free widget twin (``figure.nnref-twin``) changes its
picture when any of its sliders moves.

Readable and light, for every chapter at a desktop width (1280 px) and a
phone width (390 px): nothing wider than the viewport, every display
equation either fits or visibly scrolls in its own box, at most one code
cell in ten scrolls sideways (desktop), every figure and widget frame stored
at twice its displayed resolution with text of at least 11 CSS pixels as
displayed (desktop), and at most 1.5 MB transferred before the reader
scrolls (desktop).

Needs ``/usr/bin/chromium`` (``make test`` installs it as root with apt-get,
see tools/install_browser.sh); without it these tests are skipped, with the
reason.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import importlib
import json
import re
import threading
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from book_support import HTML, built_book, chapter_docnames, html_pages, soup, toc_docnames

from benchmarks.book_builds import FIRST_VIEW_LIMIT_BYTES  # transferred before the reader scrolls
from tools import book_pdf

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("book")]

TIMEOUT_MS = 30_000
MATHJAX_TIMEOUT_MS = 15_000
SEARCH_WORD = "perceptron"  # a word of the title page (book/intro.md)
RAW_TEX = re.compile(r"\$\$|\$[^$\n]*[\\^_][^$\n]*\$|\\\(|\\\[")

DOCS = toc_docnames()
CHAPTERS = chapter_docnames()

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
MIN_DENSITY = 2  # image pixels per displayed CSS pixel: sharp on high-density screens
MAX_SCROLLING_CODE = 0.1  # share of code cells allowed to scroll sideways at the desktop width


def _book_widgets():
    """nnref/book/widgets.py: its DPI, SCALE and MIN_FONT_PT say how figures are drawn, its
    MIN_TEXT_PX the smallest text a figure may show, in CSS pixels as displayed."""
    return importlib.import_module("nnref.book.widgets")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # the test output stays readable
        pass


@contextlib.contextmanager
def launched_chromium():
    """Debian's Chromium, headless, driven by Playwright (tools/book_pdf.py launches it, for the PDF too); the
    test is skipped, with the reason, where either is missing."""
    with contextlib.ExitStack() as stack:
        try:
            chromium = stack.enter_context(book_pdf.launched_chromium())
        except book_pdf.BrowserMissing as error:
            pytest.skip(str(error))
        yield chromium


@pytest.fixture(scope="module")
def browser():
    with launched_chromium() as chromium:
        yield chromium


@pytest.fixture(scope="module")
def site(browser) -> str:
    """Base URL of the built book, served on 127.0.0.1 (a free port)."""
    html = built_book()
    handler = functools.partial(_QuietHandler, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class Visit:
    """One page opened in a fresh browser context, with everything that went wrong on the way."""

    def __init__(self, browser, site: str, path: str, color_scheme: str = "light", viewport: str = "desktop"):
        self.site = site
        self.problems: list[str] = []
        self.transferred = 0  # bytes of every response body and headers, as sent
        self.context = browser.new_context(color_scheme=color_scheme, viewport=VIEWPORTS[viewport])
        self.context.set_default_timeout(TIMEOUT_MS)
        self.page = self.context.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"uncaught exception: {error}"))
        self.page.on("requestfailed", self._failed)
        self.page.on("response", self._response)
        self.page.on("requestfinished", self._finished)
        self.page.route("**/*", self._route)
        self.page.goto(f"{site}/{path}", wait_until="load")
        self._wait_for_mathjax()

    def _console(self, message):
        if message.type == "error":
            self.problems.append(f"console error: {message.text} ({message.location.get('url', '')})")

    def _failed(self, request):
        if self._local(request.url):
            self.problems.append(f"request failed: {request.url} ({request.failure})")

    def _finished(self, request):
        sizes = request.sizes()
        self.transferred += sizes["responseBodySize"] + sizes["responseHeadersSize"]

    def _response(self, response):
        if response.status >= 400:
            self.problems.append(f"HTTP {response.status}: {response.url}")

    def _local(self, url: str) -> bool:
        return url.startswith((self.site + "/", "data:", "blob:", "about:"))

    def _route(self, route):
        if self._local(route.request.url):
            route.continue_()
        else:
            self.problems.append(f"request to the network (blocked): {route.request.url}")
            route.abort()

    def _wait_for_mathjax(self):
        if self.page.locator(".math").count() == 0:
            return
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            self.page.wait_for_function(
                "() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=MATHJAX_TIMEOUT_MS
            )
        except PlaywrightTimeout:
            self.problems.append(f"MathJax did not start within {MATHJAX_TIMEOUT_MS / 1000:.0f} s")
            return
        self.page.evaluate("() => MathJax.startup.promise")

    def close(self):
        if self.context is not None:
            self.context.close()
            self.context = None


@pytest.fixture
def visit(browser, site):
    opened = []

    def open_page(path: str, **kwargs) -> Visit:
        opened.append(Visit(browser, site, path, **kwargs))
        return opened[-1]

    yield open_page
    for v in opened:
        v.close()


@functools.cache
def _anchors(path: Path) -> frozenset[str]:
    page = soup(path)
    return frozenset(
        [t["id"] for t in page.find_all(id=True)] + [t["name"] for t in page.find_all("a", attrs={"name": True})]
    )


def _broken_links(v: Visit) -> list[str]:
    """Same-site links whose file or fragment does not exist."""
    broken = []
    hrefs = v.page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
    for href in sorted(set(hrefs)):
        if not href.startswith(v.site + "/"):
            continue
        parts = urlsplit(href)
        target = HTML / unquote(parts.path).lstrip("/")
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            broken.append(f"{href} (no file {target.relative_to(HTML)})")
            continue
        fragment = unquote(parts.fragment)
        if fragment and target.suffix == ".html" and fragment not in _anchors(target):
            broken.append(f"{href} (no anchor #{fragment} in {target.relative_to(HTML)})")
    return broken


def _broken_images(v: Visit) -> list[str]:
    return v.page.evaluate(
        """async () => {
            const images = Array.from(document.images);
            await Promise.all(images.map(i => { i.loading = "eager"; return i.decode().catch(() => null); }));
            return images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(0, 100));
        }"""
    )


def _maths_problems(v: Visit) -> list[str]:
    return v.page.evaluate(
        """() => {
            const problems = [];
            document.querySelectorAll("article .math").forEach(m => {
                if (!m.querySelector("mjx-container")) problems.push("not typeset: " + m.textContent.slice(0, 80));
            });
            document.querySelectorAll("mjx-merror").forEach(e => problems.push("MathJax error: " + e.textContent));
            return problems;
        }"""
    )


def _visible_text(v: Visit) -> str:
    return v.page.evaluate(
        """() => {
            const article = document.querySelector("article") || document.body;
            const copy = article.cloneNode(true);
            copy.querySelectorAll("pre, code, script, style, mjx-container, .highlight").forEach(n => n.remove());
            return copy.textContent;
        }"""
    )


def _check_twins(v: Visit) -> list[str]:
    """Move every slider of every twin; the picture must change each time."""
    problems = []
    twins = v.page.locator("figure.nnref-twin")
    for t in range(twins.count()):
        twin = twins.nth(t)
        name = twin.get_attribute("id")
        img = twin.locator("img.nnref-frame")
        url, ext = twin.get_attribute("data-frames-url"), twin.get_attribute("data-frame-ext")
        if not url:
            problems.append(f"twin {name}: its frames are inline, not files loaded on demand")
            continue
        sliders = twin.locator("input[type=range]")
        if sliders.count() == 0:
            problems.append(f"twin {name} has no slider")
        for s in range(sliders.count()):
            slider = sliders.nth(s)
            control = slider.get_attribute("data-name")
            last = slider.get_attribute("max")
            if last == "0":
                problems.append(f"twin {name}: control {control!r} has a single value, nothing to move")
                continue
            before = img.get_attribute("src")
            slider.focus()
            slider.press("Home" if slider.input_value() == last else "End")
            after = img.get_attribute("src")
            index = slider.input_value()
            labels = json.loads(slider.get_attribute("data-labels"))
            shown = slider.locator("xpath=following-sibling::output").text_content()
            if after == before:
                problems.append(f"twin {name}: moving {control!r} to {labels[int(index)]} did not change the figure")
            key = "-".join(s.input_value() for s in sliders.all())
            if not after.endswith(f"{url}{key}.{ext}"):
                problems.append(f"twin {name}: after moving {control!r} the image is {after}, not frame {key}")
            if shown != labels[int(index)]:
                problems.append(f"twin {name}: {control!r} shows {shown!r}, expected {labels[int(index)]!r}")
            if not img.evaluate("i => i.decode().then(() => i.naturalWidth > 0, () => false)"):
                problems.append(f"twin {name}: the frame for {control!r} = {labels[int(index)]} is not a valid image")
    return problems


def _check_page(v: Visit) -> list[str]:
    problems = list(v.problems)
    problems += [f"broken image: {src}" for src in _broken_images(v)]
    problems += [f"broken link: {link}" for link in _broken_links(v)]
    problems += _maths_problems(v)
    raw = RAW_TEX.search(_visible_text(v))
    if raw:
        problems.append(f"raw TeX in the visible text: {raw.group(0)!r}")
    problems += _check_twins(v)
    problems += [p for p in v.problems if p not in problems]  # anything the slider moves logged
    return problems


@pytest.mark.parametrize("doc", DOCS)
def test_book_page_in_chromium(visit, doc):
    v = visit(f"{doc}.html")
    problems = _check_page(v)
    assert not problems, f"{doc}.html:\n  " + "\n  ".join(problems)


def test_other_site_pages_in_chromium(visit):
    """The pages outside the toc: search, the general and proof indices (index.html
    only redirects: see the next test)."""
    # top-level pages only: a page left in _build/html/book/ by a chapter that
    # has since left the toc is stale, not part of the site
    others = [p.name for p in html_pages() if p.parent == HTML and p.name != "index.html"]
    assert "search.html" in others and "genindex.html" in others, f"site pages found: {others}"
    failures = []
    for path in others:
        v = visit(path)
        problems = _check_page(v)
        if problems:
            failures.append(f"{path}:\n  " + "\n  ".join(problems))
        v.close()
    assert not failures, "\n".join(failures)


def test_index_opens_the_title_page(visit):
    v = visit("index.html")
    v.page.wait_for_url(re.compile(r"/book/intro\.html$"))
    v.page.wait_for_load_state("load")
    assert v.page.locator("h1").first.text_content().strip().startswith("Foundations of Neural Networks")
    assert not v.problems, "\n".join(v.problems)


def test_search_finds_a_word_of_the_book(visit):
    v = visit(f"search.html?q={SEARCH_WORD}")
    results = v.page.locator("#search-results ul.search li")
    results.first.wait_for(state="attached")
    assert results.count() >= 1, f"searching {SEARCH_WORD!r} found nothing"
    assert not v.problems, "\n".join(v.problems)


def test_dark_theme_keeps_figures_on_white(visit):
    with_figures = [d for d in chapter_docnames() if soup(HTML / f"{d}.html").select("article img")]
    if not with_figures:
        pytest.skip("no chapter with a figure is listed in _toc.yml yet")
    doc = with_figures[0]
    v = visit(f"{doc}.html", color_scheme="dark")
    assert v.page.evaluate("document.documentElement.dataset.theme") == "dark", "the dark theme did not switch on"
    styles = v.page.eval_on_selector_all(
        "article img",
        "images => images.map(i => [i.alt, getComputedStyle(i).backgroundColor, getComputedStyle(i).filter])",
    )
    for alt, background, filter_ in styles:
        assert background == "rgb(255, 255, 255)", f"{doc}: figure {alt!r} has background {background} in dark mode"
        assert filter_ == "none", f"{doc}: figure {alt!r} is dimmed by filter {filter_} in dark mode"


# ---------------------------------------------------------------------------
# Readable on every screen, light to load
# ---------------------------------------------------------------------------

_LAYOUT = """() => {
    const width = document.documentElement.clientWidth;
    const out = {page: document.documentElement.scrollWidth, width: width, outside: [],
                 equations: 0, wide_equations: 0, unmarked: [], code: 0, scrolling_code: []};
    const describe = el => el.tagName.toLowerCase() + (el.className && el.className.baseVal === undefined
        ? "." + String(el.className).trim().split(/\\s+/).join(".") : "")
        + " «" + (el.textContent || "").trim().slice(0, 60) + "»";
    const scrolls = el => ["auto", "scroll", "hidden"].includes(getComputedStyle(el).overflowX);
    const article = document.querySelector("article.bd-article");
    for (const el of article.querySelectorAll("*")) {
        if (el.closest("mjx-container") && el.tagName.toLowerCase() !== "mjx-container") continue;
        const r = el.getBoundingClientRect();
        if (r.width === 0 || (r.right <= width + 1 && r.left >= -1)) continue;
        let a = el.parentElement, held = false;
        while (a && a !== document.body) { if (scrolls(a)) { held = true; break; } a = a.parentElement; }
        if (!held) out.outside.push(describe(el) + ` spans ${Math.round(r.left)}..${Math.round(r.right)} px`);
    }
    for (const box of article.querySelectorAll('div.math mjx-container[display="true"]')) {
        out.equations += 1;
        if (box.scrollWidth <= box.clientWidth + 1) continue;
        out.wide_equations += 1;
        const style = getComputedStyle(box);
        if (!box.classList.contains("nnref-scrolls") || !["auto", "scroll"].includes(style.overflowX))
            out.unmarked.push((box.querySelector("mjx-assistive-mml") || box).textContent.slice(0, 80));
    }
    for (const pre of article.querySelectorAll("div.cell_input pre")) {
        if (pre.clientWidth === 0) continue;  // a hidden input (hide-input, folded)
        out.code += 1;
        if (pre.scrollWidth > pre.clientWidth + 1) out.scrolling_code.push(pre.textContent.slice(0, 60));
    }
    return out;
}"""

_IMAGES = """async () => {
    const images = Array.from(document.querySelectorAll("article.bd-article img"));
    await Promise.all(images.map(i => { i.loading = "eager"; return i.decode().catch(() => null); }));
    return images.filter(i => i.clientWidth > 0).map(i => ({
        alt: (i.alt || i.src).slice(0, 60), svg: /\\.svg$/.test(i.src), natural: i.naturalWidth,
        shown: i.clientWidth, css: Number(i.getAttribute("width")) || 0}));
}"""


def layout(v: Visit) -> dict:
    return v.page.evaluate(_LAYOUT)


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("doc", CHAPTERS)
def test_chapter_fits_the_screen(visit, doc, viewport):
    """Nothing sticks out of the viewport; wide display equations scroll in their own,
    marked box; at the desktop width at most one code cell in ten scrolls sideways."""
    v = visit(f"{doc}.html", viewport=viewport)
    found = layout(v)
    problems = []
    if found["page"] > found["width"] + 1:
        problems.append(f"the page is {found['page']} px wide in a {found['width']} px viewport")
    problems += [f"outside the viewport: {o}" for o in found["outside"][:10]]
    problems += [f"equation wider than the column with no sign that it scrolls: {e}" for e in found["unmarked"]]
    if viewport == "desktop" and len(found["scrolling_code"]) > MAX_SCROLLING_CODE * max(found["code"], 1):
        problems.append(f"{len(found['scrolling_code'])} of {found['code']} code cells scroll sideways, "
                        f"e.g. {found['scrolling_code'][:3]}")
    assert not problems, f"{doc}.html at {viewport}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("doc", CHAPTERS)
def test_figures_are_sharp_and_legible(visit, doc):
    """At the desktop width every figure and widget frame has at least MIN_DENSITY image
    pixels per displayed pixel, and its smallest text (the book's MIN_FONT_PT, drawn at
    DPI CSS pixels per inch) is at least the book's MIN_TEXT_PX CSS pixels once the figure
    is scaled to the column."""
    widgets = _book_widgets()
    v = visit(f"{doc}.html")
    problems = []
    for image in v.page.evaluate(_IMAGES):
        if image["svg"]:
            continue
        density = image["natural"] / image["shown"]
        if density < MIN_DENSITY - 0.02:  # the browser rounds the displayed width to a pixel
            problems.append(f"{image['alt']!r}: {density:.2f} image pixels per displayed pixel")
        if not image["css"]:
            problems.append(f"{image['alt']!r}: no width attribute, so its displayed size is unknown")
            continue
        text = widgets.MIN_FONT_PT * widgets.DPI / 72 * image["shown"] / image["css"]
        if text < widgets.MIN_TEXT_PX - 0.05:
            problems.append(f"{image['alt']!r}: its smallest text is {text:.1f} px as displayed "
                            f"({image['css']} px wide, shown at {image['shown']} px)")
    assert not problems, f"{doc}.html:\n  " + "\n  ".join(problems)


@pytest.mark.xfail(strict=True, reason="issue 17, not yet met: every chapter transfers 1.69-1.82 MB uncompressed "
                   "before the reader scrolls (limit 1.5 MB; Font Awesome is cut to the icons shown, 2.13-2.26 MB "
                   "before).  Chapter 8, the heaviest: MathJax 0.95 MB (scripts 0.66, fonts and font data 0.29), "
                   "the theme's style sheet 0.31 MB (all of Bootstrap), the page itself 0.29 MB, bootstrap.js "
                   "0.08 MB, the other styles, scripts and icon fonts 0.2 MB")
def test_heaviest_chapter_is_light_before_scrolling(visit):
    """Every chapter transfers at most FIRST_VIEW_LIMIT_BYTES before the reader scrolls (desktop,
    everything the page loads up to its load event and the typesetting of its maths)."""
    weights = {}
    for doc in CHAPTERS:
        v = visit(f"{doc}.html")
        v.page.wait_for_load_state("networkidle")
        weights[doc] = v.transferred
        v.close()
    heaviest = max(weights, key=weights.get)
    print("first view, bytes:", weights)
    assert weights[heaviest] <= FIRST_VIEW_LIMIT_BYTES, (
        f"{heaviest}.html transfers {weights[heaviest] / 1e6:.2f} MB before scrolling "
        f"(limit {FIRST_VIEW_LIMIT_BYTES / 1e6:.1f} MB); all: {weights}"
    )


def test_theme_icons_are_drawn_from_the_web_fonts(visit):
    """The pages load no Font Awesome script (book/_ext/book_fixes.py drops its 1.5 MB): the
    theme's icons are drawn from Font Awesome's web fonts, which the theme's style sheet loads."""
    v = visit(f"{CHAPTERS[0]}.html")
    found = v.page.evaluate(
        """async () => {
            await document.fonts.ready;
            const bars = Array.from(document.querySelectorAll(".fa-bars"))
                .find(i => i.getBoundingClientRect().width > 0);
            const before = bars ? getComputedStyle(bars, "::before") : null;
            return {
                scripts: Array.from(document.scripts).map(s => s.src).filter(s => /fontawesome/.test(s)),
                loaded: Array.from(document.fonts).filter(f => f.status === "loaded").map(f => f.family),
                bars: bars ? [before.content, before.fontFamily] : null,
            };
        }"""
    )
    assert not found["scripts"], f"the page loads {found['scripts']}"
    assert found["bars"] is not None, "no visible menu icon (.fa-bars) on the page"
    content, family = found["bars"]
    assert content not in ("none", "normal", "") and "Font Awesome" in family, (
        f"the menu icon is not drawn from Font Awesome's font: content {content}, font {family}"
    )
    loaded = {f.strip('"') for f in found["loaded"]}
    assert {"Font Awesome 6 Free", "Font Awesome 6 Brands"} <= loaded, f"fonts loaded: {sorted(loaded)}"
    assert not v.problems, "\n".join(v.problems)
