"""Two fixes to the HTML that Jupyter Book 1's stack writes, so that a page
loads without a console error (tests/test_browser.py checks it):

* sphinx-thebe registers its inline configuration script
  (``const THEBE_JS_URL = ...``) twice (once through the registry, once
  straight into the builder); the second copy throws "Identifier
  'THEBE_JS_URL' has already been declared".  We keep the first of any
  scripts that have the same content.
* pydata-sphinx-theme logs "Got invalid theme mode" for a reader with no
  saved light/dark choice unless ``html_context["default_mode"]`` is set;
  _config.yml sets it, and ``check_default_mode`` fails the build if it is
  ever dropped.

Two that make the chapters read like a book, on the doctree of each page:

* ``hide_bookkeeping`` removes from the code shown to readers the
  statements that only pass numbers to the prose (``glue(...)``, and the
  import of ``glue``); the notebooks keep them, and a cell left with
  nothing else shows no code at all;
* ``number_twins`` puts every kernel-free widget twin (nnref/book/widgets.py) in a
  figure whose caption is the twin's, so widgets are numbered with the
  figures ("Fig. 3.4") and can be linked to.

One role, ``{launch}`exercises/<name>/<notebook>.ipynb```, writes the links that
open a notebook of the student edition in each launch service the book's
configuration names (Colab, Binder, a JupyterHub through nbgitpuller), with the
URLs the theme's own launch buttons use: the graded exercises are launched as
the chapters are.

And one that keeps pages light: ``externalise_twin_frames`` moves the frames
of every kernel-free widget twin (nnref/book/widgets.py, inline in the executed
notebook) into image files under ``_twins/<figure id>/`` and makes the page
load them only when needed: the first frame lazily, when the figure comes
into view, the others when a slider reaches them (``lazy_images`` does the
same for every other image of a page).  The executed notebook
offered for download (``_sources/<page>.ipynb``, copied there by
sphinx-book-theme) keeps each twin as its first frame and caption only
(``still_twins_in_download``): run the notebook and the widget is live.

And what a page costs a reader (tests/test_browser.py and tests/test_book.py
measure both):

* ``sized_images``: a chapter's matplotlib figure is a PNG at twice its size
  (nnref.book.widgets.book_style); docutils writes that size as an inline
  style, which pins the picture to its full width.  We write it as the
  ``width``/``height`` attributes instead, so the browser reserves the space,
  scales the picture to the column (book/_static/nnref.css), and the browser
  test knows at what size it was drawn.
* The maths is typeset by MathJax 3 served from the book itself, loaded as
  its parts (``MATHJAX_PARTS``): the TeX input, the CommonHTML output, the
  hidden MathML that screen readers read, and no more; the 430 kB context
  menu of the all-in-one ``tex-chtml.js`` is not loaded.  ``copy_mathjax``
  copies those parts, with the TeX extensions that ``autoload`` fetches on
  demand and the fonts, from the package sphinx-mathjax-offline (24 MB of
  MathJax in all).
* ``slim_pages`` drops from every page two scripts the theme loads that the
  book does not need: Font Awesome's 1.5 MB script (the theme's style sheet
  draws the same icons from Font Awesome's web fonts) and the search index
  (search as you type is off; the search page loads it itself).
  ``prune_static`` then removes what no page loads any more, and the source
  maps of the theme's scripts.  ``slim_pages`` also drops sphinx-design's
  style sheet and script from every page that uses none of its components,
  and Sphinx's search scripts from every page but the search page (search as
  you type is off, so nothing else calls them).
* ``slim_theme`` cuts the theme's Font Awesome to the icons the book shows:
  the style sheet keeps the rules of those icons only, and each web font
  only their glyphs (book/_ext/icon_fonts.py says how).
"""

from __future__ import annotations

import ast
import base64
import html
import importlib.util
import json
import re
import shutil
from pathlib import Path
from urllib.parse import urlencode

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.errors import ConfigError


def dedupe_scripts(app: Sphinx, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        # the two copies differ in filename (None and "") and priority only
        key = (getattr(script, "filename", script) or "", tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def check_default_mode(app: Sphinx) -> None:
    if not app.config.html_context.get("default_mode"):
        raise ConfigError("set sphinx.config.html_context.default_mode (e.g. auto) in _config.yml")


BOOKKEEPING = "glue"


def _is_bookkeeping(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        return isinstance(stmt.value.func, ast.Name) and stmt.value.func.id == BOOKKEEPING
    if isinstance(stmt, ast.ImportFrom):
        return [alias.name for alias in stmt.names] == [BOOKKEEPING]
    if isinstance(stmt, (ast.For, ast.If, ast.With)):  # a block that only glues
        return all(_is_bookkeeping(s) for s in stmt.body + getattr(stmt, "orelse", []))
    return False


def bookkeeping_lines(source: str) -> set[int]:
    """0-based numbers of the lines of ``source`` that only glue numbers for the prose."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython magics: leave the cell as it is
        return set()
    lines: set[int] = set()

    def visit(body):
        for stmt in body:
            if _is_bookkeeping(stmt):
                lines.update(range(stmt.lineno - 1, stmt.end_lineno))
            else:
                for field in ("body", "orelse", "finalbody"):
                    inner = getattr(stmt, field, None)
                    if isinstance(inner, list) and inner and isinstance(inner[0], ast.stmt):
                        kept = [s for s in inner if not _is_bookkeeping(s)]
                        if kept:  # never empty a block: that would not be Python
                            visit(inner)

    visit(tree.body)
    return lines


def without_bookkeeping(source: str) -> str:
    drop = bookkeeping_lines(source)
    kept = [line for i, line in enumerate(source.splitlines()) if i not in drop]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(kept))
    return text.strip("\n")


def hide_bookkeeping(app: Sphinx, doctree: nodes.document) -> None:
    def is_code_source(node) -> bool:
        return isinstance(node, nodes.Element) and node.get("nb_element") == "cell_code_source"

    for source in list(doctree.findall(is_code_source)):
        for block in source.findall(nodes.literal_block):
            text = block.astext()
            shown = without_bookkeeping(text)
            if shown == text.strip("\n"):
                continue
            if not shown.strip():
                cell = source.parent
                source.parent.remove(source)
                cell["classes"] = [c for c in cell["classes"] if c != "tag_hide-input"]
                break
            block.children = [nodes.Text(shown)]
            block.rawsource = shown


TWIN_START = re.compile(r'<figure class="nnref-twin" id="(?P<id>[\w-]+)"')
TWIN_CAPTION = re.compile(r"<figcaption>(?P<text>.*?)</figcaption>\n?", re.S)


def number_twins(app: Sphinx, doctree: nodes.document) -> None:
    for raw in list(doctree.findall(nodes.raw)):
        text = raw.astext()
        start = TWIN_START.search(text)
        caption = TWIN_CAPTION.search(text)
        if start is None or caption is None:
            continue
        bundle = raw.parent
        while bundle is not None and bundle.get("nb_element") != "mime_bundle":
            bundle = bundle.parent
        if bundle is None or isinstance(bundle.parent, nodes.figure):
            continue
        shown = TWIN_CAPTION.sub("", text, count=1)
        raw.children = [nodes.Text(shown)]
        raw.rawsource = shown
        figure = nodes.figure(ids=["fig-" + start.group("id")], classes=["nnref-widget"])
        figure.source, figure.line = bundle.source, bundle.line
        bundle.replace_self(figure)
        figure += bundle
        figure += nodes.caption("", "", nodes.Text(html.unescape(caption.group("text"))))


TWIN = re.compile(r'<figure class="nnref-twin" id="(?P<id>[\w-]+)" data-frame-ext="(?P<ext>\w+)">.*?</figure>', re.S)
INLINE_FRAMES = re.compile(r'<script type="application/json" class="nnref-frames">(?P<json>.*?)</script>\n?', re.S)
FIRST_FRAME = re.compile(r'src="data:image/\w+;base64,[A-Za-z0-9+/=]+"')
TWIN_DIR = "_twins"


def frame_file(key: str, ext: str) -> str:
    """The file name of frame "i,j,..." (the widget's JavaScript builds the same name)."""
    return key.replace(",", "-") + "." + ext


def externalise_twin_frames(app: Sphinx, pagename, templatename, context, doctree) -> None:
    body = context.get("body")
    if not body or "nnref-twin" not in body:
        return

    def rewrite(match: re.Match) -> str:
        figure, uid, ext = match.group(0), match.group("id"), match.group("ext")
        inline = INLINE_FRAMES.search(figure)
        if inline is None:
            return figure
        frames = json.loads(inline.group("json"))
        folder = Path(app.outdir) / TWIN_DIR / uid
        folder.mkdir(parents=True, exist_ok=True)
        for key, encoded in frames.items():
            (folder / frame_file(key, ext)).write_bytes(base64.b64decode(encoded))
        first = FIRST_FRAME.search(figure)
        shown = next(key for key, encoded in frames.items() if encoded in first.group(0))
        url = context["pathto"](f"{TWIN_DIR}/{uid}/", 1)
        figure = INLINE_FRAMES.sub("", figure)
        figure = figure.replace(f'data-frame-ext="{ext}">', f'data-frame-ext="{ext}" data-frames-url="{url}">', 1)
        return figure.replace(first.group(0), f'loading="lazy" src="{url}{frame_file(shown, ext)}"', 1)

    context["body"] = TWIN.sub(rewrite, body)


def lazy_images(app: Sphinx, pagename, templatename, context, doctree) -> None:
    """Every image of a page is fetched when it nears the view, not with the page."""
    body = context.get("body")
    if body and "<img " in body:
        context["body"] = re.sub(r"<img (?![^>]*\bloading=)", '<img loading="lazy" ', body)


TWIN_CONTROLS = re.compile(r'<div class="nnref-controls">.*?</div>\n?', re.S)
TWIN_SCRIPT = re.compile(r"<script>.*?</script>\n?", re.S)


def still_twin(text: str) -> str:
    """A twin's HTML without its sliders, inline frames and script: the first frame and the caption."""
    return TWIN_SCRIPT.sub("", INLINE_FRAMES.sub("", TWIN_CONTROLS.sub("", text)))


def still_twins_in_download(app: Sphinx, pagename, templatename, context, doctree) -> None:
    notebook = context.get("ipynb_source")
    if not notebook:
        return
    path = Path(app.outdir) / "_sources" / notebook
    if not path.is_file():
        return
    data = json.loads(path.read_text(encoding="utf-8"))
    changed = False
    for cell in data.get("cells", []):
        for output in cell.get("outputs", []):
            html_text = output.get("data", {}).get("text/html")
            if html_text is None:
                continue
            joined = "".join(html_text) if isinstance(html_text, list) else html_text
            if "nnref-twin" in joined and "nnref-frames" in joined:
                output["data"]["text/html"] = still_twin(joined)
                changed = True
    if changed:
        path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


SIZED_IMAGE = re.compile(r'(<img [^>]*?)style="width: (?P<w>\d+(?:\.\d+)?)px; height: (?P<h>\d+(?:\.\d+)?)px;"')


def sized_images(app: Sphinx, pagename, templatename, context, doctree) -> None:
    body = context.get("body")
    if body and "<img " in body:
        context["body"] = SIZED_IMAGE.sub(
            lambda m: f'{m.group(1)}width="{round(float(m["w"]))}" height="{round(float(m["h"]))}"', body
        )


MATHJAX_DIR = "mathjax"  # under _static
MATHJAX_START = "startup.js"  # the loader, which fetches MATHJAX_PARTS
MATHJAX_PARTS = ["input/tex", "output/chtml", "a11y/assistive-mml"]
# what those parts fetch in turn: the core, the TeX extensions autoload brings in
# when a page uses one of their macros, and the fonts of the CommonHTML output
MATHJAX_FILES = ["core.js", "input/tex/extensions", "output/chtml/fonts"]


def mathjax_source() -> Path:
    """The MathJax 3 distribution shipped by the PyPI package sphinx-mathjax-offline."""
    spec = importlib.util.find_spec("sphinx-mathjax-offline")
    if spec is None or spec.origin is None:
        raise ConfigError("MathJax comes from the package sphinx-mathjax-offline: pip install -r requirements.txt")
    return Path(spec.origin).parent / "static" / MATHJAX_DIR


def mathjax_files() -> list[str]:
    """The files of the MathJax distribution the book serves, relative to it."""
    source = mathjax_source()
    wanted = [MATHJAX_START] + [f"{part}.js" for part in MATHJAX_PARTS] + MATHJAX_FILES
    files = []
    for name in wanted:
        path = source / name
        if not path.exists():
            raise ConfigError(f"MathJax in {source} has no {name}")
        found = sorted(path.rglob("*")) if path.is_dir() else [path]
        files += [f.relative_to(source).as_posix() for f in found if f.is_file()]
    return files


def configure_mathjax(app: Sphinx, config) -> None:
    config.mathjax_path = f"{MATHJAX_DIR}/{MATHJAX_START}"
    settings = dict(config.mathjax3_config or {})
    settings["loader"] = {**settings.get("loader", {}), "load": list(MATHJAX_PARTS)}
    config.mathjax3_config = settings


def copy_mathjax(app: Sphinx, exc) -> None:
    if exc is not None or app.builder.format != "html":
        return
    source, target = mathjax_source(), Path(app.outdir) / "_static" / MATHJAX_DIR
    keep = set(mathjax_files())
    if target.is_dir():  # left by an earlier build that served all of MathJax
        for path in sorted(target.rglob("*"), reverse=True):
            if path.is_file() and path.relative_to(target).as_posix() not in keep:
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
    for name in keep:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        if not (target / name).is_file() or (target / name).stat().st_size != (source / name).stat().st_size:
            shutil.copyfile(source / name, target / name)


# Scripts of the theme the book does not need (see the module's docstring): Font Awesome's
# on every page, the search index on every page but the search page.
SCRIPT_TAG = r'[ \t]*<script (?:defer )?src="[^"]*{}[^"]*"></script>\n?'
FONT_AWESOME_SCRIPT = re.compile(SCRIPT_TAG.format(r"_static/scripts/fontawesome\.js"))
SEARCH_INDEX_SCRIPT = re.compile(SCRIPT_TAG.format(r"searchindex\.js"))
SEARCH_PAGE = "search.html"
# off the search page: nothing calls Sphinx's search code when search as you type is off
SEARCH_SCRIPTS = re.compile(SCRIPT_TAG.format(r"_static/(?:searchtools|language_data)\.js"))
# sphinx-design's assets, on a page that has none of its components (classes "sd-...")
DESIGN_ASSETS = re.compile(r'[ \t]*<link rel="stylesheet" type="text/css" '
                           r'href="[^"]*_static/sphinx-design\.min\.css[^"]*" />\n?'
                           r'|[ \t]*<script [^>]*src="[^"]*_static/design-tabs\.js[^"]*"></script>\n?')
DESIGN_COMPONENT = re.compile(r'class="(?:[^"]* )?sd-')
UNUSED_FILES = ["scripts/fontawesome.js", "scripts/fontawesome.js.LICENSE.txt"]
SOURCE_MAPS = "scripts/*.map"


def slim_pages(app: Sphinx, exc) -> None:
    if exc is not None or app.builder.format != "html":
        return
    outdir = Path(app.outdir)
    for page in outdir.rglob("*.html"):
        if {"_static", "_sources"} & set(page.relative_to(outdir).parts):
            continue
        text = page.read_text(encoding="utf-8")
        slim = FONT_AWESOME_SCRIPT.sub("", text)
        if page.relative_to(outdir).as_posix() != SEARCH_PAGE:
            slim = SEARCH_SCRIPTS.sub("", SEARCH_INDEX_SCRIPT.sub("", slim))
        if not DESIGN_COMPONENT.search(slim):
            slim = DESIGN_ASSETS.sub("", slim)
        if slim != text:
            page.write_text(slim, encoding="utf-8")


def prune_static(app: Sphinx, exc) -> None:
    if exc is not None or app.builder.format != "html":
        return
    static = Path(app.outdir) / "_static"
    for path in [static / name for name in UNUSED_FILES] + sorted(static.glob(SOURCE_MAPS)):
        path.unlink(missing_ok=True)


THEME_CSS = "styles/pydata-sphinx-theme.css"  # under _static, with Font Awesome's rules and @font-face
SOURCE_MAP_COMMENT = re.compile(r"/\*# sourceMappingURL=[^*]*\*/\s*$")


def theme_original(app: Sphinx, name: str) -> Path:
    """The file ``_static/<name>`` as the theme ships it (the build's copy may be trimmed already)."""
    for folder in app.builder.theme.get_theme_dirs():
        path = Path(folder) / "static" / name
        if path.is_file():
            return path
    raise ConfigError(f"no theme of this book ships static/{name}; book_fixes.slim_theme expects pydata-sphinx-theme")


def site_texts(outdir: Path):
    """The text of every page of the site and every script that may put an icon on one."""
    for path in sorted(outdir.rglob("*.html")) + sorted((outdir / "_static").rglob("*.js")):
        parts = set(path.relative_to(outdir).parts)
        if "_sources" not in parts and "mathjax" not in parts:
            yield path.read_text(encoding="utf-8", errors="replace")


def slim_theme(app: Sphinx, exc) -> None:
    if exc is not None or app.builder.format != "html":
        return
    import icon_fonts  # book/_ext, next to this file: on the path in a build (local_extensions), not where
    # this module is loaded on its own (tests/test_widgets.py)

    outdir = Path(app.outdir)
    static = outdir / "_static"
    css = theme_original(app, THEME_CSS).read_text(encoding="utf-8")
    css = icon_fonts.trim_icon_rules(css, icon_fonts.icon_names(site_texts(outdir)))
    css, stems = icon_fonts.font_faces_to_woff(SOURCE_MAP_COMMENT.sub("", css))
    if not stems:
        raise ConfigError(f"{THEME_CSS} has no Font Awesome @font-face any more: update book_fixes.slim_theme")
    characters = icon_fonts.css_characters(css)
    for other in static.rglob("*.css"):
        if other != static / THEME_CSS and "mathjax" not in other.parts:
            characters |= icon_fonts.css_characters(other.read_text(encoding="utf-8", errors="replace"))
    for stem in stems:
        font = f"vendor/fontawesome/webfonts/{stem}"
        (static / f"{font}.woff").write_bytes(icon_fonts.subset_font(theme_original(app, f"{font}.ttf"), characters))
        for unused in (".woff2", ".ttf"):
            (static / f"{font}{unused}").unlink(missing_ok=True)
    (static / THEME_CSS).write_text(css, encoding="utf-8")
    (static / f"{THEME_CSS}.map").unlink(missing_ok=True)


# the notebook interface of Binder and JupyterHub links, as sphinx-book-theme names it
INTERFACES = {"classic": "tree", "jupyterlab": "lab/tree"}


def launch_links(theme: dict, path: str) -> list[tuple[str, str]]:
    """(service, URL) for each launch service configured in ``theme`` (the book's
    html_theme_options), opening the file ``path`` of the repository the book names."""
    repo_url = theme.get("repository_url", "").rstrip("/")
    if not repo_url.startswith("https://github.com/"):
        raise ConfigError(f"repository.url must be a GitHub repository for launch links, got {repo_url!r}")
    org_repo = repo_url.removeprefix("https://github.com/")
    branch = theme.get("repository_branch") or "main"
    buttons = theme.get("launch_buttons", {})
    ui = INTERFACES[buttons.get("notebook_interface", "classic")]
    links = []
    if colab := buttons.get("colab_url", "").strip("/"):
        links.append(("Colab", f"{colab}/github/{org_repo}/blob/{branch}/{path}"))
    if binder := buttons.get("binderhub_url", "").strip("/"):
        links.append(("Binder", f"{binder}/v2/gh/{org_repo}/{branch}?urlpath={ui}/{path}"))
    if hub := buttons.get("jupyterhub_url", "").strip("/"):
        query = urlencode({"repo": repo_url, "urlpath": f"{ui}/{org_repo.split('/')[-1]}/{path}", "branch": branch})
        links.append(("JupyterHub", f"{hub}/hub/user-redirect/git-pull?{query}"))
    return links


def launch_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    """``{launch}`path``: "Colab · Binder · JupyterHub" links for the notebook ``path`` of the student edition."""
    theme = inliner.document.settings.env.app.config.html_theme_options
    try:
        links = launch_links(theme, text.strip())
    except ConfigError as error:
        message = inliner.reporter.error(str(error), line=lineno)
        return [inliner.problematic(rawtext, rawtext, message)], [message]
    if not links:
        message = inliner.reporter.error("no launch service is configured (launch_buttons in _config.yml)",
                                         line=lineno)
        return [inliner.problematic(rawtext, rawtext, message)], [message]
    made = []
    for i, (service, url) in enumerate(links):
        if i:
            made.append(nodes.Text(" · "))
        classes = ["nnref-launch", f"nnref-launch-{service.lower()}"]
        made.append(nodes.reference(service, service, refuri=url, classes=classes))
    return made, []


def setup(app: Sphinx) -> dict:
    app.add_role("launch", launch_role)
    app.connect("html-page-context", dedupe_scripts)
    app.connect("html-page-context", externalise_twin_frames)
    app.connect("html-page-context", lazy_images)
    app.connect("html-page-context", sized_images)
    app.connect("config-inited", configure_mathjax)
    app.connect("build-finished", copy_mathjax)
    app.connect("build-finished", slim_pages)
    app.connect("build-finished", prune_static)
    app.connect("build-finished", slim_theme)
    # after sphinx-book-theme has copied the executed notebook into _sources
    app.connect("html-page-context", still_twins_in_download, priority=900)
    app.connect("doctree-read", hide_bookkeeping)
    app.connect("doctree-read", number_twins)
    app.connect("builder-inited", check_default_mode)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
