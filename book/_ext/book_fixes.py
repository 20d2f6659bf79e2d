"""Two fixes to the HTML that Jupyter Book 1's stack writes, so that a page
loads without a console error (tests/test_browser.py checks it):

* sphinx-thebe registers its inline configuration script
  (``const THEBE_JS_URL = ...``) twice (once through the registry, once
  straight into the builder); the second copy throws "Identifier
  'THEBE_JS_URL' has already been declared".  We keep the first of any
  scripts that have the same content.
* pydata-sphinx-theme logs "Got invalid theme mode" for a reader with no
  saved light/dark choice unless ``html_context["default_mode"]`` is set;
  _config.yml sets it, and ``check_default_mode`` fails the build if it is
  ever dropped.
"""

from __future__ import annotations

from sphinx.application import Sphinx
from sphinx.errors import ConfigError


def dedupe_scripts(app: Sphinx, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        # the two copies differ in filename (None and "") and priority only
        key = (getattr(script, "filename", script) or "", tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def check_default_mode(app: Sphinx) -> None:
    if not app.config.html_context.get("default_mode"):
        raise ConfigError("set sphinx.config.html_context.default_mode (e.g. auto) in _config.yml")


def setup(app: Sphinx) -> dict:
    app.connect("html-page-context", dedupe_scripts)
    app.connect("builder-inited", check_default_mode)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
