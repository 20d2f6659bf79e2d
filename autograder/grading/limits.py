"""What one submission may use: each limit declared once, with its option, unit, default and help.

As nbgrader declares a setting (``Integer(30, help=...)``), each field of
:class:`Limits` carries everything said about it: the command line builds
its options, their defaults and their help from these declarations
(:func:`add_options`, :func:`from_options`), what the instructor guide says of
the limits is checked against :func:`guide` by the tests, and the sandbox, the
kernel and the worker pool read the values.  Change a default here and all
of them follow.  Standard library only: the sandbox launcher imports it.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field, fields

CPU_MARGIN_S = 10  # the kernel's CPU limit beyond the notebook's wall time, when not given
JOB_MARGIN_S = 90  # a worker's budget per job beyond the notebook and the grader's calls: start, stop, imports


def limit(default, flag: str, unit: str, help: str, derived: str = "", kind: type | None = None):
    """A declared limit: its ``default`` (or None and how it is ``derived``), command-line ``flag``, unit, help."""
    return field(default=default, metadata={"flag": flag, "unit": unit, "help": help, "derived": derived,
                                            "type": kind or type(default)})


@dataclass(frozen=True)
class Limits:
    """What one submission may use; every field is positive."""

    notebook_timeout_s: float = limit(120.0, "--timeout", "s", "wall time of the whole notebook, and again of all "
                                                               "the grader's calls of its functions")
    cell_timeout_s: float = limit(30.0, "--cell-timeout", "s", "wall time of one cell or one call of the grader, "
                                                               "at most the notebook's")
    memory_mb: int = limit(2048, "--memory", "MB", "address space of the kernel")
    cpu_s: int = limit(None, "--cpu", "s", "CPU time of the kernel",
                       derived=f"the notebook's wall time + {CPU_MARGIN_S} s", kind=int)
    output_mb: float = limit(8.0, "--output", "MB", "output of the notebook kept before the run is stopped")
    answer_mb: int = limit(64, "--answer", "MB", "largest answer the kernel may send to one call of the grader")
    notebook_mb: int = limit(16, "--notebook-size", "MB", "largest submitted notebook the grader reads (its "
                                                          "apparent size: a sparse file counts in full)")
    worker_memory_mb: int = limit(2048, "--worker-memory", "MB", "address space of each grading worker, which "
                                                                 "reads the kernel's answers and runs the checks")
    file_mb: int = limit(64, "--file-size", "MB", "largest file the kernel may write, and the size of its /tmp")
    disk_mb: int = limit(256, "--disk", "MB", "the submission's whole scratch space (a tmpfs, as root)")
    processes: int = limit(64, "--processes", "", "processes and threads of the kernel's user")
    open_files: int = limit(256, "--open-files", "", "files the kernel may hold open at once")

    def __post_init__(self):
        if self.cpu_s is None:
            object.__setattr__(self, "cpu_s", int(self.notebook_timeout_s) + CPU_MARGIN_S)
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"{f.metadata['flag']} ({f.name}) must be a positive number, got {value!r}")
        # a cell cannot have longer than the whole notebook
        object.__setattr__(self, "cell_timeout_s", min(self.cell_timeout_s, self.notebook_timeout_s))

    @property
    def job_budget_s(self) -> float:
        """Wall time a worker may spend on one job: the notebook, the grader's calls, start and stop."""
        return 2 * self.notebook_timeout_s + JOB_MARGIN_S

    def to_dict(self) -> dict:
        """As plain data, for a job; ``Limits(**limits.to_dict()) == limits``."""
        return asdict(self)


def _field(name: str):
    return next(f for f in fields(Limits) if f.name == name)


def default_text(name: str) -> str:
    """The default of limit ``name`` as the help and the guide state it: "2048 MB", "120 s", "64"."""
    f = _field(name)
    if f.default is None:
        return f.metadata["derived"]
    return f"{f.default:g} {f.metadata['unit']}".strip()


def metavar(name: str) -> str:
    """What the option of limit ``name`` takes: its unit in capitals ("S", "MB"), "N" for a count."""
    unit = _field(name).metadata["unit"]
    return unit.upper() if unit else "N"


def add_options(parser: argparse.ArgumentParser) -> None:
    """One option per limit, its type, default and help taken from the declaration."""
    for f in fields(Limits):
        meta = f.metadata
        parser.add_argument(meta["flag"], dest=f.name, type=meta["type"], default=f.default,
                            metavar=metavar(f.name), help=f"{meta['help']} (default: {default_text(f.name)})")


def from_options(args: argparse.Namespace) -> Limits:
    """The limits the parsed command line asks for (``ValueError`` naming the option for a bad value)."""
    return Limits(**{f.name: getattr(args, f.name) for f in fields(Limits)})


def guide() -> str:
    """What docs/instructors.md states about the limits: a table with one row per option, and the budget."""
    rows = ["| option | what it bounds | default |", "| --- | --- | --- |"]
    for f in fields(Limits):
        meta = f.metadata
        rows.append(f"| `{meta['flag']} {metavar(f.name)}` | {meta['help']} | {default_text(f.name)} |")
    budget = (f"A worker gives one submission at most twice `--timeout` plus {JOB_MARGIN_S} s in all (the notebook, "
              "the grader's calls of its functions, the kernel's start and stop) before it is stopped and the "
              "submission fails.")
    return "\n".join(rows) + "\n\n" + budget + "\n"
