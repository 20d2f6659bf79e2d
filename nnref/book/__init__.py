"""What the book's chapters import besides nnref itself: ``glue``, widgets, checks.

The chapters run in three places: the book build (myst-nb present), and a
chapter notebook opened on Colab, Binder or a JupyterHub (only what
``pip install nnref[book]`` brings).  Everything they import therefore lives
in the package, not beside the chapters:

* :func:`glue` hands a number to the prose: myst-nb's ``glue`` in the book
  build; elsewhere it shows the value when asked to, else nothing;
* :mod:`nnref.book.widgets`: the interactive figures (``explore``) and the
  book's figure style (needs matplotlib and ipywidgets, the ``book`` extra);
* :mod:`nnref.book.derivatives`: the hidden checks of derivatives the chapters
  compute by hand.
"""

from __future__ import annotations


def glue(name: str, value, display: bool = True) -> None:
    """myst-nb's ``glue(name, value, display)`` where myst-nb is installed (the book build);
    elsewhere the value is shown if ``display`` is true, and nothing happens otherwise."""
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        if display:
            from IPython.display import display as show

            show(value)
        return
    myst_glue(name, value, display=display)


__all__ = ["glue"]
