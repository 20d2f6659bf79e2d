"""The published book: built once with warnings as errors, then every page checked.

The build runs ``NNREF_BOOK_BUILD=1 jupyter-book build . --warningiserror
--keep-going`` (what ``make book`` runs) with the execution cache; the
conventions each chapter follows are listed in tests/book_support.py.
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest
import yaml
from book_support import (
    BIBLIOGRAPHY_DOC,
    HTML,
    ROOT,
    article,
    bib_keys,
    built_book,
    chapter_docnames,
    chapter_sources,
    config,
    expected_exercise,
    html_pages,
    page_path,
    soup,
    toc_docnames,
)

from benchmarks.book_builds import SITE_LIMIT_BYTES

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("book")]

DOCS = toc_docnames()
CHAPTERS = chapter_docnames()

# TeX left in the text: $$, or $...$ holding a backslash, ^ or _
RAW_TEX = re.compile(r"\$\$|\$[^$\n]*[\\^_][^$\n]*\$")


@pytest.fixture(scope="module")
def html() -> Path:
    return built_book()


def test_every_toc_entry_has_its_page(html):
    missing = [d for d in DOCS if not page_path(d).is_file()]
    assert not missing, f"listed in _toc.yml but no HTML page was built: {missing}"
    assert (html / "index.html").is_file(), "no _build/html/index.html"
    assert (html / "search.html").is_file(), "no search page (search.html)"
    assert (html / "searchindex.js").is_file(), "no search index (searchindex.js)"


@pytest.mark.parametrize("doc", DOCS)
def test_page_has_no_execution_error(html, doc):
    page = article(page_path(doc))
    for css in ("div.output.error", "div.output.traceback", "div.output.stderr", ".output .ansi-red-fg"):
        bad = page.select(css)
        assert not bad, f"{doc}: execution left {len(bad)} `{css}` output(s): {bad[0].get_text()[:300]!r}"
    for block in page.select("div.cell_output"):
        text = block.get_text()
        assert "Traceback (most recent call last)" not in text, (
            f"{doc}: a cell output holds a traceback: {text[:300]!r}"
        )


@pytest.mark.parametrize("doc", CHAPTERS)
def test_chapter_has_a_figure(html, doc):
    images = article(page_path(doc)).find_all("img")
    assert images, f"{doc}: a chapter needs at least one figure, found no <img>"


@pytest.mark.parametrize("doc", DOCS)
def test_every_image_has_alt_text_and_a_caption(html, doc):
    for img in article(page_path(doc)).find_all("img"):
        src = img.get("src", "")
        where = f"{doc}: image {src[:60]!r}"
        alt = (img.get("alt") or "").strip()
        assert alt, f"{where} has no alt text (mystnb: image: alt: ..., or explore(alt=...))"
        assert not re.search(r"\.(png|svg|jpe?g|gif)$", alt) and alt not in src, (
            f"{where}: its alt text {alt!r} is a file name; describe what the figure shows"
        )
        figure = img.find_parent("figure")
        assert figure is not None, (
            f"{where} is not inside a figure; give its cell `mystnb: figure: caption: ...` metadata"
        )
        if "nnref-twin" in figure.get("class", []):  # a widget: captioned by the figure around it
            figure = figure.find_parent("figure", class_="nnref-widget")
            assert figure is not None, f"{where}: the widget is not inside a numbered figure"
        caption = figure.find("figcaption")
        assert caption is not None and caption.get_text(strip=True), f"{where}: its figure has no caption"


@pytest.mark.parametrize("doc", CHAPTERS)
def test_chapter_opens_with_goals_and_ends_with_summary_and_exercise(html, doc):
    page = article(page_path(doc))
    top = page.find("section")
    sections = [s.get("id") for s in top.find_all("section", recursive=False) if s.find("h2", recursive=False)]
    assert sections, f"{doc}: no ## sections"
    assert sections[0] == "learning-goals", f"{doc}: the first section must be '## Learning goals', got {sections[0]!r}"
    assert sections[-2:] == ["summary", "exercise"], (
        f"{doc}: the last two sections must be '## Summary' then '## Exercise', got {sections[-2:]}"
    )


@pytest.mark.parametrize("doc", CHAPTERS)
def test_chapter_links_its_exercise_notebook(html, doc):
    path = page_path(doc)
    section = article(path).find("section", id="exercise")
    assert section is not None, f"{doc}: no '## Exercise' section"
    links = [a for a in section.find_all("a", href=True) if a["href"].endswith(".ipynb") and "://" not in a["href"]]
    assert links, f"{doc}: the Exercise section has no link to a .ipynb notebook ({{download}} role)"
    wanted = expected_exercise(doc)
    if wanted is not None:
        name = Path(wanted).name
        assert any(Path(a["href"]).name == name for a in links), (
            f"{doc}: the Exercise section must link exercises/{wanted}; found {[a['href'] for a in links]}"
        )
    for a in links:
        target = (path.parent / a["href"]).resolve()
        assert target.is_file(), f"{doc}: exercise link {a['href']} points to no file in the built site"


def test_bibliography_lists_every_key(html):
    keys = bib_keys()
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    assert not duplicates, f"duplicate keys in references.bib: {duplicates}"
    page = soup(page_path(BIBLIOGRAPHY_DOC))
    missing = [k for k in keys if page.find(id=f"cite-{k}") is None]
    assert not missing, f"the bibliography page has no entry (id cite-KEY) for {missing}"


def test_citations_resolve_to_the_bibliography(html):
    """Every {cite} in a chapter links an entry of the bibliography page."""
    keys = set(bib_keys())
    for doc in DOCS:
        for a in article(page_path(doc)).select("span.bibtex-citation a[href]"):
            page, _, anchor = a["href"].partition("#")
            assert Path(page).name == "bibliography.html", f"{doc}: citation links {a['href']}"
            assert anchor.removeprefix("cite-") in keys, f"{doc}: citation {a['href']} names no key of references.bib"


@pytest.mark.parametrize("doc", DOCS)
def test_no_raw_tex_left_in_text(html, doc):
    page = copy.copy(article(page_path(doc)))  # a copy: the parsed page is shared by the other tests
    for node in page.select("pre, code, script, style, .math, div.highlight, div.cell_input"):
        node.decompose()
    text = page.get_text(" ")
    raw = RAW_TEX.search(text)
    assert raw is None, f"{doc}: TeX not turned into maths: ...{text[max(raw.start() - 60, 0) : raw.end() + 60]}..."


@pytest.mark.parametrize("doc", DOCS)
def test_maths_is_typeset_by_the_local_mathjax(html, doc):
    path = page_path(doc)
    page = soup(path)
    scripts = [s["src"] for s in page.find_all("script", src=True) if "mathjax" in s["src"].lower()]
    if page.select("article .math"):
        assert scripts, f"{doc}: has maths but loads no MathJax"
    for src in scripts:
        assert not re.match(r"^(https?:)?//", src), f"{doc}: MathJax comes from the network ({src}), not the book"
        assert (path.parent / src.split("?")[0]).is_file(), f"{doc}: MathJax script {src} is missing from the site"


def _launch_hrefs(page) -> list[str]:
    """The page's launch links: the theme's launch buttons and the exercise's links ({launch} role)."""
    return [a["href"] for a in page.select(".dropdown-launch-buttons a[href], a.nnref-launch[href]")]


@pytest.mark.parametrize("doc", CHAPTERS)
def test_launch_and_download_buttons(html, doc):
    cfg = config()
    page = soup(page_path(doc))
    hrefs = [a["href"] for a in page.select(".dropdown-launch-buttons a[href]")]
    for key in ("binderhub_url", "colab_url"):
        url = cfg["launch_buttons"][key]
        assert any(h.startswith(url) for h in hrefs), f"{doc}: no launch button to {url} ({key}); buttons: {hrefs}"
    colab = [h for h in hrefs if h.startswith(cfg["launch_buttons"]["colab_url"])]
    assert all(h.endswith(f"{doc}.ipynb") for h in colab), f"{doc}: Colab can open only .ipynb, got {colab}"
    notebook = page.select_one("a.btn-download-notebook-button[href]")
    assert notebook is not None, f"{doc}: no download-notebook (.ipynb) button"
    assert (page_path(doc).parent / notebook["href"]).resolve().is_file(), (
        f"{doc}: the download button points to a missing {notebook['href']}"
    )


@pytest.mark.parametrize("doc", CHAPTERS)
def test_every_launch_link_opens_the_student_edition_and_none_the_instructors_files(html, doc):
    cfg = config()
    student = cfg["repository"]["url"].removeprefix("https://github.com/")
    page = soup(page_path(doc))
    launches = _launch_hrefs(page)
    assert launches, f"{doc}: no launch links"
    for href in launches:
        assert student in unquote(href), (
            f"{doc}: a launch link does not open the student edition {student}: {href}")
    assert not cfg["launch_buttons"]["jupyterhub_url"], "the default build names no JupyterHub"
    assert not [h for h in launches if "git-pull" in h], f"{doc}: a JupyterHub link without a configured hub"
    for a in page.select("a[href]"):
        assert not re.search(r"(^|/)(solutions|autograder)/", a["href"]), f"{doc}: links into {a['href']}"


@pytest.mark.parametrize("doc", CHAPTERS)
def test_the_exercise_is_launchable_not_only_downloadable(html, doc):
    cfg = config()
    release = re.search(r"\{launch\}`(exercises/[^`]+\.ipynb)`", chapter_sources()[doc])
    assert release, f"{doc}: the exercise section has no {{launch}} links"
    links = {a.get_text(): a["href"] for a in article(page_path(doc)).select("a.nnref-launch")}
    assert set(links) == {"Colab", "Binder"}, f"{doc}: exercise launch links {sorted(links)}"
    assert links["Colab"].startswith(cfg["launch_buttons"]["colab_url"])
    assert links["Colab"].endswith(f"/blob/{cfg['repository']['branch']}/{release.group(1)}"), links["Colab"]
    assert release.group(1) in links["Binder"] and links["Binder"].startswith(cfg["launch_buttons"]["binderhub_url"])


@pytest.mark.slow
def test_a_configured_jupyterhub_gets_its_button_and_its_exercise_links(tmp_path):
    """Build a one-page book with the course's launch settings, a hub URL and the book's extension:
    the page gets the theme's JupyterHub button and an nbgitpuller link for the exercise."""
    cfg = config()
    hub = "https://hub.university.example"
    book = tmp_path / "book"
    (book / "_ext").mkdir(parents=True)
    for extension in ("book_fixes.py", "icon_fonts.py"):  # the book's extension and the module it loads
        shutil.copy(ROOT / "book" / "_ext" / extension, book / "_ext")
    front = "---\njupytext:\n  text_representation:\n    extension: .md\n    format_name: myst\n" \
            "kernelspec:\n  display_name: Python 3\n  language: python\n  name: python3\n---\n"
    (book / "page.md").write_text(front + "# A page\n\nOpen it in {launch}`exercises/01_neurons/neurons.ipynb`.\n"
                                  "\n```{code-cell} ipython3\n1 + 1\n```\n")
    (book / "_toc.yml").write_text("format: jb-book\nroot: page\n")
    settings = {
        "title": "hub", "only_build_toc_files": True, "execute": {"execute_notebooks": "off"},
        "repository": cfg["repository"], "launch_buttons": {**cfg["launch_buttons"], "jupyterhub_url": hub},
        "sphinx": {"local_extensions": {"book_fixes": "_ext"},
                   "config": {"html_context": {"default_mode": "auto"}}},
    }
    (book / "_config.yml").write_text(yaml.safe_dump(settings))
    done = subprocess.run([str(Path(sys.executable).parent / "jupyter-book"), "build", str(book), "--warningiserror"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    page = soup(book / "_build" / "html" / "page.html")
    buttons = [a["href"] for a in page.select(".dropdown-launch-buttons a[href]")]
    pulls = [h for h in buttons if h.startswith(hub + "/hub/user-redirect/git-pull?")]
    assert pulls and f"repo={cfg['repository']['url']}&" in unquote(pulls[0]), buttons
    exercise = {a.get_text(): a["href"] for a in page.select("a.nnref-launch")}
    assert set(exercise) == {"Colab", "Binder", "JupyterHub"}, exercise
    assert exercise["JupyterHub"].startswith(hub) and "neurons.ipynb" in unquote(exercise["JupyterHub"])


def test_site_pages_have_titles(html):
    for page in html_pages():
        parsed = soup(page)
        refresh = parsed.find("meta", attrs={"http-equiv": "Refresh"}) or parsed.find(
            "meta", attrs={"http-equiv": "refresh"}
        )
        if refresh is not None:  # index.html only redirects to the title page
            target = refresh["content"].split("url=", 1)[-1]
            assert (page.parent / target).is_file(), f"{page.relative_to(HTML)} redirects to a missing {target}"
            continue
        title = parsed.find("title")
        assert title is not None and title.get_text(strip=True), f"{page.relative_to(HTML)} has no <title>"


def test_chapter_notebook_twins_are_up_to_date():
    """Colab's button opens book/<chapter>.ipynb: each twin must equal a fresh
    jupytext conversion of its .md chapter (tools/sync_chapter_notebooks.py)."""
    import subprocess
    import sys

    tool = Path(__file__).resolve().parents[1] / "tools" / "sync_chapter_notebooks.py"
    result = subprocess.run([sys.executable, str(tool), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------------------
# What readers see of the code, and what the site weighs
# ---------------------------------------------------------------------------

GLUE_CALL = re.compile(r"^\s*(glue\(|from myst_nb import glue\b)", re.M)
FONTSIZE = re.compile(r"fontsize\s*=\s*(\d+(?:\.\d+)?)")


@pytest.mark.parametrize("doc", CHAPTERS)
def test_bookkeeping_is_hidden_from_readers(html, doc):
    """glue(...) only hands numbers to the prose: the code cells a reader sees never show it
    (book/_ext/book_fixes.py removes it from the displayed source; the notebooks keep it)."""
    shown = [pre.get_text() for pre in article(page_path(doc)).select("div.cell_input pre")]
    leaks = [m.group(0).strip() for text in shown for m in GLUE_CALL.finditer(text)]
    assert not leaks, f"{doc}: {len(leaks)} bookkeeping line(s) shown to readers, e.g. {leaks[:3]}"


@pytest.mark.parametrize("doc", CHAPTERS)
def test_figure_text_is_never_below_the_book_minimum(doc):
    """Explicit font sizes in a chapter's code are at least widgets.MIN_FONT_PT (the
    browser test turns that into pixels as displayed)."""
    from nnref.book import widgets

    source = chapter_sources()[doc]
    small = [float(m.group(1)) for m in FONTSIZE.finditer(source) if float(m.group(1)) < widgets.MIN_FONT_PT]
    assert not small, f"{doc}: font sizes {small} are below the book's minimum of {widgets.MIN_FONT_PT} pt"


def test_site_weighs_at_most_half_of_what_it_did(html):
    """At most SITE_LIMIT_BYTES (benchmarks/book_builds.py, whose row 6 reports the size too)."""
    sizes = {}
    for path in html.rglob("*"):
        if path.is_file():
            top = path.relative_to(html).parts[0]
            sizes[top] = sizes.get(top, 0) + path.stat().st_size
    total = sum(sizes.values())
    heaviest = sorted(sizes.items(), key=lambda kv: -kv[1])[:5]
    print(f"_build/html: {total / 1e6:.1f} MB; heaviest: {[(k, round(v / 1e6, 1)) for k, v in heaviest]}")
    assert total <= SITE_LIMIT_BYTES, (
        f"_build/html weighs {total / 1e6:.1f} MB (budget {SITE_LIMIT_BYTES / 1e6:.0f} MB); heaviest: "
        f"{[(k, f'{v / 1e6:.1f} MB') for k, v in heaviest]}"
    )


@pytest.mark.parametrize("doc", CHAPTERS)
def test_downloaded_notebook_keeps_widgets_as_still_figures(html, doc):
    """The .ipynb behind the download button shows each widget as its first frame and
    caption, without the hundred frames of the page's twin (run it for the live widget)."""
    notebook = soup(page_path(doc)).select_one("a.btn-download-notebook-button[href]")
    assert notebook is not None, f"{doc}: no download-notebook (.ipynb) button"
    text = (page_path(doc).parent / notebook["href"]).resolve().read_text(encoding="utf-8")
    assert "nnref-frames" not in text, f"{doc}: the downloadable notebook still carries every widget frame"
    if "explore(" in chapter_sources()[doc]:
        assert "nnref-twin" in text and "img class=\\\"nnref-frame\\\"" in text, (
            f"{doc}: the downloadable notebook lost its widgets' first frames"
        )


def test_perceptron_widget_opens_on_an_update(html):
    """Chapter 1's perceptron widget opens after an update (a boundary and the ringed point that
    moved it), not on w = 0, where no side is predicted and every point counts as a mistake."""
    twins = [t for t in article(page_path("book/01_neurons")).select("figure.nnref-twin")
             if t.select_one('input[data-name="update"]')]
    assert len(twins) == 1, f"expected one perceptron widget in chapter 1, found {len(twins)}"
    start = int(twins[0].select_one('input[data-name="update"]')["value"])
    assert start >= 1, f"the perceptron widget opens at update {start}"
