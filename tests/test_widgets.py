"""The two twins of every interactive figure (nnref/book/widgets.py), driven from Python.

* the live twin: an ``ipywidgets.interactive``; moving each slider redraws
  exactly what ``draw`` gives for the new values;
* the kernel-free twin: one precomputed frame per combination of values,
  distinct values giving distinct frames, the sliders starting where
  ``initial`` says;
* every ``explore(`` call in a chapter became a twin in the built book, which
  tests/test_browser.py then moves slider by slider in Chromium.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import itertools
import json
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from book_support import ROOT, built_book, chapter_sources, page_path, soup, toc_docnames  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402

CONTROLS = {"slope": [0.5, 1.0, 2.0], "shift": [-1.0, 0.0, 1.0, 2.0]}
EXPLORE_CALL = re.compile(r"(?<![\w])explore\s*\(")
CODE_CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```", re.S | re.M)


@pytest.fixture(scope="module")
def widgets():
    return importlib.import_module("nnref.book.widgets")


def draw(slope, shift):
    """A line whose slope and height follow the two controls."""
    fig, ax = plt.subplots(figsize=(2, 1.5))
    x = np.linspace(-1, 1, 20)
    ax.plot(x, slope * x + shift)
    ax.set_ylim(-4, 4)
    return fig


def pixels(fig) -> np.ndarray:
    """The figure rendered to RGBA (a fresh Agg canvas: pyplot may have closed it)."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy()


def decoded(frame_base64: str) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(base64.b64decode(frame_base64))).convert("RGB"))


def sliders_of(widget) -> dict:
    return {child.description: child for child in widget.children if hasattr(child, "options")}


def test_live_twin_redraws_when_each_slider_moves(widgets, capsys):
    widget = widgets.live(draw, CONTROLS)
    sliders = sliders_of(widget)
    assert set(sliders) == set(CONTROLS), f"sliders {list(sliders)}, controls {list(CONTROLS)}"
    values = {name: CONTROLS[name][0] for name in CONTROLS}
    assert np.array_equal(pixels(widget.result), pixels(draw(**values))), "the first figure is not draw(first values)"
    for name, slider in sliders.items():
        before = pixels(widget.result)
        values[name] = CONTROLS[name][-1]
        slider.value = values[name]
        after = pixels(widget.result)
        assert not np.array_equal(before, after), f"moving {name!r} to {values[name]} left the figure unchanged"
        assert np.array_equal(after, pixels(draw(**values))), f"after moving {name!r} the figure is not draw({values})"
    plt.close("all")


def test_live_twin_starts_at_initial(widgets, capsys):
    widget = widgets.live(draw, CONTROLS, initial={"shift": 2.0})
    sliders = sliders_of(widget)
    assert sliders["shift"].value == 2.0 and sliders["slope"].value == 0.5
    assert np.array_equal(pixels(widget.result), pixels(draw(slope=0.5, shift=2.0)))
    plt.close("all")


def _twin(html_text: str):
    from bs4 import BeautifulSoup

    return BeautifulSoup(html_text, "html.parser").select_one("figure.nnref-twin")


def test_static_twin_has_one_distinct_frame_per_combination(widgets):
    twin = _twin(widgets.static_html(draw, CONTROLS, alt="a line", caption="move the sliders"))
    frames = json.loads(twin.select_one("script.nnref-frames").string)
    combos = {",".join(map(str, i)) for i in itertools.product(range(3), range(4))}
    assert set(frames) == combos, f"frame keys {sorted(frames)}, expected {sorted(combos)}"
    assert len(set(frames.values())) == len(combos), "two different combinations of values gave the same frame"
    for key, encoded in frames.items():
        height, width = decoded(encoded).shape[:2]
        assert height > 50 and width > 50, f"frame {key} is a {width}x{height} image"
    # draw() makes a 2 x 1.5 inch figure: stored at SCALE times the displayed resolution
    img = twin.select_one("img.nnref-frame")
    assert int(img["width"]) * widgets.SCALE == width, f"frame {width} px wide, displayed {img['width']} px"
    assert widgets.SCALE >= 2, "frames must be sharp on high-density screens (2x)"


def test_frames_are_compact_and_faithful(widgets):
    """A frame is a WebP with a small palette, at least twice as small as the PNG of
    the same figure, and looks the same: no pixel of the palette version is off by
    more than 12 of 255 in any channel on average (the palette only rounds the
    antialiased edges)."""
    from PIL import Image

    encoded = widgets.frames(draw, {"slope": [2.0], "shift": [1.0]})["0,0"]
    raw = base64.b64decode(encoded)
    assert raw[:4] == b"RIFF" and raw[8:12] == b"WEBP", "frames must be WebP"
    png = io.BytesIO()
    draw(2.0, 1.0).savefig(png, format="png", dpi=widgets.DPI * widgets.SCALE, bbox_inches="tight", facecolor="white")
    plt.close("all")
    reference = np.asarray(Image.open(png).convert("RGB"), dtype=float)
    ours = decoded(encoded).astype(float)
    assert ours.shape == reference.shape, f"frame {ours.shape}, figure {reference.shape}"
    assert np.abs(ours - reference).mean() < 12, "the frame does not look like the figure"
    assert len(raw) * 2 <= len(png.getvalue()), f"frame {len(raw)} bytes, the PNG {len(png.getvalue())}"


def test_static_twin_frame_is_what_draw_gives(widgets):
    """Each frame is the image that draw() makes for its combination (same renderer, same settings)."""
    frames = widgets.frames(draw, CONTROLS)
    for (i, slope), (j, shift) in itertools.product(enumerate(CONTROLS["slope"]), enumerate(CONTROLS["shift"])):
        expected = widgets.frame_bytes(draw(slope, shift))
        assert base64.b64decode(frames[f"{i},{j}"]) == expected, f"frame {i},{j} is not draw({slope}, {shift})"


def test_static_twin_sliders_and_initial(widgets):
    html_text = widgets.static_html(draw, CONTROLS, alt="a line", caption="move", initial={"slope": 2.0, "shift": 0.0})
    twin = _twin(html_text)
    inputs = {i["data-name"]: i for i in twin.select("input[type=range]")}
    assert list(inputs) == list(CONTROLS)
    for name, values in CONTROLS.items():
        assert inputs[name]["max"] == str(len(values) - 1)
        assert json.loads(inputs[name]["data-labels"]) == [f"{v:g}" for v in values]
    assert inputs["slope"]["value"] == "2" and inputs["shift"]["value"] == "1"
    frames = json.loads(twin.select_one("script.nnref-frames").string)
    assert twin.select_one("img.nnref-frame")["src"] == "data:image/webp;base64," + frames["2,1"]
    assert twin.select_one("img.nnref-frame")["alt"] == "a line"
    assert twin.select_one("figcaption").get_text() == "move"
    assert widgets.static_html(draw, CONTROLS, alt="a line", caption="move") == widgets.static_html(
        draw, CONTROLS, alt="a line", caption="move"
    ), "the same figure must give the same HTML (stable ids, no churn in rebuilt pages)"
    plt.close("all")


def test_too_many_frames_is_refused_before_drawing(widgets):
    calls = []

    def counting(**params):
        calls.append(params)
        return draw(1.0, 0.0)

    too_many = {"a": list(range(11)), "b": list(range(11))}
    with pytest.raises(ValueError, match=r"121 frames requested \(a: 11 x b: 11\)"):
        widgets.static_html(counting, too_many, alt="x", caption="y")
    assert not calls, "draw was called before the frame limit was checked"


@pytest.mark.parametrize(
    ("controls", "initial", "message"),
    [
        ({"a": []}, None, "control 'a' needs a non-empty list"),
        ({"a": 3}, None, "control 'a' needs a non-empty list"),
        ({}, None, "at least one control"),
        ({"a": [1, 2]}, {"a": 5}, r"initial value 5 of control 'a' is not one of its values \[1, 2\]"),
        ({"a": [1, 2]}, {"b": 1}, r"initial names \['b'\], which are not controls"),
    ],
)
def test_bad_controls_are_named(widgets, controls, initial, message):
    with pytest.raises(ValueError, match=message):
        widgets.static_html(lambda **p: draw(1.0, 0.0), controls, alt="x", caption="y", initial=initial)
    with pytest.raises(ValueError, match=message):
        widgets.live(lambda **p: draw(1.0, 0.0), controls, initial=initial)
    plt.close("all")


def test_draw_must_return_a_figure(widgets):
    with pytest.raises(TypeError, match=r"draw\(a=1\) returned NoneType; it must return a matplotlib Figure"):
        widgets.frames(lambda a: None, {"a": [1]})


@pytest.mark.parametrize(("alt", "caption"), [("", "c"), ("a", "  "), (None, "c")])
def test_alt_and_caption_are_required(widgets, alt, caption):
    with pytest.raises(ValueError, match="alt text is required|a caption is required"):
        widgets.static_html(draw, CONTROLS, alt=alt, caption=caption)


def test_explore_shows_the_right_twin(widgets, monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    monkeypatch.setenv("NNREF_BOOK_BUILD", "1")
    line = lambda slope: draw(slope, 0.0)  # noqa: E731
    assert widgets.explore(line, alt="a line", caption="move", slope=[1.0, 2.0]) is None
    assert len(shown) == 1 and 'class="nnref-twin"' in shown[0].data, "the book build must show the static twin"

    shown.clear()
    monkeypatch.delenv("NNREF_BOOK_BUILD")
    assert widgets.explore(line, alt="a line", caption="move", slope=[1.0, 2.0]) is None
    box = shown[-1]
    assert type(box).__name__ == "VBox", f"Jupyter must show the live widget, got {type(box).__name__}"
    live, caption = box.children
    assert sliders_of(live)["slope"].options == (("1", 1.0), ("2", 2.0))
    assert "move" in caption.value
    plt.close("all")


@pytest.mark.slow
@pytest.mark.xdist_group("book")
def test_every_explore_call_is_a_twin_in_the_built_book():
    """Each explore( in a chapter's code cells is a figure.nnref-twin on its built page,
    which the browser test visits (it visits every page of _toc.yml)."""
    built_book()
    sources = chapter_sources()
    assert set(sources) <= set(toc_docnames())
    for doc, text in sources.items():
        code = "\n".join(CODE_CELL.findall(text))
        calls = [m for m in EXPLORE_CALL.finditer(code) if not code[max(m.start() - 4, 0) : m.start()] == "def "]
        twins = soup(page_path(doc)).select("figure.nnref-twin")
        assert len(twins) >= len(calls), (
            f"{doc}: {len(calls)} explore( call(s) in the source, {len(twins)} twin(s) built"
        )
        for twin in twins:
            sizes = [int(i["max"]) + 1 for i in twin.select("input[type=range]")]
            folder = page_path(doc).parent / twin["data-frames-url"]
            frames = sorted(folder.glob("*." + twin["data-frame-ext"]))
            assert sizes and len(frames) == int(np.prod(sizes)), (
                f"{doc}: twin {twin.get('id')} has sliders of sizes {sizes} but {len(frames)} frames in {folder}"
            )
            assert not twin.select("script.nnref-frames"), f"{doc}: twin {twin.get('id')} still has inline frames"
            caption = twin.find_parent("figure", class_="nnref-widget")
            assert caption is not None and caption.select_one("figcaption .caption-number"), (
                f"{doc}: twin {twin.get('id')} is not a numbered figure"
            )


@pytest.fixture(scope="module")
def book_fixes():
    spec = importlib.util.spec_from_file_location("book_fixes", ROOT / "book" / "_ext" / "book_fixes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bookkeeping_is_cut_from_the_shown_code_only(book_fixes):
    source = (
        "from myst_nb import glue\n\nx = 1\nglue('x', x, display=False)\n"
        "for k in range(3):\n    glue(f'k{k}', k,\n         display=False)\n"
        "for k in range(3):\n    print(k)\n    glue('k', k, display=False)\nprint(x)  # glue( in a comment stays\n"
    )
    assert book_fixes.without_bookkeeping(source) == (
        "x = 1\nfor k in range(3):\n    print(k)\nprint(x)  # glue( in a comment stays"
    )
    assert book_fixes.without_bookkeeping("%timeit f()\nglue('a', 1)") == "%timeit f()\nglue('a', 1)", (
        "a cell that is not plain Python is left alone"
    )


def test_twin_frames_move_to_files_and_the_download_keeps_a_still(widgets, book_fixes, tmp_path):
    html_text = widgets.static_html(draw, CONTROLS, alt="a line", caption="move", initial={"slope": 2.0})
    app = type("App", (), {"outdir": str(tmp_path)})()
    context = {"body": f"<p>before</p>{html_text}<p>after</p>", "pathto": lambda uri, resource: "../" + uri}
    book_fixes.externalise_twin_frames(app, "book/x", None, context, None)
    twin = _twin(context["body"])
    uid = twin["id"]
    assert twin.select_one("script.nnref-frames") is None, "the frames are still inline"
    assert twin["data-frames-url"] == f"../_twins/{uid}/"
    files = sorted(p.name for p in (tmp_path / "_twins" / uid).iterdir())
    assert files == sorted(f"{i}-{j}.webp" for i in range(3) for j in range(4)), files
    img = twin.select_one("img.nnref-frame")
    assert img["src"] == f"../_twins/{uid}/2-0.webp" and img["loading"] == "lazy", img
    frames = json.loads(_twin(html_text).select_one("script.nnref-frames").string)
    assert (tmp_path / "_twins" / uid / "1-3.webp").read_bytes() == base64.b64decode(frames["1,3"])

    still = _twin(book_fixes.still_twin(html_text))
    assert not still.select("input, script"), "the downloaded notebook's twin keeps sliders or scripts"
    assert still.select_one("img.nnref-frame")["src"].endswith(frames["2,0"])
    assert still.select_one("figcaption").get_text() == "move"
    plt.close("all")
