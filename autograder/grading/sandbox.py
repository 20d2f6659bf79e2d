"""The sandbox a student kernel runs in: a scratch directory, resource limits, no network.

The kernel is started through this module as a launcher::

    python -m autograder.grading.sandbox LIMITS_JSON -- python -m ipykernel_launcher -f CONNECTION_FILE

which applies the limits to itself (``resource.setrlimit``), leaves the
network namespace when it can, then ``exec``s the kernel.  The launcher
uses the standard library only and runs before any student code.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import sys
from dataclasses import asdict, dataclass

CLONE_NEWNET = 0x40000000
MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """What one submission may use."""

    memory_mb: int = 2048  # address space of the kernel
    cpu_s: int = 120  # CPU seconds of the kernel
    cell_timeout_s: float = 30.0  # wall time of one cell or one grader call
    notebook_timeout_s: float = 120.0  # wall time of the whole notebook
    file_mb: int = 64  # largest file the kernel may write
    processes: int = 64  # processes and threads beyond those the user already runs
    open_files: int = 256
    output_mb: float = 8.0  # notebook output kept before the run is stopped


def minimal_env(home: str) -> dict:
    """An environment with nothing of the grader's: a minimal PATH, HOME in the scratch directory."""
    return {"PATH": os.path.dirname(sys.executable) + ":/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8",
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "PYTHONNOUSERSITE": "1", "MPLBACKEND": "Agg"}


def _user_tasks() -> int:
    """Processes and threads of this user: RLIMIT_NPROC counts them all, not only the kernel's."""
    uid, count = os.getuid(), 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if os.stat(f"/proc/{pid}").st_uid == uid:
                    count += len(os.listdir(f"/proc/{pid}/task"))
            except OSError:
                continue
    return count


def _unshare_network() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.unshare(CLONE_NEWNET) == 0
    except (OSError, AttributeError):
        return False


def protections() -> tuple[list[str], list[str]]:
    """(active, missing) protections on this host, for the message printed once at start."""
    active = ["scratch directory per submission", "memory (RLIMIT_AS)", "CPU time (RLIMIT_CPU)",
              "file size (RLIMIT_FSIZE)", "open files (RLIMIT_NOFILE)", "wall time per cell and per notebook",
              "output size", "minimal environment", "scoring outside the student process on plain data"]
    missing = []
    if os.getuid() == 0:
        missing.append("number of processes (RLIMIT_NPROC is not enforced for root)")
        active.append("network off (network namespace)" if _probe_unshare() else "")
        if not _probe_unshare():
            missing.append("network (unshare(CLONE_NEWNET) refused)")
    else:
        active.append("number of processes (RLIMIT_NPROC)")
        missing.append("network (needs root for a network namespace)")
    missing.append("read access to the grader's files (the kernel runs as the grader's user, without a "
                   "mount namespace): solutions and hidden tests are readable, though scores never come "
                   "from the student's process")
    return [a for a in active if a], missing


def _probe_unshare() -> bool:
    pid = os.fork()
    if pid == 0:
        os._exit(0 if _unshare_network() else 1)
    return os.waitpid(pid, 0)[1] == 0


def apply(limits: Limits) -> None:
    """Apply the limits to the current process (the launcher, just before it execs the kernel)."""
    def limit(kind, value):
        soft, hard = resource.getrlimit(kind)
        value = int(value) if hard == resource.RLIM_INFINITY else min(int(value), hard)
        resource.setrlimit(kind, (value, value))

    limit(resource.RLIMIT_AS, limits.memory_mb * MB)
    limit(resource.RLIMIT_CPU, limits.cpu_s)
    limit(resource.RLIMIT_FSIZE, limits.file_mb * MB)
    limit(resource.RLIMIT_NOFILE, limits.open_files)
    limit(resource.RLIMIT_CORE, 0)
    limit(resource.RLIMIT_NPROC, _user_tasks() + limits.processes)
    if os.getuid() == 0:
        _unshare_network()
    try:
        os.setsid()  # a signal the student sends to its process group reaches the kernel alone
    except OSError:
        pass  # already a session leader


def launcher_command(limits: Limits) -> list[str]:
    """The prefix that starts a kernel command under ``limits``."""
    return [sys.executable, "-m", "autograder.grading.sandbox", json.dumps(asdict(limits)), "--"]


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[1] != "--":
        sys.exit("usage: python -m autograder.grading.sandbox LIMITS_JSON -- COMMAND ...")
    apply(Limits(**json.loads(argv[0])))
    os.execv(argv[2], argv[2:])


if __name__ == "__main__":
    main(sys.argv[1:])
