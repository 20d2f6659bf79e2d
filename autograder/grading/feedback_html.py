"""Per-student feedback pages for the grading command, as ``nbgrader generate_feedback`` makes them.

:func:`write` renders an autograded notebook with nbconvert's
``HTMLExporter`` and nbgrader's own feedback template (total score at the
top, a table of contents of the graded parts, a panel per graded cell),
with the course's :class:`~autograder.feedback.HideHiddenTests` applied to
every cell so that the hidden tests stay hidden.  Each test cell shows the
trusted score as ``Points: s / m`` and the grader's message as its output.

The instructor opens these pages, and everything the student wrote is
untrusted: the notebook is rebuilt from scratch before rendering, so the
template sees only what this module lets through (a fixed notebook
metadata, cell metadata it wrote itself, outputs of kinds that are escaped
when rendered: streams, ``text/plain``, PNG and JPEG with checked base64,
errors), each cell's output text capped; markdown is sanitised with an
allow-list (no script, no event handler, no style, no class: a student
cannot dress text up as the grader's panels; the only images are the PNG and
JPEG pasted into a markdown cell, its ``attachments``, with checked base64,
shown as ``data:`` images).  Building a page takes bounded time: markdown is
rendered only within :data:`MARKDOWN_CELL_CAP`, :data:`MARKDOWN_LINE_CAP`
and :data:`MARKDOWN_PAGE_CAP` (nbconvert's markdown and the sanitiser cost
far more than linear time on some text) and shown as plain text beyond
them; the page shows at most :data:`CELLS_CAP` cells and
:data:`PAGE_SOURCE_CAP` characters of source besides the graded parts.  The page loads
nothing: its Content-Security-Policy lets one script run, the inline MathJax
of :mod:`.mathjax` (added only when a markdown cell may hold maths), which
typesets the markdown cells offline and filters what the student's TeX can
make.
"""

from __future__ import annotations

import html
import re
import threading
from pathlib import Path

import bleach
import nbformat
import nbgrader
from jinja2 import DictLoader, FileSystemLoader, pass_context
from nbconvert import HTMLExporter
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor, Preprocessor
from traitlets.config import Config

from .. import notebooks
from ..feedback import NOTE, HideHiddenTests
from . import mathjax
from .submission import printable

TEXT_CAP = 10_000  # characters of output text shown per cell
SOURCE_CAP = 50_000  # characters of source shown per cell
IMAGE_CAP = 2_000_000  # base64 characters of images shown per cell
IMAGE_TYPES = ("image/png", "image/jpeg")
MARKDOWN_CELL_CAP = 5_000  # characters of one markdown cell rendered as markdown; a longer one is shown as text
MARKDOWN_LINE_CAP = 1_000  # characters of one line of a markdown cell rendered as markdown; the same
MARKDOWN_PAGE_CAP = 10_000  # characters of markdown rendered per page; the cells after are shown as text
PAGE_SOURCE_CAP = 200_000  # characters of source (code and markdown) shown per page
CELLS_CAP = 300  # cells shown per page, besides the graded test cells
AS_TYPED = (f"(this markdown is shown as typed: it is rendered up to {MARKDOWN_CELL_CAP} characters per cell, "
            f"{MARKDOWN_LINE_CAP} per line and {MARKDOWN_PAGE_CAP} per page)")

_FORMGRADER = Path(nbgrader.__file__).resolve().parent / "server_extensions" / "formgrader"
NBGRADER_TEMPLATES = _FORMGRADER / "templates"
BOOTSTRAP_CSS = _FORMGRADER / "static" / "node_modules" / "bootstrap" / "dist" / "css"

_SAFE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_BASE64 = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")
# C0 controls other than tab, newline, carriage return and ESC (kept for ansi2html), DEL, lone surrogates
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f\ud800-\udfff]")
_IMAGE_SRC = re.compile(r"^data:image/(png|jpeg);base64,[A-Za-z0-9+/]+={0,2}$")
_PROTOCOL = re.compile(r"^([^:/?#]*):")  # what bleach takes for a link's scheme, once spaces and controls are gone


def _attribute_allowed(tag: str, name: str, value: str) -> bool:
    """The attributes student markdown keeps: links without ``data:`` URLs, images only as pasted ones."""
    if tag == "img":
        return name == "alt" or (name == "src" and bool(_IMAGE_SRC.match(value)))
    if tag == "a" and name == "href":
        scheme = _PROTOCOL.match(re.sub(r"[`\x00-\x20\x7f-\xa0\s]+", "", value))
        return scheme is None or scheme.group(1).lower() in ("http", "https", "mailto")
    return name in {"a": ("title",), "th": ("align",), "td": ("align",), "ol": ("start",)}.get(tag, ())

# What student markdown may keep: text structure and links, nothing that runs, loads or imitates the grader.
_CLEANER = bleach.Cleaner(
    tags={"p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "em", "strong", "b", "i", "u", "s", "del",
          "code", "pre", "kbd", "samp", "var", "blockquote", "ul", "ol", "li", "dl", "dt", "dd", "a", "span",
          "div", "table", "thead", "tbody", "tr", "th", "td", "sup", "sub", "img"},
    attributes=_attribute_allowed,
    protocols={"http", "https", "mailto", "data"},  # data: only where _attribute_allowed lets it (pasted images)
    strip=False,  # a forbidden tag shows as text: the instructor sees what was tried
    strip_comments=True,
)

# Overrides of nbgrader's feedback template (extended, not copied): the trusted banner at the top of
# the notebook, and a test cell's heading with its points from the grader's result.
TEMPLATE = r"""
{%- extends 'feedback/index.html.j2' -%}

{% block body_header %}
{{ super() }}
<div class="alert {{ 'alert-info' if resources.feedback.status == 'graded' else 'alert-danger' }} nnref-banner">
  <b>{{ resources.feedback.assignment | e }}</b>, student <b>{{ resources.feedback.student | e }}</b>:
  status <b>{{ resources.feedback.status | e }}</b>,
  total {{ resources.nbgrader.score | float | round(2) }} / {{ resources.nbgrader.max_score | float | round(2) }}
  {%- if resources.feedback.error %}
  <pre class="nnref-error">{{ resources.feedback.error | e }}</pre>
  {%- endif %}
</div>
{% endblock body_header %}

{% block input %}
{%- if cell.metadata.nnref_test -%}
<div class="panel panel-primary nbgrader_cell">
<a name="{{ cell.metadata.nbgrader.grade_id | e }}"></a>
<div class="panel-heading">
  <span class="nbgrader-label">Grade cell: <code>{{ cell.metadata.nbgrader.grade_id | e }}</code></span>
  <span class="pull-right">
    {%- set grade = cell.metadata.nbgrader %}
    Points: {{ grade.score | float | round(2) }} / {{ grade.points | float | round(2) }}
    <a href="#top">(Top)</a>
  </span>
</div>
<div class="panel-body">
  <div class="input_area">
    {{ cell.source | highlight_code(metadata=cell.metadata) }}
  </div>
</div>
</div>
{%- else -%}
{{ super() }}
{%- endif -%}
{% endblock input %}
"""

# nbgrader's header calls ``mathjax()``, which loads MathJax from a CDN: this macro of the same name, found
# first, writes the page's Content-Security-Policy there instead (the one place in <head> open to us).
HEAD = "{%- macro mathjax(url='') -%}<meta http-equiv=\"Content-Security-Policy\" content=\"POLICY\">{%- endmacro %}"

CSS = """
pre { white-space: pre-wrap; word-break: break-word; }
div.output_stderr pre, div.output_error pre { background: #fdd; }
div.output_error pre { border-left: 4px solid #d9534f; padding-left: 0.6em; }
div.input, div.output_area { display: flex; }
div.prompt { flex: 0 0 11ex; color: #888; font-family: monospace; }
div.inner_cell, div.nbgrader_cell, div.output_subarea { flex: 1 1 auto; min-width: 0; overflow-x: auto; }
div.cell { margin-bottom: 0.6em; }
pre.nnref-error { margin-top: 0.5em; }
"""


class _FeedbackCss(Preprocessor):
    """Adds the page's own CSS after nbconvert's (nbgrader's header inlines ``resources.inlining.css``)."""

    def preprocess(self, nb, resources):
        resources.setdefault("inlining", {}).setdefault("css", []).append(CSS)
        return nb, resources


class _Attachments(dict):
    """A cell's kept attachments, for nbconvert's renderer: one the cell lacks (never there, or not kept)
    renders as an image with no source (dropped by the sanitiser), where nbconvert would raise."""

    def __contains__(self, name) -> bool:
        return True

    def __missing__(self, name) -> dict:
        return {"image/png": ""}


class FeedbackExporter(HTMLExporter):
    """HTMLExporter whose markdown goes through the allow-list: student markdown cannot inject HTML."""

    @pass_context
    def markdown2html(self, context, source):
        """nbconvert's own rendering (``HTMLExporter.markdown2html``) with the cell's kept attachments, no image
        read from disk, and the allow-list."""
        cell = context.get("cell", {})
        if cell.get("metadata", {}).get("nnref_text"):  # shown as typed: escaped, in linear time
            return f"<p><em>{AS_TYPED}</em></p><pre>{html.escape(source)}</pre>"
        renderer = IPythonRenderer(escape=False, attachments=_Attachments(cell.get("attachments") or {}),
                                   embed_images=False, anchor_link_text=self.anchor_link_text,
                                   exclude_anchor_links=self.exclude_anchor_links, **self.lexer_options)
        return _CLEANER.clean(MarkdownWithMath(renderer=renderer).render(source))

    def default_filters(self):
        """nbconvert's filters, but ``strip_files_prefix`` (Jupyter's ``/files/`` links, meaningless in a page
        opened from disk) leaves the HTML as it is: its regex takes time quadratic in the length of a line."""
        yield from super().default_filters()
        yield ("strip_files_prefix", lambda text: text)


def exporter() -> FeedbackExporter:
    """nbgrader's feedback template, as ``GenerateFeedback`` configures it, with the overrides above."""
    c = Config()
    c.FeedbackExporter.template_name = "feedback"
    c.FeedbackExporter.template_file = "nnref_feedback.html.j2"
    c.FeedbackExporter.extra_template_basedirs = [str(NBGRADER_TEMPLATES)]
    c.FeedbackExporter.sanitize_html = True
    c.FeedbackExporter.exclude_anchor_links = True  # the sanitiser drops the headings' ids they point to
    head = HEAD.replace("POLICY", html.escape(mathjax.csp()))
    loader = DictLoader({"nnref_feedback.html.j2": TEMPLATE, "mathjax.html.j2": head,
                         "bootstrap.min.css": _bootstrap_css()})
    out = FeedbackExporter(config=c, extra_loaders=[loader, FileSystemLoader(str(NBGRADER_TEMPLATES))])
    out.register_preprocessor(CSSHTMLHeaderPreprocessor, enabled=True)
    out.register_preprocessor(_FeedbackCss, enabled=True)
    return out


def _bootstrap_css() -> str:
    """nbgrader's Bootstrap CSS without its icon font: the page shows no icon, and its policy refuses the fetch."""
    css = (BOOTSTRAP_CSS / "bootstrap.min.css").read_text(encoding="utf-8")
    return re.sub(r"@font-face\{[^}]*\}", "", css)


_local = threading.local()


def render(notebook: dict | None, result: dict, stem: str, assignment: str) -> dict:
    """The feedback page of ``result`` (with the autograded ``notebook``, or None) for the notebook named
    ``stem``, as plain data: ``{"html": the page without its MathJax, "maths": whether it needs it}``.

    The grading process renders it beside the grade (``grader.py``), so that the command, which writes every
    page, only adds the MathJax (:func:`finish`, 2 MB that need not travel with each result)."""
    parts = {str(p["id"]): p for p in result.get("parts") or []}
    if notebook is None:
        nb = _parts_only(parts, result.get("status"))
    else:
        nb = _rebuild(notebook, parts)
    maths = any(cell.cell_type == "markdown" and mathjax.needed(cell.source) for cell in nb.cells)
    resources = {
        "nbgrader": {"notebook": html.escape(stem), "score": float(result.get("score") or 0.0),
                     "max_score": float(result.get("max_score") or 0.0), "late_penalty": 0},
        "feedback": {"student": _text(printable(str(result.get("student") or ""))), "assignment": _text(assignment),
                     "status": _text(result.get("status")), "error": _cap(_text(result.get("error")), TEXT_CAP)},
    }
    if not hasattr(_local, "exporter"):  # its templates compile on first use: one exporter per thread
        _local.exporter = exporter()
    body, _ = _local.exporter.from_notebook_node(nb, resources=resources)
    return {"html": body, "maths": maths}


def finish(page: dict) -> list[bytes]:
    """The page :func:`render` made, in UTF-8, with the inline MathJax when it needs it: the page's bytes as
    pieces to write one after the other.

    Added after nbconvert's BeautifulSoup pass: it need not parse 2 MB, nor touch the bytes the policy hashes;
    and added as bytes encoded once per run, neither encoded nor copied again per page.  Text that cannot be
    encoded (a lone surrogate in a student's output) becomes "?"."""
    body = page["html"]
    if not page["maths"]:
        return [body.encode("utf-8", errors="replace")]
    start, end, rest = body.rpartition("</body>")
    return [start.encode("utf-8", errors="replace"), mathjax.script_bytes(),
            f"\n{end}{rest}".encode("utf-8", errors="replace")]


def write(notebook: dict | None, result: dict, path: Path, assignment: str) -> Path:
    """Write the feedback page of ``result`` (with the autograded ``notebook``, or None) at ``path``."""
    path = Path(path)
    body = finish(render(notebook, result, path.stem, assignment))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(body))
    return path


# -- the notebook the template sees ------------------------------------------------------------------------------

def _rebuild(notebook: dict, parts: dict) -> nbformat.NotebookNode:
    """A fresh notebook holding only what may be shown of ``notebook``, test cells scored from ``parts``."""
    cells, shown, left_out = [], set(), 0
    source_left, markdown_left = PAGE_SOURCE_CAP, MARKDOWN_PAGE_CAP
    raw_cells = notebook.get("cells") if isinstance(notebook, dict) else None
    for raw in raw_cells if isinstance(raw_cells, list) else []:
        if not isinstance(raw, dict):
            continue
        meta = notebooks.nbgrader(raw)
        gid = str(meta.get("grade_id", ""))
        if notebooks.is_test_cell(raw) and gid in parts and gid not in shown:
            shown.add(gid)
            cells.append(_test_cell(parts[gid], _cap_source(_hide_hidden_tests(_text(raw.get("source"))), "# ")))
            continue
        if len(cells) - len(shown) >= CELLS_CAP:
            left_out += 1
            continue
        source = _hide_hidden_tests(_text(raw.get("source")))
        comment = "# " if notebooks.is_code(raw) else ""
        source = _cap_source(source[:source_left], comment, len(source))
        source_left = max(0, source_left - len(source))
        if notebooks.is_code(raw):
            count = raw.get("execution_count")
            cell = nbformat.v4.new_code_cell(source, outputs=_outputs(raw.get("outputs")),
                                             execution_count=count if type(count) is int else None)
        elif _renderable(source, markdown_left):  # markdown, and raw cells shown as markdown: both sanitised
            markdown_left -= len(source)
            cell = nbformat.v4.new_markdown_cell(source)
            images = _attachments(raw.get("attachments")) if raw.get("cell_type") == "markdown" else {}
            if images:
                cell["attachments"] = images
        else:
            cell = nbformat.v4.new_markdown_cell(source)
            cell.metadata["nnref_text"] = True
        cells.append(_answer(cell, meta))
    if left_out:
        cells.append(nbformat.v4.new_markdown_cell(f"*[... {left_out} more cells not shown: the page shows "
                                                   f"{CELLS_CAP}]*"))
    for gid, part in parts.items():  # a test cell the submission lost still shows its part
        if gid not in shown:
            cells.append(_test_cell(part, "# (this test cell is missing from the submitted notebook)"))
    return _notebook(cells)


def _renderable(source: str, markdown_left: int) -> bool:
    """Whether a markdown cell is rendered as markdown: short enough, its lines too, and within the page's."""
    return (len(source) <= min(MARKDOWN_CELL_CAP, markdown_left)
            and all(len(line) <= MARKDOWN_LINE_CAP for line in source.split("\n")))


def _attachments(raw) -> dict:
    """The PNG and JPEG images pasted into a markdown cell, checked base64, at most ``IMAGE_CAP`` per cell."""
    kept, left = {}, IMAGE_CAP
    for name, bundle in raw.items() if isinstance(raw, dict) else []:
        if not isinstance(name, str) or not isinstance(bundle, dict):
            continue
        for mime in IMAGE_TYPES:
            image = _base64(bundle.get(mime))
            if image and len(image) <= left:
                kept[name] = {mime: image}
                left -= len(image)
                break
    return kept


def _parts_only(parts: dict, status) -> nbformat.NotebookNode:
    """The page of a submission that did not run: one empty test cell per part, with its message."""
    note = f"# (not run: the submission is {_text(status) or 'not graded'})"
    return _notebook([_test_cell(part, note) for part in parts.values()])


def _notebook(cells: list) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(metadata={"language_info": {"name": "python"}})
    for i, cell in enumerate(cells):
        cell["id"] = f"cell-{i}"
    nb.cells = cells
    return nb


def _test_cell(part: dict, source: str) -> nbformat.NotebookNode:
    """A graded test cell: the grader's score, points and message (escaped when rendered)."""
    gid = str(part.get("id"))
    score, points = float(part.get("score") or 0.0), float(part.get("max_score") or 0.0)
    message = _cap(_text(part.get("message")), TEXT_CAP)
    outputs = []
    if score < points:
        outputs.append(nbformat.v4.new_output("error", ename="", evalue="",
                                              traceback=[message or "this part lost points"]))
    elif message:
        outputs.append(nbformat.v4.new_output("stream", name="stdout", text=message))
    cell = nbformat.v4.new_code_cell(source, outputs=outputs)
    cell.metadata["nnref_test"] = True
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "points": points,
                                 "score": score, "grade_id": gid if _SAFE_ID.match(gid) else "test"}
    return cell


def _answer(cell: nbformat.NotebookNode, meta: dict) -> nbformat.NotebookNode:
    """Marks a student's answer cell as nbgrader does ("Student's answer"); no other metadata survives."""
    gid = str(meta.get("grade_id", ""))
    if meta.get("solution") is True and _SAFE_ID.match(gid):
        cell.metadata["nbgrader"] = {"solution": True, "grade": False, "locked": False, "grade_id": gid}
    return cell


def _hide_hidden_tests(source: str) -> str:
    """The course's HideHiddenTests on the cell; an unmatched delimiter hides everything after it."""
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": True, "solution": False}
    hider = HideHiddenTests(enforce_metadata=False)
    try:
        return hider.preprocess_cell(cell, {}, 0)[0].source
    except RuntimeError:  # a nested or unclosed region: keep only what comes before it
        lines = source.split("\n")
        first = next((i for i, line in enumerate(lines) if hider.begin_test_delimeter in line), None)
        return source if first is None else "\n".join([*lines[:first], NOTE])


# -- untrusted content --------------------------------------------------------------------------------------------

def _text(value) -> str:
    """A notebook string (str or list of str) without control characters; anything else is ''."""
    if isinstance(value, list):
        value = "".join(v for v in value if isinstance(v, str))
    if value is None or isinstance(value, (dict, list)):
        return ""
    return _CONTROL.sub("\ufffd", str(value))


def _cap(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[... {len(text) - limit} more characters not shown]"


def _cap_source(source: str, comment: str, length: int | None = None) -> str:
    """``source`` (the first characters of a text of ``length``) cut at ``SOURCE_CAP``, saying what was cut."""
    length = len(source) if length is None else length
    shown = source[:SOURCE_CAP]
    if len(shown) == length:
        return shown
    return shown + f"\n{comment}[... {length - len(shown)} more characters not shown]"


def _outputs(raw) -> list:
    """The student's outputs that are safe to show: streams, text/plain, PNG/JPEG and errors, capped."""
    kept, text_left, image_left, left_out, cut = [], TEXT_CAP, IMAGE_CAP, set(), 0

    def take(text: str) -> str:
        nonlocal text_left, cut
        shown = text[:text_left]
        cut += len(text) - len(shown)
        text_left -= len(shown)
        return shown

    for out in raw if isinstance(raw, list) else []:
        kind = out.get("output_type") if isinstance(out, dict) else None
        if kind == "stream":
            text = take(_text(out.get("text")))
            if text:
                name = "stderr" if out.get("name") == "stderr" else "stdout"
                kept.append(nbformat.v4.new_output("stream", name=name, text=text))
        elif kind in ("execute_result", "display_data"):
            data = out.get("data") if isinstance(out.get("data"), dict) else {}
            clean = {}
            for mime in IMAGE_TYPES:
                image = _base64(data.get(mime))
                if image and len(image) <= image_left:
                    clean[mime] = image
                    image_left -= len(image)
                    break
                if image:
                    left_out.add(f"{mime} (over the {IMAGE_CAP // 1_000_000} MB of images shown per cell)")
            if "text/plain" in data:
                text = take(_text(data["text/plain"]))
                if text:
                    clean["text/plain"] = text
            left_out.update(_text(mime)[:80] for mime in data if mime not in ("text/plain", *IMAGE_TYPES))
            if clean:
                kept.append(nbformat.v4.new_output("display_data", data=clean))
        elif kind == "error":
            lines = out.get("traceback") if isinstance(out.get("traceback"), list) else []
            text = take("\n".join(_text(line) for line in lines)
                        or f"{_text(out.get('ename'))}: {_text(out.get('evalue'))}")
            if text:
                kept.append(nbformat.v4.new_output("error", ename="", evalue="", traceback=[text]))
        elif kind is not None:
            left_out.add(f"an output of type {_text(kind)[:40]}")
    notes = []
    if cut:
        notes.append(f"[... {cut} more characters of output not shown: {TEXT_CAP} are shown per cell]")
    if left_out:
        shown = sorted(left_out)
        notes.append(f"[not shown in feedback: {', '.join(shown[:10])}{' ...' if len(shown) > 10 else ''}]")
    if notes:
        kept.append(nbformat.v4.new_output("stream", name="stderr", text="\n".join(notes) + "\n"))
    return kept


def _base64(value) -> str | None:
    """Image data only when it is plain base64 (it goes into an ``src`` attribute)."""
    text = "".join(_text(value).split())
    return text if text and _BASE64.match(text) else None
