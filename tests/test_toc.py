"""The one ``_toc.yml`` reader (tools/toc.py), on the real toc and on tocs shaped as Jupyter Book allows."""

from __future__ import annotations

import re

import pytest
import yaml

from tools import toc

NESTED = """
format: jb-book
root: intro
parts:
  - caption: One
    chapters:
      - file: a
        sections:
          - file: a1.md
            sections:
              - file: a1x
          - url: https://example.org
            title: a link, not a document
      - file: b.ipynb
  - caption: Two
    chapters:
      - file: c
"""


def test_the_real_toc_lists_root_chapters_appendix_and_bibliography_in_order():
    names = toc.docnames()
    assert names[0] == "book/intro"
    chapters = [n for n in names if re.fullmatch(r"book/\d\d_\w+", n)]
    assert chapters == sorted(chapters) and len(chapters) >= 9, chapters
    assert names.index("book/appendix_performance") > names.index(chapters[-1])
    assert names[-1] == "book/bibliography"
    assert [p.relative_to(toc.ROOT).with_suffix("").as_posix() for p in toc.sources()] == names, \
        "every document the toc lists has its source file"


def test_parts_chapters_and_nested_sections_are_walked_depth_first():
    parsed = yaml.safe_load(NESTED)
    assert toc.files(parsed) == ["intro", "a", "a1.md", "a1x", "b.ipynb", "c"]
    assert toc.docnames(parsed) == ["intro", "a", "a1", "a1x", "b", "c"]


def test_top_level_chapters_and_article_sections():
    assert toc.docnames({"root": "r", "chapters": [{"file": "x", "sections": [{"file": "y"}]}]}) == ["r", "x", "y"]
    assert toc.docnames({"format": "jb-article", "root": "r", "sections": [{"file": "s.md"}]}) == ["r", "s"]


def test_sources_resolve_suffixes_and_leave_out_missing_files(tmp_path):
    (tmp_path / "_toc.yml").write_text(NESTED)
    for name in ("intro.md", "a.md", "a.ipynb", "a1.md", "b.ipynb", "b.md", "c.ipynb"):
        (tmp_path / name).write_text("")
    found = [p.name for p in toc.sources(tmp_path)]
    assert found == ["intro.md", "a.md", "a1.md", "b.ipynb", "c.ipynb"], "a1x has no file; b's suffix is written"


def test_the_benchmark_and_the_book_tests_read_the_same_toc(tmp_path):
    from book_support import toc_docnames

    from benchmarks.book_builds import toc_files

    assert toc_docnames() == toc.docnames()
    (tmp_path / "_toc.yml").write_text(NESTED)
    for name in ("intro.md", "a.md", "a1.md", "a1x.md", "b.ipynb", "c.md"):
        (tmp_path / name).write_text("")
    assert [p.name for p in toc_files(tmp_path)] == ["intro.md", "a.md", "a1.md", "a1x.md", "b.ipynb", "c.md"]


@pytest.mark.parametrize("bad, message", [
    ({"chapters": [{"file": "x"}]}, "expected a mapping with a 'root' document"),
    ({"root": "r", "parts": [{"chapters": ["x"]}]}, r"parts\[0\]\.chapters\[0\] is 'x', expected a mapping"),
    ({"root": "r", "chapters": [{"glob": "book/*"}]}, r"chapters\[0\] is a glob \('book/\*'\)"),
    ({"root": "r", "chapters": {"file": "x"}}, "chapters is a dict, expected a list"),
])
def test_malformed_tocs_are_refused_with_where_and_what(tmp_path, bad, message):
    path = tmp_path / "_toc.yml"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(ValueError, match=message):
        toc.files(path)
