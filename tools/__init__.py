"""The repository's own tools: scripts run from the root (``python tools/NAME.py``) and the
modules they share with the benchmarks and the tests (``tools.toc``, the one ``_toc.yml`` reader)."""
