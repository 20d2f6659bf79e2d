"""The theme's icons survive the cut of Font Awesome (book/_ext/icon_fonts.py).

The build keeps in the theme's style sheet only the rules of the icons the
site names, and in each Font Awesome web font only the glyphs those rules
draw.  Read from the built site (no browser): every icon element of every
page (``<i class="fa-solid fa-bars">``) still has its rule, the font its
style names is served, and that font still holds the icon's glyph.
tests/test_browser.py checks that Chromium draws the icons from these fonts.
"""

from __future__ import annotations

import re

import pytest
from book_support import HTML, built_book, html_pages, soup

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("book")]

THEME_CSS = "_static/styles/pydata-sphinx-theme.css"
WEBFONTS = "_static/vendor/fontawesome/webfonts"
# the style class of an icon -> the font that draws it (Font Awesome 6's own pairing)
STYLE_FONTS = {"fa-solid": "fa-solid-900", "fas": "fa-solid-900", "fa-regular": "fa-regular-400",
               "far": "fa-regular-400", "fa-brands": "fa-brands-400", "fab": "fa-brands-400"}
# classes that size, turn or animate an icon instead of naming one
MODIFIERS = re.compile(r"fa-(?:\d?x|xs|sm|lg|xl|2xs|2xl|fw|spin|pulse|beat|fade|flip|shake|bounce|rotate-\w+|"
                       r"stack(?:-\dx)?|inverse|border|pull-\w+|li|ul)$")
ICON_RULE = re.compile(r'\.(fa-[a-z0-9-]+):{1,2}before\{content:"\\([0-9a-f]+) ?"\}')


@pytest.fixture(scope="module")
def glyphs() -> dict[str, int]:
    """Icon class (``fa-bars``) -> the code point the built style sheet draws it with."""
    built_book()
    css = (HTML / THEME_CSS).read_text(encoding="utf-8")
    found = {}
    for match in ICON_RULE.finditer(css):
        found[match[1]] = int(match[2], 16)
    assert found, f"{THEME_CSS} has no Font Awesome icon rule left"
    return found


@pytest.fixture(scope="module")
def fonts() -> dict[str, set[int]]:
    """Font (``fa-solid-900``) -> the code points it holds, for each font the site serves."""
    from fontTools.ttLib import TTFont

    served = sorted((HTML / WEBFONTS).glob("fa-*.woff"))  # the subsets (WOFF2 would need brotli)
    assert served, f"no Font Awesome web font in {WEBFONTS}"
    return {path.name.split(".")[0]: set(TTFont(path).getBestCmap()) for path in served}


def icons() -> list[tuple[str, str, str]]:
    """(page, style class, icon class) of every icon element of every page of the site."""
    found = []
    for page in html_pages():
        for element in soup(page).select("[class*=fa-], .fas, .far, .fab"):
            classes = element.get("class") or []
            styles = [c for c in classes if c in STYLE_FONTS]
            names = [c for c in classes if c.startswith("fa-") and c not in STYLE_FONTS and not MODIFIERS.match(c)]
            if styles and names:
                found.append((page.relative_to(HTML).as_posix(), styles[0], names[0]))
    return found


def test_the_site_shows_icons():
    built_book()
    assert icons(), "no Font Awesome icon element (class fa-solid/fa-brands/... fa-<name>) on any page"


def test_every_icon_has_its_rule_and_its_glyph(glyphs, fonts):
    problems = set()
    for page, style, name in icons():
        font = STYLE_FONTS[style]
        if name not in glyphs:
            problems.add(f"{page}: icon {name} has no rule in {THEME_CSS}")
        elif font not in fonts:
            problems.add(f"{page}: icon {name} needs {font}, which is not in {WEBFONTS}")
        elif glyphs[name] not in fonts[font]:
            problems.add(f"{page}: icon {name} (U+{glyphs[name]:04X}) is missing from {font}")
    assert not problems, "\n".join(sorted(problems))
