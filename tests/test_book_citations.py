"""Citations in the text agree with the bibliography (issue 17).

The bibliography is numbered (``bibtex_default_style: plain`` in _config.yml)
and the text cites by the same labels (``bibtex_reference_style: label``):
in the built book every citation is a bracketed list of labels, "[5, 6]", and
each label links to the bibliography entry that carries that label.  Read
from the built HTML (no browser).
"""

from __future__ import annotations

import re

import pytest
from book_support import BIBLIOGRAPHY_DOC, HTML, built_book, page_path, soup, toc_docnames

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("book")]

DOCS = toc_docnames()
CITE_TARGET = re.compile(r"(?:^|/)bibliography\.html#(?P<id>cite-[\w.:-]+)$")


@pytest.fixture(scope="module")
def labels() -> dict[str, str]:
    """Anchor of each bibliography entry (``cite-rosenblatt1958``) -> its label as printed (``"17"``)."""
    built_book()
    entries = soup(page_path(BIBLIOGRAPHY_DOC)).select("div.citation[id]")
    assert entries, f"{BIBLIOGRAPHY_DOC}.html lists no bibliography entry"
    found = {}
    for entry in entries:
        label = entry.select_one("span.label")
        assert label is not None, f"bibliography entry {entry['id']} has no label"
        found[entry["id"]] = label.get_text("", strip=True).strip("[]")
    return found


def citations(doc: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """Each in-text citation of ``doc``: its text, and (link target id, link text) of each work it cites."""
    found = []
    for span in soup(page_path(doc)).select("article.bd-article span.bibtex-citation"):
        links = []
        for link in span.select("a[href]"):
            match = CITE_TARGET.search(link["href"])
            assert match, f"{doc}: citation {span.get_text()!r} links to {link['href']}, not to the bibliography"
            links.append((match["id"], link.get_text("", strip=True)))
        found.append((" ".join(span.get_text().split()), links))
    return found


def test_the_book_cites_at_all(labels):
    cited = [c for doc in DOCS for c in citations(doc)]
    assert cited, f"no citation (span.bibtex-citation) in any page of the toc under {HTML}"


@pytest.mark.parametrize("doc", DOCS)
def test_each_citation_shows_the_label_of_the_entry_it_links_to(labels, doc):
    problems = []
    for text, links in citations(doc):
        if not links:
            problems.append(f"{text!r} links to no bibliography entry")
            continue
        for target, shown in links:
            if target not in labels:
                problems.append(f"{text!r} links to #{target}, which is not in the bibliography")
            elif shown != labels[target]:
                problems.append(f"{text!r} shows {shown!r} for #{target}, whose label in the bibliography "
                                f"is [{labels[target]}]")
        expected = "[" + ", ".join(shown for _, shown in links) + "]"
        if text != expected:
            problems.append(f"{text!r} is not the bracketed list of its labels {expected!r}")
    assert not problems, f"{doc}.html:\n  " + "\n  ".join(problems)
