"""A pytest plugin for ``make gpu-check``: each test's outcome, one JSON line as it finishes.

``tools/gpu_check.py`` loads it with ``-p tools.gpu_check_pytest`` and reads
the file named by ``$NNREF_GPU_CHECK_EVENTS`` while pytest runs, to show
progress and, when the time budget ends the run early, to know what finished.
Under pytest-xdist the controller receives every worker's reports; workers
write nothing, so each outcome is written once.

Lines: ``{"event": "collected", "n": N}``, ``{"event": "test", "nodeid", "when", "outcome",
"message"}`` and ``{"event": "collect-error", "nodeid", "message"}``.
"""

from __future__ import annotations

import json
import os

import pytest

from tools.gpu_stages import EVENTS

# Set by pytest_configure: whether this process is an xdist worker.  Asked of pytest's own
# config, not of $PYTEST_XDIST_WORKER, which a pytest run inside an xdist worker inherits.
_STATE = {"worker": False}


def pytest_configure(config) -> None:
    _STATE["worker"] = hasattr(config, "workerinput")


def _write(event: dict) -> None:
    path = os.environ.get(EVENTS)
    if path and not _STATE["worker"]:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(event) + "\n")


def _message(report) -> str:
    """The one line a reader needs: the crash message, or the skip reason."""
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return str(crash.message).splitlines()[0][:300]
    text = str(report.longrepr or "").strip().splitlines()
    return text[-1][:300] if text else ""


def pytest_collection_finish(session) -> None:
    _write({"event": "collected", "n": len(session.items)})


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids) -> None:
    _write({"event": "collected", "n": len(ids)})


def pytest_collectreport(report) -> None:
    if report.failed:
        _write({"event": "collect-error", "nodeid": report.nodeid, "message": _message(report)})


def pytest_runtest_logreport(report) -> None:
    if report.when == "call" or report.outcome != "passed":
        outcome = "xfailed" if hasattr(report, "wasxfail") and report.skipped else report.outcome
        _write({"event": "test", "nodeid": report.nodeid, "when": report.when, "outcome": outcome,
                "message": _message(report) if outcome != "passed" else ""})
