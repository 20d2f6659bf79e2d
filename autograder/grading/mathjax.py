"""MathJax for the feedback pages: the book's own copy (3.2.2, PyPI package sphinx-mathjax-offline), inlined.

A feedback page is one file, opened from disk, from an LMS or from the
folder that ``nbgrader release_feedback`` copies (the page's own folder, no
other), often with no network.  So MathJax comes neither from a CDN nor from
a copy shared between pages: each page that shows maths carries it, as one
inline script (:func:`script`) holding :data:`CONFIG`, the combined component
``tex-svg-full.js`` (TeX with every extension built in, since the book's
on-demand loading cannot work offline; SVG output, glyphs drawn as paths, so
no font file to load) and ``ui/safe.js``, MathJax's filter for untrusted
TeX.  The page's Content-Security-Policy (:func:`csp`) lets that one script
run, by its hash, and nothing load.

Student text is untrusted.  The TeX extensions that load code, make links,
classes, ids or styles, or change MathJax's options are left out
(``require``, ``autoload``, ``html`` with ``\\href``, ``\\class``,
``\\style`` and ``\\cssId``, ``setoptions``), and the safe filter removes
every URL, class, id and style from what remains (``\\mmlToken`` and
``\\bbox`` can set them).  Only markdown cells are typeset: code, outputs and
the grader's messages show TeX as it was typed.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from importlib.metadata import distribution

MATHJAX = distribution("sphinx-mathjax-offline").locate_file("sphinx-mathjax-offline/static/mathjax")
COMPONENTS = ("tex-svg-full.js", "ui/safe.js")  # one script: safe.js must run before MathJax starts up

CONFIG = {
    "tex": {
        "inlineMath": [["$", "$"], ["\\(", "\\)"]],  # as in Jupyter; the book's `$` arrives as \( \) from MyST
        "displayMath": [["$$", "$$"], ["\\[", "\\]"]],
        "processEscapes": True,  # \$ is a dollar sign
        "packages": {"[-]": ["require", "autoload", "html", "setoptions"]},
    },
    "options": {
        "enableMenu": False,  # its renderer and accessibility items load more components: the page cannot
        "safeOptions": {"allow": {"URLs": "none", "classes": "none", "cssIDs": "none", "styles": "none"}},
    },
    "startup": {"elements": [".text_cell_render"]},  # markdown cells only
}
# What starts maths in a markdown cell: the opening delimiters above, and \begin{...} (processEnvironments)
OPENERS = tuple({pair[0] for key in ("inlineMath", "displayMath") for pair in CONFIG["tex"][key]} | {"\\begin{"})


@functools.cache
def script_text() -> str:
    """The inline script: the configuration, then the components."""
    parts = [f"window.MathJax = {json.dumps(CONFIG)};"]
    parts += [(MATHJAX / name).read_text(encoding="utf-8") for name in COMPONENTS]
    text = "\n".join(parts)
    # '</script' would end the element early, and '<script' after '<!--' would keep it from ending
    if "<script" in text.lower() or "</script" in text.lower():
        raise ValueError(f"{MATHJAX}: a component contains '<script' or '</script' and cannot be inlined")
    return text


@functools.cache
def csp() -> str:
    """The page's Content-Security-Policy: the MathJax script (by hash), inline styles, data: images, no more."""
    digest = base64.b64encode(hashlib.sha256(script_text().encode("utf-8")).digest()).decode("ascii")
    return (f"default-src 'none'; script-src 'sha256-{digest}'; style-src 'unsafe-inline'; img-src data:; "
            "base-uri 'none'; form-action 'none'")


def script() -> str:
    """The ``<script>`` element that typesets the page's markdown cells."""
    return f"<script>{script_text()}</script>"


@functools.cache
def script_bytes() -> bytes:
    """:func:`script` in UTF-8, encoded once: every page's 2 MB copy is written from it."""
    return script().encode("utf-8")


def needed(markdown: str) -> bool:
    """Whether ``markdown`` may hold maths (a dollar sign in plain text is a false alarm, and harmless)."""
    return any(opener in markdown for opener in OPENERS)
