"""Row 6: book builds, on a copy of the book in a temporary directory.

The copy (``_config.yml``, ``_toc.yml``, ``book/``, with links to the code
the chapters may include) is built exactly as ``make book`` builds the real
one, so the real ``_build`` is never touched.  In order:

1. a clean build (empty execution cache);
2. a rebuild with nothing changed;
3. a rebuild after a markdown-only edit of one page;
4. a rebuild after a one-line edit of one code cell of one chapter;
5. a clean build of a second copy with execution off (the yardstick of 2).

Each notebook that myst-nb executes logs "Executing notebook" and each one
served from the cache logs "Using cached notebook"; the row counts both.

After the clean build the row weighs what a reader downloads (issue 17): the
whole site (``_build/html``) and, for the heaviest chapter, what the browser
transfers before the reader scrolls (Debian's Chromium through Playwright,
the site served on 127.0.0.1 by a plain ``http.server``, which sends files
uncompressed).  The limits are the ones tests/test_book.py and
tests/test_browser.py hold the book to.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tools import toc

from .report import Row
from .timing import Stats

SITE_LIMIT_BYTES = 36_000_000  # half of the 72 MB _build/html weighed before the frames moved into files
FIRST_VIEW_LIMIT_BYTES = 1_500_000  # what a chapter may transfer before the reader scrolls
FIRST_VIEW_WIDTH, FIRST_VIEW_HEIGHT = 1280, 800  # the desktop window of the browser tests
CHROMIUM = Path("/usr/bin/chromium")

ANSI = re.compile(r"\x1b\[[0-9;]*m")
PROBLEM = re.compile(r"WARNING:|ERROR:|Error:|Traceback")
EXECUTED = re.compile(r": Executing notebook")
CACHED = re.compile(r": Using cached notebook")
CODE_CELL = re.compile(r"^```\{code-cell\}", re.MULTILINE)
COPIED = ("_config.yml", "_toc.yml", "book")
NOT_LINKED = ("_build", ".git", ".venv")


def jupyter_book() -> str:
    beside = Path(sys.executable).with_name("jupyter-book")
    found = str(beside) if beside.exists() else shutil.which("jupyter-book")
    if found is None:
        raise FileNotFoundError("jupyter-book is not installed next to this Python nor on PATH")
    return found


def copy_book(root: Path, target: Path) -> Path:
    """Copy the book's sources from ``root`` into ``target``, and link everything
    else at the top of ``root`` (code the chapters include, exercises they offer
    for download), so that the copy builds as the original does."""
    target.mkdir(parents=True, exist_ok=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(root / name, target / name)
    shutil.copytree(root / "book", target / "book", ignore=shutil.ignore_patterns("_build", "__pycache__"))
    for entry in sorted(root.iterdir()):
        if entry.name not in COPIED + NOT_LINKED:
            (target / entry.name).symlink_to(entry.resolve(), target_is_directory=entry.is_dir())
    return target


def toc_files(root: Path) -> list[Path]:
    """The pages listed in ``_toc.yml`` (root first), as paths under ``root``."""
    return toc.sources(root)


def build(root: Path, log: Path, strict: bool = True) -> dict:
    """Run ``make book``'s command on ``root``; seconds, exit status, notebooks executed and cached.

    ``strict=False`` drops ``--warningiserror`` (for the build with execution
    off, where every glued value is missing by construction).
    """
    env = dict(os.environ, NNREF_BOOK_BUILD="1")
    command = [jupyter_book(), "build", str(root), "--keep-going"] + (["--warningiserror"] if strict else [])
    start = time.perf_counter()
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    output = ANSI.sub("", done.stdout + done.stderr)
    log.write_text(output)
    problems = [line.strip() for line in output.splitlines() if PROBLEM.search(line)]
    return {"seconds": seconds, "rc": done.returncode, "executed": len(EXECUTED.findall(output)),
            "cached": len(CACHED.findall(output)), "problems": problems[:3] or output.strip().splitlines()[-3:]}


def site_bytes(html: Path) -> int:
    """Bytes of every file of the built site."""
    return sum(p.stat().st_size for p in html.rglob("*") if p.is_file())


def first_view_bytes(html: Path, pages: list[str]) -> dict[str, int]:
    """Page (``book/03_gradient_descent.html``) -> bytes transferred (bodies and headers) until
    the page has loaded, its maths is typeset and the network is idle, at the desktop width.
    Raises FileNotFoundError without Chromium or Playwright."""
    return {page: sum(sizes.values()) for page, sizes in first_view_requests(html, pages).items()}


def first_view_requests(html: Path, pages: list[str]) -> dict[str, dict[str, int]]:
    """Page -> {path of each file it fetched: bytes transferred}, as ``first_view_bytes`` counts them."""
    import functools
    import http.server
    import threading

    if not CHROMIUM.exists():
        raise FileNotFoundError(f"{CHROMIUM} is missing (tools/install_browser.sh installs it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as err:
        raise FileNotFoundError(f"the Playwright client is not installed ({err})") from err

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(html)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    site = f"http://127.0.0.1:{server.server_address[1]}"
    weights = {}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                                 args=["--no-sandbox", "--disable-gpu"])
            for page_name in pages:
                context = browser.new_context(viewport={"width": FIRST_VIEW_WIDTH, "height": FIRST_VIEW_HEIGHT})
                page = context.new_page()
                fetched: dict[str, int] = {}

                def finished(request, fetched=fetched):
                    sizes = request.sizes()
                    path = request.url.removeprefix(site + "/")
                    fetched[path] = fetched.get(path, 0) + sizes["responseBodySize"] + sizes["responseHeadersSize"]

                page.on("requestfinished", finished)
                page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
                    (site, "data:", "blob:")) else route.abort())
                page.goto(f"{site}/{page_name}", wait_until="load")
                if page.locator(".math").count():
                    page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
                    page.evaluate("() => MathJax.startup.promise")
                page.wait_for_load_state("networkidle")
                weights[page_name] = fetched
                context.close()
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    return weights


def _weigh(row: Row, book: Path, pages: list[Path]) -> None:
    """Site size and the heaviest chapter's first view, from the clean build of ``book``."""
    html = book / "_build" / "html"
    if not html.is_dir():
        row.notes.append("site not weighed: the clean build left no _build/html")
        return
    size = site_bytes(html)
    row.add("site size (_build/html)", "count", "MB", Stats.of([size / 1e6]),
            target=f"<= {SITE_LIMIT_BYTES / 1e6:g} MB", met=size <= SITE_LIMIT_BYTES)
    chapters = [p.relative_to(book).with_suffix(".html").as_posix() for p in pages
                if re.fullmatch(r"\d\d_.+", p.stem)]
    try:
        requests = first_view_requests(html, chapters)
    except FileNotFoundError as err:
        row.notes.append(f"first view not measured: {err}")
        return
    if not requests:
        return
    weights = {page: sum(files.values()) for page, files in requests.items()}
    heaviest = max(weights, key=weights.get)
    largest = sorted(requests[heaviest].items(), key=lambda item: -item[1])[:3]
    row.add("heaviest chapter, transferred before scrolling", "count", "MB", Stats.of([weights[heaviest] / 1e6]),
            target=f"<= {FIRST_VIEW_LIMIT_BYTES / 1e6:g} MB", met=weights[heaviest] <= FIRST_VIEW_LIMIT_BYTES,
            note=f"{heaviest}, uncompressed (http.server); lightest chapter "
                 f"{min(weights.values()) / 1e6:.2f} MB; largest files "
                 + ", ".join(f"{path.split('?')[0]} {size / 1e6:.2f} MB" for path, size in largest))


def edit_markdown(page: Path) -> None:
    """Append a paragraph: text only, no code cell changes."""
    page.write_text(page.read_text().rstrip("\n") + "\n\nThis paragraph was added by the build benchmark.\n")


def edit_code(page: Path) -> bool:
    """Add a comment line at the end of the first code cell; False if there is none."""
    text = page.read_text()
    match = CODE_CELL.search(text)
    if match is None:
        return False
    close = text.find("\n```", match.end())
    if close < 0:
        return False
    page.write_text(text[:close] + "\n# edited by the build benchmark" + text[close:])
    return True


def execution_off(root: Path) -> None:
    import yaml

    config = yaml.safe_load((root / "_config.yml").read_text())
    config.setdefault("execute", {})["execute_notebooks"] = "off"
    (root / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))


def run(cfg, root: Path, progress) -> Row:
    row = Row("6", "book builds (a copy of the book in a temporary directory)")
    # Each copy is a temporary directory of its own, so that it sits as deep
    # below / as a checkout in /work/main would, and relative links resolve alike.
    with (tempfile.TemporaryDirectory(prefix="nnref-book-bench-") as first,
          tempfile.TemporaryDirectory(prefix="nnref-book-noexec-") as second,
          tempfile.TemporaryDirectory(prefix="nnref-book-logs-") as logs):
        tmp = Path(logs)
        book = copy_book(root, Path(first))
        pages = toc_files(book)
        coded = [p for p in pages if CODE_CELL.search(p.read_text())]
        results, plan = {}, ["clean", "no change", "markdown edit", "code edit", "execution off"]
        for stage in progress(plan, desc="row 6: book builds"):
            if stage == "markdown edit":
                edit_markdown(pages[-1])
            if stage == "code edit":
                if not coded or not edit_code(coded[-1]):
                    row.notes.append("code edit skipped: no page in _toc.yml has a code cell yet")
                    continue
            if stage == "execution off":
                book = copy_book(root, Path(second))
                execution_off(book)
            repeats = cfg.rebuild_repeats if stage == "no change" else 1
            results[stage] = [build(book, tmp / f"{stage}-{i}.log", strict=stage != "execution off")
                              for i in range(repeats)]
            if stage == "clean":
                _weigh(row, book, pages)
        _report(row, results, pages, coded, cfg)
    return row


def _report(row, results, pages, coded, cfg):
    failed = {stage: r for stage, runs in results.items() for r in runs if r["rc"] != 0}
    for stage, runs in results.items():
        seconds = Stats.of(r["seconds"] for r in runs)
        note = f"{len(runs)} build{'s' if len(runs) > 1 else ''}"
        if any(r["rc"] != 0 for r in runs):
            note += f", FAILED rc={runs[0]['rc']}"
        target = met = None
        if stage == "clean":
            target, met = f"<= {cfg.clean_build_limit:g} s", seconds.median <= cfg.clean_build_limit
        row.add(f"{stage} build time", "time", "s", seconds, target=target, met=met, note=note)
        executed = Stats.of(r["executed"] for r in runs)
        if stage == "markdown edit":
            row.add(f"{stage}: notebooks executed", "count", "notebooks", executed, target="0",
                    met=executed.max == 0)
        elif stage != "execution off":
            row.add(f"{stage}: notebooks executed", "count", "notebooks", executed,
                    note=f"{len(pages)} pages in the toc, {len(coded)} with code cells")
    if "no change" in results and "execution off" in results:
        off = results["execution off"][0]["seconds"]
        rebuilds = [r["seconds"] for r in results["no change"]]
        row.add_ratio("no-change rebuild / clean build with execution off", Stats.of(t / off for t in rebuilds),
                      best=min(rebuilds) / off, at_most=1.0)
    if failed:
        row.status = "failed"
        for stage, r in failed.items():
            row.notes.append(f"{stage} build failed (rc={r['rc']}): " + " | ".join(r["problems"]))
    row.notes.append(f"pages in _toc.yml: {', '.join(p.stem for p in pages)}; the markdown edit goes to the last "
                     "page, the code edit to the last page with a code cell")
    row.notes.append("the build with execution off runs without --warningiserror: glued values are missing there "
                     "by construction")


APPENDIX = Path("book") / "appendix_performance.md"


def forget_cached_appendix(root: Path) -> str:
    """Drop the performance appendix from the real book's execution cache.

    The page reads ``results.json``; its code does not change when the
    results do, so the cache would keep serving the old plot.  Removing its
    one cache record, and touching the page so that Sphinx reads it again,
    makes the next ``make book`` execute that page (and only that page).
    Returns what happened, for the log.
    """
    cache_dir, page = root / "_build" / ".jupyter_cache", root / APPENDIX
    if not cache_dir.is_dir() or not page.is_file():
        return "no book cache to refresh"
    try:
        from jupyter_cache import get_cache
        from myst_nb.core.read import read_myst_markdown_notebook
    except ImportError as err:
        return f"book cache not refreshed ({err})"
    cache = get_cache(str(cache_dir))
    os.utime(page)
    try:
        record = cache.match_cache_notebook(read_myst_markdown_notebook(page.read_text()))
    except KeyError:
        return "the appendix was not in the book cache; touched it so the next book build reads it"
    cache.remove_cache(record.pk)
    return f"removed the cached appendix (record {record.pk}) so the next book build plots these results"
