"""Interactive figures that work live in Jupyter and without a kernel in the HTML book.

A chapter writes one plotting function ``draw(**params) -> matplotlib Figure``
and calls ``explore(draw, alt=..., caption=..., lr=[0.01, 0.1, 0.5], ...)``:

* in Jupyter it becomes an ``ipywidgets.interactive`` with a slider per
  control, the caption underneath;
* in the book build (``NNREF_BOOK_BUILD=1``, set by ``make book``) it renders
  ``draw`` once per combination of control values and emits a self-contained
  HTML figure (``<figure class="nnref-twin">``): sliders, the precomputed
  frames and a few lines of JavaScript that swap the image.  No kernel, no
  server.  The fragment is self-contained (the frames are inline, so the
  executed notebook shows them too); in the HTML book the extension
  book/_ext/book_fixes.py moves the frames into image files that the page
  loads only when the figure comes into view.

Frames are drawn at twice the figure's resolution (sharp on high-density
screens) and displayed at its size, quantised to a small palette and stored
as lossless WebP: plots have few colours, so this is several times smaller
than PNG and looks the same.  ``book_style`` gives the chapters' own figures
the same treatment and sets text sizes that stay legible in the column: a
figure drawn wider than ``MAX_WIDTH_IN`` is shrunk to it (``fit_to_column``),
so that once scaled to the column its smallest text is still ``MIN_TEXT_PX``.

Both twins call the same ``draw``, so they cannot drift apart.  The browser
test (tests/test_browser.py) moves every slider of every twin in the built
book and fails when the picture does not change.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import itertools
import json
import math
import os

import matplotlib as mpl

# No backend is forced here: the frames are drawn with savefig, which works
# under any backend, and the chapter's own figures keep the kernel's inline one.
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

MAX_FRAMES = 120
DPI = 100  # CSS pixels per inch of a figure as displayed
SCALE = 2  # image pixels per CSS pixel: frames and figures are stored at DPI * SCALE
COLOURS = 64  # palette of a frame; a plot uses far fewer, its antialiased edges a few dozen more
FRAME_FORMAT = "webp"
MIN_FONT_PT = 11  # the smallest text any figure of the book may use; at DPI 100 that is 15 CSS px unscaled
MIN_TEXT_PX = 11  # the smallest text a reader sees, in CSS pixels, once a figure is scaled to the column
# width of the book's text column in a 1280 px wide window (sphinx-book-theme): 672 px, and
# 656 px inside a widget's figure, the narrower of the two
COLUMN_PX = 656
# The widest a figure may be drawn, in inches: shown in the column, its MIN_FONT_PT text is MIN_TEXT_PX.
MAX_WIDTH_IN = COLUMN_PX * (MIN_FONT_PT * DPI / 72) / MIN_TEXT_PX / DPI
TIGHT_PAD_IN = 0.1  # matplotlib's savefig.pad_inches: the margin bbox_inches="tight" adds on each side

# Read by book_style; every size is at least MIN_FONT_PT.
STYLE = {
    "figure.dpi": DPI,
    "figure.facecolor": "white",
    "savefig.dpi": DPI * SCALE,
    "font.size": MIN_FONT_PT,
    "axes.titlesize": MIN_FONT_PT + 1,
    "axes.labelsize": MIN_FONT_PT,
    "xtick.labelsize": MIN_FONT_PT,
    "ytick.labelsize": MIN_FONT_PT,
    "legend.fontsize": MIN_FONT_PT,
    "legend.title_fontsize": MIN_FONT_PT,
    "figure.titlesize": MIN_FONT_PT + 2,
}


def _drawn_width_in(fig: Figure) -> float:
    """Width in inches of ``fig`` saved with ``bbox_inches="tight"``: what is drawn, which
    labels or a legend outside the axes can make wider than the figure."""
    return fig.get_tightbbox(fig.canvas.get_renderer()).width + 2 * TIGHT_PAD_IN


def fit_to_column(fig: Figure) -> Figure:
    """Shrink ``fig`` (keeping its proportions) until what is drawn is at most ``MAX_WIDTH_IN``
    wide, so that its smallest text is still ``MIN_TEXT_PX`` once the book scales it to the
    column.  Text keeps its size as the figure shrinks, so this takes a few steps."""
    for _ in range(5):
        drawn = _drawn_width_in(fig)
        if drawn <= MAX_WIDTH_IN:
            break
        width, height = fig.get_size_inches()
        scale = MAX_WIDTH_IN / drawn * 0.99
        fig.set_size_inches(width * scale, height * scale)
    return fig


def book_style() -> None:
    """Figures of a chapter as the book shows them: text of at least ``MIN_FONT_PT``,
    drawn at ``SCALE`` times the displayed resolution (Jupyter's "retina" PNG), and
    no wider than ``MAX_WIDTH_IN`` (``fit_to_column``)."""
    mpl.rcParams.update(STYLE)
    try:
        from IPython import get_ipython
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:  # plain Python: nothing is displayed inline
        return
    set_matplotlib_formats("retina")
    shell = get_ipython()
    if shell is None:
        return
    png = shell.display_formatter.formatters["image/png"]
    retina = png.lookup_by_type(Figure)
    png.for_type(Figure, lambda fig: retina(fit_to_column(fig)))


def in_book_build() -> bool:
    """True while ``make book`` executes the chapters."""
    return bool(os.environ.get("NNREF_BOOK_BUILD"))


def _figure(draw, params: dict) -> Figure:
    fig = draw(**params)
    if not isinstance(fig, Figure):
        raise TypeError(
            f"draw({', '.join(f'{k}={v!r}' for k, v in params.items())}) returned "
            f"{type(fig).__name__}; it must return a matplotlib Figure (end it with `return fig`)"
        )
    return fig


def frame_bytes(fig: Figure) -> bytes:
    """One frame: ``fig`` (``fit_to_column``) at ``SCALE`` x its displayed size, palette-quantised,
    lossless WebP."""
    from PIL import Image

    buffer = io.BytesIO()
    fit_to_column(fig)
    fig.savefig(buffer, format="png", dpi=DPI * SCALE, bbox_inches="tight", facecolor="white")
    plt.close(fig)
    image = Image.open(buffer).convert("RGB").quantize(COLOURS)
    out = io.BytesIO()
    image.save(out, format=FRAME_FORMAT, lossless=True, method=4)
    return out.getvalue()


def _encoded(fig: Figure) -> str:
    return base64.b64encode(frame_bytes(fig)).decode("ascii")


def displayed_size(frame_base64: str) -> tuple[int, int]:
    """(width, height) in CSS pixels at which a frame is shown: its pixel size over ``SCALE``."""
    from PIL import Image

    width, height = Image.open(io.BytesIO(base64.b64decode(frame_base64))).size
    return round(width / SCALE), round(height / SCALE)


def _label(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _check_controls(controls: dict) -> dict:
    """Each control as a non-empty list of values; the frame count bounded."""
    if not controls:
        raise ValueError("explore needs at least one control, e.g. lr=[0.01, 0.1, 1.0]")
    checked = {}
    for name, values in controls.items():
        if not isinstance(values, (list, tuple)) or len(values) == 0:
            raise ValueError(f"control {name!r} needs a non-empty list of values, got {values!r}")
        checked[name] = list(values)
    total = math.prod(len(v) for v in checked.values())
    if total > MAX_FRAMES:
        sizes = " x ".join(f"{n}: {len(v)}" for n, v in checked.items())
        raise ValueError(f"{total} frames requested ({sizes}); keep the product of control sizes <= {MAX_FRAMES}")
    return checked


def _check_text(alt: str, caption: str) -> None:
    """Every figure of the book has alt text and a caption."""
    if not isinstance(alt, str) or not alt.strip():
        raise ValueError(f"alt text is required (describe what the figure shows), got {alt!r}")
    if not isinstance(caption, str) or not caption.strip():
        raise ValueError(f"a caption is required (say what to look at), got {caption!r}")


def _start(controls: dict, initial: dict | None) -> dict:
    """Index of the starting value of each control (the first one unless ``initial`` says)."""
    initial = initial or {}
    unknown = set(initial) - set(controls)
    if unknown:
        raise ValueError(f"initial names {sorted(unknown)}, which are not controls; controls are {list(controls)}")
    start = {}
    for name, values in controls.items():
        if name not in initial:
            start[name] = 0
            continue
        matches = [i for i, v in enumerate(values) if v == initial[name]]
        if not matches:
            raise ValueError(f"initial value {initial[name]!r} of control {name!r} is not one of its values {values}")
        start[name] = matches[0]
    return start


def frames(draw, controls: dict) -> dict:
    """Every frame of the static twin: key "i,j,..." (indices into the control
    values, in the order of ``controls``) → base64 image (``frame_bytes``)."""
    controls = _check_controls(controls)
    names = list(controls)
    out = {}
    for index in itertools.product(*(range(len(controls[n])) for n in names)):
        params = {n: controls[n][i] for n, i in zip(names, index)}
        out[",".join(map(str, index))] = _encoded(_figure(draw, params))
    return out


def static_html(draw, controls: dict, *, alt: str, caption: str, initial: dict | None = None) -> str:
    """The kernel-free twin as one HTML fragment: ``<figure class="nnref-twin">``."""
    _check_text(alt, caption)
    controls = _check_controls(controls)
    start = _start(controls, initial)
    data = frames(draw, controls)
    # a stable id (same content, same id), so rebuilt pages do not churn
    uid = "twin-" + hashlib.sha1((alt + caption + json.dumps(data, sort_keys=True)).encode()).hexdigest()[:10]
    sliders = []
    for name, values in controls.items():
        i = start[name]
        labels = json.dumps([_label(v) for v in values])
        sliders.append(
            f'<label class="nnref-control">{html.escape(name)} '
            f'<input type="range" min="0" max="{len(values) - 1}" step="1" value="{i}" '
            f'data-name="{html.escape(name)}" data-labels="{html.escape(labels)}" '
            f'aria-label="{html.escape(name)}">'
            f"<output>{html.escape(_label(values[i]))}</output></label>"
        )
    first = data[",".join(str(start[n]) for n in controls)]
    width, height = displayed_size(first)
    mime = f"image/{FRAME_FORMAT}"
    # The script finds its own figure through document.currentScript, so two
    # twins on one page never interfere.  With data-frames-url (set by the
    # book's extension) frame "i,j" is the file <url>i,j.<ext>; otherwise the
    # frames are the inline JSON.
    return f"""<figure class="nnref-twin" id="{uid}" data-frame-ext="{FRAME_FORMAT}">
<div class="nnref-controls">{"".join(sliders)}</div>
<img class="nnref-frame" alt="{html.escape(alt)}" width="{width}" height="{height}" src="data:{mime};base64,{first}">
<figcaption>{html.escape(caption)}</figcaption>
<script type="application/json" class="nnref-frames">{json.dumps(data)}</script>
<script>
(function (root) {{
  var url = root.dataset.framesUrl;
  var inline = root.querySelector(".nnref-frames");
  var frames = inline ? JSON.parse(inline.textContent) : null;
  var inputs = root.querySelectorAll("input[type=range]");
  var img = root.querySelector("img.nnref-frame");
  function update() {{
    var key = [];
    inputs.forEach(function (input) {{
      key.push(input.value);
      var labels = JSON.parse(input.dataset.labels);
      input.nextElementSibling.textContent = labels[Number(input.value)];
    }});
    key = key.join(",");
    img.src = url ? url + key.split(",").join("-") + "." + root.dataset.frameExt
                  : "data:{mime};base64," + frames[key];
  }}
  inputs.forEach(function (input) {{ input.addEventListener("input", update); }});
}})(document.currentScript.parentElement);
</script>
</figure>"""


def live(draw, controls: dict, initial: dict | None = None):
    """The Jupyter twin: ``ipywidgets.interactive`` with one slider per control.

    The figure last drawn is ``widget.result``, so tests can move the sliders
    (``widget.children[i].value = ...``) and look at what was drawn.
    """
    import ipywidgets
    from IPython.display import display

    controls = _check_controls(controls)
    start = _start(controls, initial)
    sliders = {
        name: ipywidgets.SelectionSlider(
            options=[(_label(v), v) for v in values],
            value=values[start[name]],
            description=name,
            continuous_update=False,
        )
        for name, values in controls.items()
    }

    def show(**params):
        fig = _figure(draw, params)
        display(fig)
        plt.close(fig)
        return fig

    return ipywidgets.interactive(show, **sliders)


def explore(draw, *, alt: str, caption: str, initial: dict | None = None, **controls) -> None:
    """Show ``draw`` with a slider per control: live in Jupyter, static in the book.

    ``controls`` maps each keyword of ``draw`` to the list of values its
    slider offers (at most ``MAX_FRAMES`` combinations in all); ``initial``
    picks the starting values.  Displays the figure and returns None (use
    ``live`` to get the widget itself).
    """
    from IPython.display import HTML, display

    if in_book_build():
        display(HTML(static_html(draw, controls, alt=alt, caption=caption, initial=initial)))
        return
    import ipywidgets

    _check_text(alt, caption)
    widget = live(draw, controls, initial)
    display(ipywidgets.VBox([widget, ipywidgets.HTML(f"<p><em>{html.escape(caption)}</em></p>")]))
