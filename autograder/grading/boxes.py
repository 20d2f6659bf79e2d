"""A box per submission: a scratch space and a sandboxed kernel in it, the next one launched early.

A kernel's start is mostly waiting (a Python start and ipykernel's imports),
and it would otherwise be paid in full by every submission: :class:`Boxes`
launches the next submission's kernel while the current one is graded, and
hands it out when it is asked for with the same limits.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from . import linux, sandbox
from .jobs import GraderFault
from .kernel import Kernel
from .limits import Limits


class Box:
    """A scratch space (a tmpfs of its own when ``jailed``) and a sandboxed kernel launched in it.

    The kernel is launched at construction and waited for in :meth:`connect`;
    when ``jailed`` (as root, in a worker with a mount namespace of its own),
    it runs in the jail as the user ``uid``, and its files vanish with the
    tmpfs, its processes with its jail.
    """

    def __init__(self, limits: Limits, jailed: bool = False, uid: int | None = None):
        self.limits, self.jailed, self.kernel, self.log = limits, jailed, None, None
        self.work = Path(tempfile.mkdtemp(prefix="nnref-grade-"))
        try:
            if jailed:
                linux.tmpfs(self.work, limits.disk_mb, "0711")
            self.scratch = self.work / "scratch"
            self.scratch.mkdir(mode=0o700)
            self.kernel = Kernel(self.scratch, limits, uid if jailed else None)
            # the kernel's own stdout and stderr (not the notebook's outputs) go to a log in the scratch space
            self.log = open(self.work / "kernel.log", "wb")  # noqa: SIM115 - closed in close()
            self.kernel.client.start_new_kernel(env=sandbox.minimal_env(str(self.scratch)), stdout=self.log,
                                                stderr=self.log)
        except BaseException:
            self.close()
            raise

    def connect(self) -> None:
        """Wait until the kernel answers (it may have been launched a while ago); ``GraderFault`` naming the
        cause, with the end of the kernel's own log, when it never does: no student code has run yet."""
        try:
            self.kernel.client.start_new_kernel_client()
        except Exception as error:
            raise GraderFault(f"the kernel could not start ({type(error).__name__}: {error}); "
                              f"the last line of its log: {self.last_log_line() or '(empty)'}") from error

    def last_log_line(self) -> str:
        """The last line of the kernel's own stdout and stderr (where the launcher and the jail report)."""
        try:
            text = (self.work / "kernel.log").read_bytes()[-4096:].decode(errors="replace")
        except OSError:
            return ""
        return (text.strip().splitlines() or [""])[-1].strip()

    def close(self) -> None:
        try:
            if self.kernel is not None:
                self.kernel.shutdown()
                reap()
        finally:
            if self.log is not None:
                self.log.close()
            if self.jailed:
                linux.umount(self.work)
            shutil.rmtree(self.work, ignore_errors=True)


class Boxes:
    """Connected boxes, one per job; with ``prefetch``, the next one is launched before one is handed out.

    ``private_mounts``: this process has a mount namespace of its own (a
    grading worker, as root), so its boxes may mount their tmpfs and jail
    their kernels where the host can build the jail.
    """

    def __init__(self, prefetch: bool = False, private_mounts: bool = False):
        self.prefetch = prefetch
        self.jailed = private_mounts and sandbox.jail_available()[0]
        self.spare: Box | None = None
        self.launched = 0

    def launch(self, limits: Limits) -> Box:
        """A new box, its kernel launched; in the jail, under a user of its own: nothing of an earlier jail
        counts against it."""
        self.launched += 1
        return Box(limits, self.jailed, sandbox.kernel_uid(os.getpid(), self.launched))

    def prepare(self, limits: Limits) -> None:
        """Launch a spare box for the first job to come, before it comes."""
        self.close()
        self.spare = self.launch(limits)

    def get(self, limits: Limits) -> Box:
        """A connected box: the spare one when it was launched with these limits and started, else a new one."""
        box, self.spare = self.spare, None
        if box is not None and box.limits != limits:
            box.close()
            box = None
        if self.prefetch:
            try:
                self.spare = self.launch(limits)
            except Exception:  # launched again, and reported, when it is needed
                self.spare = None
        if box is not None:
            try:
                box.connect()
                return box
            except Exception:  # the spare kernel did not start: a fresh one gets the job
                box.close()
        box = self.launch(limits)
        try:
            box.connect()
        except BaseException:
            box.close()
            raise
        return box

    def close(self) -> None:
        """Close the spare box, if any."""
        if self.spare is not None:
            self.spare.close()
            self.spare = None


def adopt_orphans() -> None:
    """Linux: this process adopts the processes its kernels leave behind (their subreaper), so that
    :func:`reap` collects them whatever the host's init does."""
    try:
        linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)
    except (OSError, AttributeError):
        pass


def reap() -> None:
    """Collect the jail's processes that ended after their launcher."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return

