"""The theme's Font Awesome, cut to the icons the book shows (book_fixes.slim_theme calls it).

pydata-sphinx-theme ships Font Awesome 6 whole: a rule per icon in its style
sheet (about 1,900 rules, 90 kB) and three web fonts (solid, regular, brands:
300 kB as WOFF2, loaded by every page that shows one icon of them).  The book
shows a few dozen icons.  After the build:

* ``trim_icon_rules`` keeps the rule ``.fa-<name>:before{content:"..."}`` of
  an icon only if ``fa-<name>`` is written somewhere in the site (a page, or a
  script that may add it to a page);
* ``subset_font`` cuts each font to the characters the remaining style sheets
  still name (fontTools' subsetter) and writes it as WOFF, which the trimmed
  style sheet's ``@font-face`` then loads.

tests/test_book_fonts.py checks that every icon a page shows is still in its
font; tests/test_browser.py that the icons are drawn from these fonts.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

ICON_NAME = re.compile(r"\bfa-[a-z0-9]+(?:-[a-z0-9]+)*")
# one icon's rule, or several icons sharing one glyph: ".fa-a:before,.fa-b:before{content:"\f0c9"}"
ICON_RULE = re.compile(r'(?P<selectors>\.fa-[a-z0-9-]+:{1,2}before(?:,\.fa-[a-z0-9-]+:{1,2}before)*)'
                       r'\{content:"(?P<content>(?:[^"\\]|\\[^"])*)"\}')
CSS_STRING = re.compile(r'"((?:[^"\\\n]|\\.)*)"|\'((?:[^\'\\\n]|\\.)*)\'', re.S)
CSS_ESCAPE = re.compile(r"\\([0-9a-fA-F]{1,6})[ \t]?|\\(.)", re.S)
# the theme's @font-face sources:
# src:url(../vendor/fontawesome/webfonts/fa-solid-900.woff2) format("woff2"),url(...ttf) format("truetype")
FONT_SOURCES = re.compile(r'src:url\((?P<dir>[^)]*/)(?P<stem>fa-[a-z]+-\d+)\.woff2\) format\("woff2"\)'
                          r'(?:,url\([^)]*\) format\("truetype"\))?')


def icon_names(texts) -> set[str]:
    """Every ``fa-<name>`` written in ``texts`` (pages and scripts)."""
    return {name for text in texts for name in ICON_NAME.findall(text)}


def trim_icon_rules(css: str, used: set[str]) -> str:
    """``css`` without the rules of icons whose class is not in ``used``."""

    def keep(match: re.Match) -> str:
        selectors = [s for s in match["selectors"].split(",") if s[1:].split(":")[0] in used]
        return f'{",".join(selectors)}{{content:"{match["content"]}"}}' if selectors else ""

    return ICON_RULE.sub(keep, css)


def css_characters(css: str) -> set[int]:
    """The code points of every character written in the strings of ``css`` (``content``, custom
    properties): the characters its rules may draw."""
    found: set[int] = set()
    for match in CSS_STRING.finditer(css):
        text = match.group(1) if match.group(1) is not None else match.group(2)
        position = 0
        for escape in CSS_ESCAPE.finditer(text):
            found.update(ord(c) for c in text[position:escape.start()])
            found.add(int(escape.group(1), 16) if escape.group(1) else ord(escape.group(2)))
            position = escape.end()
        found.update(ord(c) for c in text[position:])
    return found


def subset_font(source: Path, characters: set[int]) -> bytes:
    """``source`` (a TrueType font: reading the theme's WOFF2 would need brotli) cut to ``characters``,
    as WOFF bytes (zlib, which needs no extra package either)."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    options = subset.Options()
    options.flavor = "woff"
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.notdef_outline = True
    font = TTFont(source)
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=sorted(characters))
    subsetter.subset(font)
    font.flavor = "woff"
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


def font_faces_to_woff(css: str) -> tuple[str, list[str]]:
    """``css`` with each Font Awesome ``@font-face`` loading ``<stem>.woff`` only; and those stems."""
    stems: list[str] = []

    def woff(match: re.Match) -> str:
        stems.append(match["stem"])
        return f'src:url({match["dir"]}{match["stem"]}.woff) format("woff")'

    return FONT_SOURCES.sub(woff, css), stems
