"""The test suite's own set-up: what `make test` relies on to share two workers well."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

GROUPED = '''
import os
import pytest

pytestmark = pytest.mark.xdist_group("one")


@pytest.mark.parametrize("i", range(6))
def test_grouped(i):
    with open(os.environ["WORKERS_SEEN"], "a") as seen:
        seen.write(os.environ.get("PYTEST_XDIST_WORKER", "none") + "\\n")
'''


def test_xdist_groups_run_on_one_worker(tmp_path):
    """`make test` runs `pytest -n 2 --dist loadgroup`: the book's tests wait for one build, and the chapters on
    the simulated Colab share one environment, on ONE worker each (``xdist_group``).  When pytest and
    pytest-xdist disagree on node ids, the groups are silently ignored and both workers wait on those locks."""
    (tmp_path / "test_grouped.py").write_text(GROUPED)
    seen = tmp_path / "seen.txt"
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "2", "--dist", "loadgroup", "-p",
                          "no:cacheprovider", "test_grouped.py"], cwd=tmp_path, capture_output=True, text=True,
                         env={**os.environ, "WORKERS_SEEN": str(seen)}, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    workers = Path(seen).read_text().split()
    assert len(workers) == 6 and len(set(workers)) == 1, f"the group ran on the workers {workers}"
