"""The book's table of contents, ``_toc.yml``, read in one place.

Jupyter Book 1 (through sphinx-external-toc) writes it as a ``root``
document followed by ``parts`` (each a ``caption`` and its ``chapters``) or
by ``chapters`` (format ``jb-book``), or by ``sections`` (``jb-article``);
any entry may hold ``sections`` of its own, to any depth.  An entry names a
document with ``file`` (with or without its suffix), an outside page with
``url``, or several documents with ``glob``.

The tools (``sync_chapter_notebooks.py``), the benchmarks (row 6, book
builds) and the tests (``tests/book_support.py``) all read the toc here.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOC = ROOT / "_toc.yml"
SUFFIXES = (".md", ".ipynb", ".rst")  # the source files Jupyter Book builds a document from
NESTED = ("parts", "chapters", "sections")


def read(path: Path = TOC) -> dict:
    """The toc file as a mapping, checked to have a ``root`` document."""
    import yaml

    path = Path(path)
    toc = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(toc, dict) or not isinstance(toc.get("root"), str):
        raise ValueError(f"{path}: expected a mapping with a 'root' document, got {toc!r:.200}")
    return toc


def files(toc: dict | Path = TOC) -> list[str]:
    """Every document the toc lists, as written there: root first, then in reading order.

    The walk is depth first: a part's chapters, each chapter followed by its
    sections and theirs.  ``url`` entries are links, not documents, and are
    left out; a ``glob`` entry raises, since listing its matches here could
    differ from Jupyter Book's own expansion.
    """
    toc = read(toc) if not isinstance(toc, dict) else toc
    names = [toc["root"]]

    def walk(entries, where: str) -> None:
        if entries is None:
            return
        if not isinstance(entries, list):
            raise ValueError(f"_toc.yml: {where} is a {type(entries).__name__}, expected a list of entries")
        for index, entry in enumerate(entries):
            here = f"{where}[{index}]"
            if not isinstance(entry, dict):
                raise ValueError(f"_toc.yml: {here} is {entry!r}, expected a mapping with 'file', 'url', "
                                 "'glob' or 'chapters'")
            if "glob" in entry:
                raise ValueError(f"_toc.yml: {here} is a glob ({entry['glob']!r}); tools/toc.py reads listed "
                                 "files only: list them one by one")
            if "file" in entry:
                names.append(str(entry["file"]))
            for key in NESTED:
                walk(entry.get(key), f"{here}.{key}")

    for key in NESTED:
        walk(toc.get(key), key)
    return names


def docname(name: str) -> str:
    """A toc name without its source suffix, as Sphinx names the document: ``book/intro``."""
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def docnames(toc: dict | Path = TOC) -> list[str]:
    """Every document the toc lists, root first, in reading order, without suffixes."""
    return [docname(name) for name in files(toc)]


def sources(root: Path = ROOT) -> list[Path]:
    """The source file of every document that ``root/_toc.yml`` lists, in reading order.

    A name written with its suffix is that file; without one, the first of
    ``.md``, ``.ipynb``, ``.rst`` that exists.  Documents with no file yet are
    left out: the book build reports them.
    """
    root = Path(root)
    found = []
    for name in files(root / "_toc.yml"):
        candidates = [root / name] if docname(name) != name else [root / f"{name}{s}" for s in SUFFIXES]
        found += [path for path in candidates if path.is_file()][:1]
    return found
