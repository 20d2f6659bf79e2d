"""The book as one PDF (tools/book_pdf.py, ``make pdf``), printed from the built book by Chromium.

The PDF is printed once per module from the book the session built
(``built_book``, on the worker that builds it) and then read back with
pypdf (its text with PDFium, through pypdfium2, where that is installed: the
same text in 1.5 s instead of pypdf's 27 s): every page of ``_toc.yml`` is
there under its title with a bookmark,
no cross-reference is left unresolved ("??"), every figure of the HTML is
an image of the PDF, every widget shows its initial frame (the frame its
sliders start on, pixel for pixel) with its caption, and no raw TeX is
left where MathJax should have typeset it.

Needs ``/usr/bin/chromium`` and the Playwright client, like
tests/test_browser.py; without them the tests are skipped, with the reason.
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path
from urllib.parse import urljoin

import pytest
from book_support import BIBLIOGRAPHY_DOC, HTML, article, built_book, page_path, toc_docnames

from tools import book_pdf

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("book")]

DOCS = toc_docnames()
RAW_TEX = re.compile(r"\$\$|\\(frac|begin|end|mathbf|sum|left|right|\(|\[)")
UNRESOLVED = "??"
# a frame and its printed copy differ by at most this much per channel: Chromium embeds images losslessly
# (Flate), so the two are the same pixels; a different frame of the same widget differs far more
MAX_PIXEL_DIFFERENCE = 2


def squeeze(text: str) -> str:
    """Text without any whitespace and with ligatures spelled out (NFKC: "ﬁ" is "fi"): a PDF's extracted
    text breaks lines and words where the paper did, and the fonts print "fi" as one glyph."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


class PrintedBook:
    """The printed PDF, read back: text and images of each toc document's pages."""

    def __init__(self, result: book_pdf.Book):
        from pypdf import PdfReader

        self.result = result
        self.reader = PdfReader(result.path)
        self.texts = page_texts(result.path)
        starts = [start for _, start in result.chapters] + [len(self.reader.pages)]
        self.pages = {doc: range(starts[i], starts[i + 1]) for i, doc in enumerate(DOCS)}

    def text(self, doc: str) -> str:
        return "\n".join(self.texts[i] for i in self.pages[doc])

    def images(self, doc: str) -> list[PrintedImage]:
        """Every image drawn on the document's pages (read from the page resources; decoded on demand)."""
        return [image for i in self.pages[doc] for image in _page_images(i, self.reader.pages[i]["/Resources"])]


def page_texts(path: Path) -> list[str]:
    """The text of each page of the PDF: with PDFium (pypdfium2) where it is installed, else with pypdf."""
    try:
        import pypdfium2
    except ImportError:
        from pypdf import PdfReader

        return [page.extract_text() or "" for page in PdfReader(path).pages]
    document = pypdfium2.PdfDocument(path)
    texts = []
    try:
        for number in range(len(document)):
            page = document[number]
            text = page.get_textpage()
            texts.append(text.get_text_range())
            text.close()
            page.close()
    finally:
        document.close()
    return texts


class PrintedImage:
    def __init__(self, page: int, xobject):
        self.page = page
        self.size = (int(xobject["/Width"]), int(xobject["/Height"]))
        self.xobject = xobject

    def pixels(self):
        """The image as an RGB array (int16, so that differences do not wrap)."""
        import numpy as np

        return np.asarray(self.xobject.decode_as_image().convert("RGB"), dtype=np.int16)


def _page_images(page: int, resources) -> list[PrintedImage]:
    """The image XObjects of a page, including those inside its form XObjects."""
    found = []
    for ref in (resources or {}).get("/XObject", {}).values():
        xobject = ref.get_object()
        if xobject.get("/Subtype") == "/Image":
            found.append(PrintedImage(page, xobject))
        elif xobject.get("/Subtype") == "/Form":
            found += _page_images(page, xobject.get("/Resources"))
    return found


@pytest.fixture(scope="module")
def printed(tmp_path_factory) -> PrintedBook:
    html = built_book()
    try:
        result = book_pdf.build(html, tmp_path_factory.mktemp("pdf") / "book.pdf", progress=False)
    except book_pdf.BrowserMissing as error:
        pytest.skip(str(error))
    print(f"book.pdf: {result.pages} pages, {result.bytes / 1e6:.1f} MB, printed in {result.seconds:.0f} s")
    return PrintedBook(result)


def html_title(doc: str) -> str:
    heading = article(page_path(doc)).find("h1")
    assert heading is not None, f"{doc}: the page has no <h1> title"
    return heading.get_text(" ", strip=True).rstrip("#").strip()


def test_one_bookmark_per_page_of_the_toc_in_reading_order(printed):
    outline = printed.reader.outline
    titles = [item.title for item in outline]
    assert titles == [html_title(doc) for doc in DOCS], "the PDF's bookmarks are not the toc's pages, in order"
    pages = [printed.reader.get_destination_page_number(item) for item in outline]
    assert pages == [start for _, start in printed.result.chapters] and pages == sorted(pages), pages
    assert pages[0] == 0 and len(set(pages)) == len(pages), f"bookmarks do not open distinct pages: {pages}"


@pytest.mark.parametrize("doc", DOCS)
def test_every_page_title_is_printed_on_its_first_page(printed, doc):
    title = html_title(doc)
    first = printed.texts[printed.pages[doc][0]]
    assert squeeze(title) in squeeze(first), f"{doc}: its title {title!r} is not on its first PDF page"


@pytest.mark.parametrize("doc", DOCS)
def test_no_unresolved_reference_and_no_raw_tex(printed, doc):
    text = printed.text(doc)
    assert UNRESOLVED not in text, f"{doc}: unresolved reference {UNRESOLVED!r} in the PDF: " + text[
        max(0, text.index(UNRESOLVED) - 80) : text.index(UNRESOLVED) + 80
    ]
    raw = RAW_TEX.search(text)
    assert raw is None, f"{doc}: TeX left untypeset in the PDF: {text[max(0, raw.start() - 60) : raw.end() + 60]!r}"


@pytest.mark.parametrize("doc", DOCS)
def test_every_figure_of_the_page_is_an_image_of_the_pdf(printed, doc):
    figures = article(page_path(doc)).find_all("img")
    images = printed.images(doc)
    assert len(images) >= len(figures), (
        f"{doc}: the HTML page shows {len(figures)} images, its PDF pages hold {len(images)}"
    )
    for img in figures:  # each static figure by its pixels, the widgets below
        if "nnref-frame" in (img.get("class") or []):
            continue
        assert _found(_html_image(doc, img.get("src", "")), images) is not None, (
            f"{doc}: figure {img.get('alt', '')[:60]!r} ({img.get('src', '')[:60]}) is not in the PDF"
        )


def _html_image(doc: str, src: str):
    from PIL import Image

    assert src and not src.startswith("data:") and "://" not in src, f"{doc}: unexpected image source {src[:60]!r}"
    path = HTML / urljoin(f"{doc}.html", src)
    assert path.is_file(), f"{doc}: image {src} is not in the built site"
    return Image.open(path)


def _found(wanted, images: list[PrintedImage]) -> int | None:
    """The page of the PDF image with the same pixels as ``wanted`` (a PIL image), or None."""
    import numpy as np

    target = np.asarray(wanted.convert("RGB"), dtype=np.int16)
    for image in images:
        if image.size == wanted.size and np.abs(image.pixels() - target).max() <= MAX_PIXEL_DIFFERENCE:
            return image.page
    return None


def _initial_frame(doc: str, twin) -> Path:
    """The frame file a widget starts on: the one its sliders' initial values name."""
    key = "-".join(slider["value"] for slider in twin.select("input[type=range]"))
    url = twin.get("data-frames-url")
    assert url, f"{doc}: widget {twin.get('id')} has no data-frames-url"
    return HTML / urljoin(f"{doc}.html", f"{url}{key}.{twin.get('data-frame-ext', 'webp')}")


@pytest.mark.parametrize("doc", DOCS)
def test_every_widget_is_printed_as_its_initial_frame_with_its_caption(printed, doc):
    from PIL import Image

    images = printed.images(doc)
    for twin in article(page_path(doc)).select("figure.nnref-twin"):
        frame = _initial_frame(doc, twin)
        assert frame.is_file(), f"{doc}: widget {twin.get('id')}: no initial frame file {frame}"
        page = _found(Image.open(frame), images)
        assert page is not None, f"{doc}: widget {twin.get('id')} is not printed as its initial frame {frame.name}"
        figure = twin.find_parent("figure", class_="nnref-widget") or twin
        caption = figure.find_all("figcaption")[-1].get_text(" ", strip=True).rstrip("#")
        nearby = squeeze(" ".join(printed.texts[page : page + 2]))
        assert squeeze(caption)[:80] in nearby, (
            f"{doc}: widget {twin.get('id')}: its caption {caption[:80]!r} is not printed with its frame "
            f"(PDF page {page + 1})"
        )
        values = [json.loads(s["data-labels"])[int(s["value"])] for s in twin.select("input[type=range]")]
        assert all(squeeze(v) in nearby for v in values), (
            f"{doc}: widget {twin.get('id')}: the initial values {values} of its controls are not printed"
        )


def test_links_lead_inside_the_pdf_or_to_the_web(printed):
    """A link between pages of the site (a citation, a figure or section of another chapter) opens its
    target inside the PDF; no link is left pointing at the server the pages were printed from."""
    number = {page.indirect_reference.idnum: i for i, page in enumerate(printed.reader.pages)}
    bibliography = printed.pages[BIBLIOGRAPHY_DOC]
    inside, to_bibliography, stray = 0, 0, []
    for i, page in enumerate(printed.reader.pages):
        for ref in page.get("/Annots") or []:
            link = ref.get_object()
            if link.get("/Subtype") != "/Link":
                continue
            if "/Dest" in link:
                target = number.get(link["/Dest"][0].idnum)
                assert target is not None, f"PDF page {i + 1}: a link leads to no page of the PDF"
                inside += 1
                to_bibliography += target in bibliography and i not in bibliography
            else:
                uri = str(link["/A"].get_object().get("/URI", ""))
                if not uri.startswith(("https://", "http://")) or "127.0.0.1" in uri:
                    stray.append(f"PDF page {i + 1}: {uri}")
    assert not stray, f"links that lead nowhere outside the site: {stray[:5]}"
    assert inside and to_bibliography, (
        f"{inside} links inside the PDF, {to_bibliography} of them citations leading to the bibliography"
    )


def test_pdf_is_written_where_asked_and_reports_its_size(printed):
    result = printed.result
    assert result.path.is_file() and result.bytes == result.path.stat().st_size > 0
    assert result.pages == len(printed.reader.pages) >= len(DOCS)
