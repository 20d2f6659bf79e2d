"""Keep hidden tests out of the feedback a student receives.

``nbgrader autograde`` puts the hidden tests back into every graded cell
before running it, and ``nbgrader generate_feedback`` renders that notebook
as it is: out of the box, the feedback shows the hidden test source, and the
tracebacks of failed tests quote it again as context lines.

:class:`HideHiddenTests` (registered in ``nbgrader_config.py`` for
``GenerateFeedback``) replaces each hidden region by a one-line note and
rewrites the traceback of a failed test: it keeps the frames in the
student's own cells and the failure message, and drops the frames of the
test cell itself and of the ``autograder`` package.
"""

from __future__ import annotations

import re
from pathlib import Path

from nbgrader.preprocessors import ClearHiddenTests

PACKAGE = str(Path(__file__).resolve().parent)
NOTE = "# (hidden tests ran here; their source is not part of the feedback)"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _plain(text: str) -> str:
    return _ANSI.sub("", text)


class HideHiddenTests(ClearHiddenTests):
    """ClearHiddenTests for feedback: the region becomes a note, tracebacks lose its frames."""

    def preprocess_cell(self, cell, resources, cell_index):
        lines = cell.source.split("\n")
        if not any(self.begin_test_delimeter in line for line in lines):
            return cell, resources
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        kept, inside = [], False
        for line in lines:
            if self.begin_test_delimeter in line:
                inside = True
                kept.append(NOTE)
            elif self.end_test_delimeter in line:
                inside = False
            elif not inside:
                kept.append(line)
        cell.source = "\n".join(kept)
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                output["traceback"] = self._scrub(output.get("traceback", []), cell.get("execution_count"))
        return cell, resources

    @staticmethod
    def _scrub(traceback: list, count) -> list:
        own = re.compile(rf"^\s*Cell\s+In\s*\[{count}\]") if count is not None else None
        kept = []
        for entry in traceback:
            text = _plain(entry)
            if own is not None and own.match(text):
                continue
            if PACKAGE in text or "/autograder/" in text:
                continue
            kept.append(entry)
        return kept
