"""The whole book as one PDF, printed from the built HTML by Chromium: ``make pdf``.

Every page that ``_toc.yml`` lists is opened, in reading order, from
``_build/html`` (served on 127.0.0.1; every request to another host is
refused, so the PDF is built offline) in Debian's Chromium, headless, driven
by Playwright.  Once MathJax has typeset the page and every image has
loaded, ``book/_static/print.css`` is added (no sidebars, navigation or
launch buttons; each widget as its initial frame with its controls' values
and its caption), display equations wider than the paper are scaled down to
fit, and the page is printed with ``page.pdf()``.  The pages are then merged
with pypdf into one file with a bookmark per chapter.  Links between pages
of the book become links inside the PDF; links to files that only exist on
the site (figure images, downloads) are dropped.

Maths, figures, numbered figures, theorems and cross-references come from
the HTML build, where Sphinx has already resolved them.

    python tools/book_pdf.py [--html _build/html] [--output _build/pdf/book.pdf]

tests/test_book_pdf.py checks the result.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import http.server
import io
import sys
import threading
import time
from html import escape
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: `python tools/book_pdf.py`
    sys.path.insert(0, str(ROOT))

from tools import toc  # noqa: E402

HTML = ROOT / "_build" / "html"
OUTPUT = ROOT / "_build" / "pdf" / "book.pdf"
PRINT_CSS = ROOT / "book" / "_static" / "print.css"

# Debian's Chromium, headless, as the browser tests launch it (tests/test_browser.py).
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

PAPER = "A4"
PAPER_WIDTH_MM = 210  # A4's
MARGIN_MM = {"top": 16, "right": 15, "bottom": 18, "left": 15}  # the footer is drawn in the bottom margin
WORKERS = 2  # pages printed at once, each by its own Chromium
# the width of the paper inside its margins, in CSS pixels (96 per inch): the page is laid out at this
# width before the wide equations are measured
PRINT_WIDTH_PX = round((PAPER_WIDTH_MM - MARGIN_MM["left"] - MARGIN_MM["right"]) / 25.4 * 96)
TIMEOUT_MS = 60_000
FOOTER = (
    '<div style="width:100%; font-size:8px; color:#666; padding:0 {right}mm 0 {left}mm; display:flex;'
    ' justify-content:space-between; font-family:sans-serif">'
    '<span>{title}</span><span><span class="pageNumber"></span> / <span class="totalPages"></span></span></div>'
)


class BrowserMissing(RuntimeError):
    """Chromium or the Playwright client is not installed."""


class PdfBuildError(RuntimeError):
    """A page of the book could not be printed; the message says which and why."""


@contextlib.contextmanager
def launched_chromium():
    """Debian's Chromium, headless, driven by Playwright (raises ``BrowserMissing`` with the fix)."""
    if not CHROMIUM.exists():
        raise BrowserMissing(
            f"{CHROMIUM} is missing: install Debian's chromium (as root: bash tools/install_browser.sh)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:
        raise BrowserMissing("the Playwright client is not installed (pip install -r requirements.txt)") from error
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # the progress bar stays readable
        pass


@contextlib.contextmanager
def served(html: Path):
    """``html`` served on 127.0.0.1 (a free port), for as long as the block runs: yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@dataclasses.dataclass
class PrintedPage:
    docname: str
    title: str
    pdf: bytes


@dataclasses.dataclass
class Book:
    path: Path
    pages: int  # PDF pages
    bytes: int
    seconds: float
    chapters: list[tuple[str, int]]  # (title, first PDF page, counted from 0), one per toc document


# Run in the page once it has loaded: every image loads now (the book loads images and widget frames
# lazily, when they scroll into view, and a printed page never scrolls); resolves when all are in.
_LOAD_IMAGES = """async () => {
  const images = Array.from(document.images);
  images.forEach(img => { img.loading = "eager"; });
  await Promise.all(images.map(img => img.complete ? null : img.decode().catch(() => null)));
  return images.filter(img => !img.complete || img.naturalWidth === 0).map(img => img.currentSrc || img.src);
}"""

# Run after print.css is in and the page is laid out at the paper's width: a display equation wider
# than the paper is scaled down (MathJax sizes everything in em) until it fits.
_FIT_EQUATIONS = """() => {
  let scaled = 0;
  document.querySelectorAll('mjx-container[display="true"]').forEach(box => {
    box.style.overflow = "visible";
    const wide = box.scrollWidth, room = box.clientWidth;
    if (room > 0 && wide > room + 1) {
      box.style.fontSize = (100 * room / wide).toFixed(1) + "%";
      scaled += 1;
    }
  });
  return scaled;
}"""


def _title(page) -> str:
    heading = page.locator("article.bd-article h1").first
    return heading.inner_text().strip().rstrip("#").strip()


def print_page(browser, base: str, docname: str, css: str) -> PrintedPage:
    """One page of the book as PDF bytes: loaded, typeset, with every image in, print.css applied."""
    from playwright.sync_api import Error as PlaywrightError

    problems: list[str] = []
    context = browser.new_context(viewport={"width": PRINT_WIDTH_PX, "height": 1000})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()

        def route(r):
            if r.request.url.startswith((base + "/", "data:", "blob:")):
                r.continue_()
            else:
                problems.append(f"request to the network refused: {r.request.url}")
                r.abort()

        def response(r):
            if r.status >= 400:
                problems.append(f"HTTP {r.status}: {r.url}")

        page.route("**/*", route)
        page.on("response", response)
        page.on("pageerror", lambda error: problems.append(f"uncaught exception: {error}"))
        page.emulate_media(media="print")
        try:
            page.goto(f"{base}/{docname}.html", wait_until="load")
            if page.locator(".math").count():
                page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
                page.evaluate("() => MathJax.startup.promise")
            missing = page.evaluate(_LOAD_IMAGES)
            problems += [f"image did not load: {src}" for src in missing]
            errors = page.locator("mjx-merror").all_inner_texts()
            problems += [f"MathJax error: {text}" for text in errors]
            page.add_style_tag(content=css)
            page.evaluate(_FIT_EQUATIONS)
            title = _title(page)
            pdf = page.pdf(
                format=PAPER,
                margin={side: f"{mm}mm" for side, mm in MARGIN_MM.items()},
                print_background=True,
                display_header_footer=True,
                header_template="<span></span>",
                footer_template=FOOTER.format(title=escape(title), **MARGIN_MM),
            )
        except PlaywrightError as error:
            raise PdfBuildError(f"{docname}: {error}") from error
    finally:
        context.close()
    if problems:
        raise PdfBuildError(f"{docname}: " + "; ".join(problems))
    return PrintedPage(docname, title, pdf)


def merge(printed: list[PrintedPage], base: str, output: Path) -> list[tuple[str, int]]:
    """One PDF from the printed pages, with a bookmark per page of the book and the links between pages
    turned into links inside the PDF; returns (title, first page) for each."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import ArrayObject, FloatObject, NameObject, NullObject

    writer = PdfWriter()
    starts: dict[str, int] = {}
    anchors: dict[tuple[str, str], tuple[int, float]] = {}  # (docname, id) -> (page, top)
    owner: list[str] = []  # docname of each page of the merged PDF
    chapters = []
    for item in printed:
        reader = PdfReader(io.BytesIO(item.pdf))
        start = len(writer.pages)
        starts[item.docname] = start
        for name, dest in reader.named_destinations.items():
            anchors[(item.docname, unquote(str(name).lstrip("/")))] = (
                start + reader.get_destination_page_number(dest), float(dest.top or 0))
        for page in reader.pages:
            writer.add_page(page)
            owner.append(item.docname)
        writer.add_outline_item(title=item.title, page_number=start)
        chapters.append((item.title, start))

    def target(docname: str, fragment: str):
        if fragment and (docname, fragment) in anchors:
            return anchors[(docname, fragment)]
        if docname in starts:
            return starts[docname], None
        return None

    for number, page in enumerate(writer.pages):
        annotations = page.get("/Annots")
        if annotations is None:
            continue
        kept = ArrayObject()
        for ref in annotations:
            annotation = ref.get_object()
            where = None
            if annotation.get("/Subtype") != "/Link":
                kept.append(ref)
                continue
            if "/Dest" in annotation:  # a link inside the page it was printed from
                where = target(owner[number], unquote(str(annotation["/Dest"]).lstrip("/")))
            else:
                action = annotation.get("/A")
                uri = str(action.get_object().get("/URI", "")) if action is not None else ""
                if not uri.startswith(base + "/"):
                    kept.append(ref)  # a link to the web stays a link to the web
                    continue
                parts = urlsplit(uri)
                path = unquote(parts.path).lstrip("/")
                docname = path[: -len(".html")] if path.endswith(".html") else None
                where = target(docname, unquote(parts.fragment)) if docname else None
            if where is None:
                continue  # a file of the site (an image, a download): nothing to open in the PDF
            page_index, top = where
            destination = ArrayObject([
                writer.pages[page_index].indirect_reference, NameObject("/XYZ"), NullObject(),
                FloatObject(top) if top is not None else NullObject(), NullObject(),
            ])
            annotation.pop("/A", None)
            annotation[NameObject("/Dest")] = destination
            kept.append(ref)
        page[NameObject("/Annots")] = kept
    writer.page_mode = "/UseOutlines"
    writer.add_metadata({"/Title": printed[0].title if printed else "", "/Creator": "tools/book_pdf.py"})
    output.parent.mkdir(parents=True, exist_ok=True)
    with open(output, "wb") as handle:
        writer.write(handle)
    return chapters


def print_pages(base: str, docnames: list[str], css: str, workers: int, done=lambda: None) -> list[PrintedPage]:
    """Every page printed, in the order given, by ``workers`` browsers side by side (each thread drives
    its own Chromium: Playwright's API is not shared between threads); ``done()`` after each page."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    pending = iter(range(len(docnames)))
    lock = threading.Lock()
    printed: list[PrintedPage | None] = [None] * len(docnames)
    errors: list[BaseException] = []

    def work():
        try:
            with launched_chromium() as browser:
                while not errors:
                    with lock:
                        index = next(pending, None)
                    if index is None:
                        return
                    printed[index] = print_page(browser, base, docnames[index], css)
                    done()
        except BaseException as error:  # handed to the main thread, which raises it
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(min(workers, len(docnames)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return printed


def build(html: Path = HTML, output: Path = OUTPUT, docnames: list[str] | None = None,
          progress: bool = True, workers: int = WORKERS) -> Book:
    """Print every page of the built book ``html`` that the toc lists into one PDF at ``output``."""
    from tqdm import tqdm

    started = time.perf_counter()
    html = Path(html)
    docnames = toc.docnames() if docnames is None else docnames
    missing = [d for d in docnames if not (html / f"{d}.html").is_file()]
    if missing:
        raise PdfBuildError(f"{html} has no page for {missing}: build the book first (make book)")
    css = PRINT_CSS.read_text(encoding="utf-8")
    with served(html) as base:
        with tqdm(total=len(docnames), desc="printing pages", unit="page", disable=not progress) as bar:
            printed = print_pages(base, docnames, css, workers, bar.update)
        chapters = merge(printed, base, Path(output))
    from pypdf import PdfReader

    pages = len(PdfReader(output).pages)
    return Book(Path(output), pages, Path(output).stat().st_size, time.perf_counter() - started, chapters)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--html", type=Path, default=HTML, help="the built book (default: %(default)s)")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="the PDF to write (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=WORKERS,
                        help="pages printed at once, each by its own Chromium (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error(f"--workers must be at least 1, got {args.workers}")
    try:
        book = build(args.html, args.output, workers=args.workers)
    except (BrowserMissing, PdfBuildError) as error:
        print(f"book_pdf: {error}", file=sys.stderr)
        return 1
    print(f"{book.path}: {book.pages} pages, {book.bytes / 1e6:.1f} MB, {len(book.chapters)} bookmarks, "
          f"built in {book.seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
