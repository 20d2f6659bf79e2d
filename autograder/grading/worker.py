"""A grading worker process: ``python -m autograder.grading.worker --serve REPLY_FD [LIMITS_JSON]``.

It reads one job (a JSON line) at a time from stdin, grades it with
``grader.grade`` and writes the result as a JSON line on ``REPLY_FD``.  A
worker grades many submissions, so the imports and the oracle cache are
paid once; whatever kills it costs the job in hand alone (the command's
pool starts another).  As root it takes a mount namespace of its own, so
that its kernels' scratch spaces are invisible to the host and vanish with
it however it ends; it dies with the command that started it.  It runs under the worker
memory limit (``--worker-memory``): an answer of the kernel that exhausts it fails that
submission (``channel.py``), and the worker goes on.  Its scratch spaces lie in its own
temporary folder (``TMPDIR``, made by the pool), which the pool removes however the worker ends.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import signal
import sys

from . import linux
from .boxes import Boxes, adopt_orphans
from .grader import grade
from .kernel import MB
from .limits import Limits


def serve(reply_fd: int, limits: Limits | None = None, private_mounts: bool = False) -> None:
    """Grade the jobs of stdin until it closes; ``limits``: those of the jobs to come, to launch the first
    kernel at once."""
    boxes = Boxes(prefetch=True, private_mounts=private_mounts)
    try:
        if limits is not None:  # the first kernel starts before the first job arrives
            boxes.prepare(limits)
        # the feedback pages' nbconvert and templates take a second or two to import: while the kernel starts,
        # not on the first job (here, not in a thread of its own: nbgrader's package cannot be imported twice at once)
        importlib.import_module("autograder.grading.feedback_html")
        with os.fdopen(reply_fd, "wb") as reply:
            for line in sys.stdin.buffer:
                result = grade(json.loads(line), boxes)
                reply.write(json.dumps(result).encode() + b"\n")
                reply.flush()
    finally:
        boxes.close()


def limit_memory(limits: Limits) -> None:
    """Bound this worker's address space (the soft limit only: its kernels' launchers set their own)."""
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    size = limits.worker_memory_mb * MB
    resource.setrlimit(resource.RLIMIT_AS, (size if hard == resource.RLIM_INFINITY else min(size, hard), hard))


def private_mounts() -> bool:
    """As root: a mount namespace of this worker's own, so that its tmpfs scratch spaces are invisible to
    the host and vanish with it however it ends (must run while the process has one thread)."""
    if os.getuid() != 0:
        return False
    try:
        linux.private_mounts()
    except OSError:
        return False
    return True


def die_with_parent() -> None:
    """Linux: end this worker when the command that started it is killed (its kernels follow: their
    launchers watch their parent), so that a killed run leaves no grading behind."""
    try:
        linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def main(argv: list[str]) -> None:
    mounts = private_mounts()
    die_with_parent()
    adopt_orphans()
    if argv[:1] != ["--serve"] or len(argv) not in (2, 3):
        sys.exit("usage: python -m autograder.grading.worker --serve REPLY_FD [LIMITS_JSON]")
    limits = Limits(**json.loads(argv[2])) if len(argv) > 2 else None
    if limits is not None:
        limit_memory(limits)
    serve(int(argv[1]), limits, mounts)


if __name__ == "__main__":
    main(sys.argv[1:])
