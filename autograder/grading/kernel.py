"""A sandboxed Jupyter kernel that executes a student's cells with nbclient, within the submission's limits.

The kernel is started through the sandbox launcher (``sandbox.py``), as the
jail's user when there is one; nbclient runs each cell under the cell
timeout, the whole notebook under the notebook timeout, and keeps at most
the output cap.  Whatever ends the run early (the kernel died, a timeout, a
flood of output) is a :class:`KernelFailure`: the whole submission fails.
Talking to the kernel once the notebook has run is ``channel.py``'s job.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import nbformat
from jupyter_client import AsyncKernelManager
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from . import sandbox
from .limits import Limits

MB = 1024 * 1024

# ``python -m ipykernel_launcher`` without the debugger: ipykernel imports debugpy at start-up when it can
# (an eighth of a second, a third of the kernel's imports), and nobody debugs a kernel being graded.
KERNEL_BOOT = ("import sys; sys.path[:1] = [] if sys.path[0] == '' else sys.path[:1]; "
               "sys.modules['debugpy'] = None; from ipykernel import kernelapp; kernelapp.launch_new_instance()")


class KernelFailure(BaseException):
    """The kernel died, ran out of time or printed too much: the whole submission fails.

    A ``BaseException``, as ``KeyboardInterrupt`` is, so that a check's ``except Exception`` around a call
    of the student's function (``checks.call``) cannot take it for that function raising: it ends the
    submission, not the part."""


class SandboxedKernelManager(AsyncKernelManager):
    """Starts the kernel through the sandbox launcher, as the sandbox's user when it has one."""

    sandbox_limits: Limits
    sandbox_scratch: Path
    sandbox_ipc: Path
    sandbox_uid: int | None

    def format_kernel_cmd(self, extra_arguments=None):
        command = super().format_kernel_cmd(extra_arguments)
        if command[1:3] == ["-m", "ipykernel_launcher"]:
            command[1:3] = ["-c", KERNEL_BOOT]
        return sandbox.launcher_command(self.sandbox_limits, self.sandbox_scratch, self.sandbox_ipc,
                                        self.sandbox_uid) + command

    def write_connection_file(self, **kwargs):
        super().write_connection_file(**kwargs)
        if self.sandbox_uid is not None:  # the kernel's user must read its keys and ports
            os.chown(self.connection_file, self.sandbox_uid, self.sandbox_uid)


class CappedClient(NotebookClient):
    """nbclient, keeping at most ``output_cap`` bytes of output."""

    output_cap = 8 * MB
    output_bytes = 0
    overflow = False

    def output(self, outs, msg, display_id, cell_index):
        self.output_bytes += len(json.dumps(msg.get("content", {}), default=str))
        if self.output_bytes > self.output_cap:
            if not self.overflow:  # stop the flood now rather than at the cell's timeout
                self.overflow = True
                asyncio.ensure_future(self.km.shutdown_kernel(now=True))
            return None
        return super().output(outs, msg, display_id, cell_index)


class Kernel:
    """A sandboxed kernel (launched by :attr:`client`) that runs a student's cells in ``scratch``."""

    def __init__(self, scratch: Path, limits: Limits, uid: int | None = None):
        self.scratch, self.limits, self.uid = scratch, limits, uid
        # ipc: the grader's (the kernel may only pass through it); ipc/kernel: the kernel's own sockets
        ipc = scratch.parent / "ipc"
        ipc.mkdir(mode=0o711)
        (ipc / "kernel").mkdir(mode=0o700)
        self.own(scratch)
        self.own(ipc / "kernel")
        # The grader's channel (``channel.py``), bound and listening before the kernel starts, where the
        # kernel's user can neither bind first nor replace it: no student code can squat its address.
        self.channel_path = ipc / "grader.sock"
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(self.channel_path))
        self.listener.listen(1)
        self.own(self.channel_path)
        self.km = SandboxedKernelManager(transport="ipc", ip=str(ipc / "kernel" / "zmq"),
                                         connection_file=str(ipc / "kernel.json"))
        self.km.sandbox_limits, self.km.sandbox_scratch, self.km.sandbox_ipc = limits, scratch, ipc
        self.km.sandbox_uid = uid
        self.nb = nbformat.v4.new_notebook()
        self.client = CappedClient(self.nb, km=self.km, timeout=limits.cell_timeout_s, allow_errors=True,
                                   resources={"metadata": {"path": str(scratch)}})
        self.client.output_cap = int(limits.output_mb * MB)
        self.client.shutdown_kernel = "immediate"  # nothing to save: the jail and all in it go at once
        self.errors: list[str] = []
        self.outputs: dict[int, list] = {}

    def own(self, path: Path) -> None:
        """Give ``path``, which the grader just made, to the sandbox's user (the kernel writes its files and
        sockets there); only before the kernel starts, so that no student code can have replaced it."""
        if self.uid is not None:
            os.chown(path, self.uid, self.uid, follow_symlinks=False)

    def died(self, during: str = "") -> KernelFailure:
        """The failure of this kernel, which died ``during`` something: running out of CPU time when its
        launcher's exit status says so (SIGXCPU, passed on by the jail), else the usual causes."""
        process = getattr(self.km.provisioner, "process", None)
        try:
            code = process.wait(timeout=2) if process is not None else None
        except subprocess.TimeoutExpired:
            code = None
        if code in (-signal.SIGXCPU, -signal.SIGXCPU & 0xFF):
            return KernelFailure(f"the kernel died{during}: it ran out of CPU time (the limit is {self.limits.cpu_s} s "
                                 "for the notebook's cells and the grader's calls together)")
        return KernelFailure(f"the kernel died{during} (os._exit, sys.exit, a signal or the memory or CPU limit)")

    def close_listener(self) -> None:
        """Stop listening for the kernel's channel (once it is connected, or never will be)."""
        self.listener.close()

    def shutdown(self) -> None:
        """Kill the kernel (and with it its jail) and close the client: nbclient leaves a kernel
        manager it was given running, and a worker grades many submissions in turn."""
        self.close_listener()
        try:
            if self.client.kc is not None:
                self.client.kc.stop_channels()
            process = getattr(self.km.provisioner, "process", None)
            if process is not None and process.poll() is None:
                # the kill jupyter_client would send, without its 0.1 s polls for the end of the process
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
            if self.km.has_kernel:
                run_sync(self.km.shutdown_kernel)(now=True)  # finds it gone: only closes and cleans up
        finally:
            run_sync(self.km.cleanup_resources)()

    def execute(self, source: str, timeout: float) -> nbformat.NotebookNode:
        """Run ``source`` as a new cell for at most ``timeout`` seconds; the cell, with its outputs."""
        cell = nbformat.v4.new_code_cell(source)
        self.nb.cells.append(cell)
        self.client.timeout = max(1, int(timeout))
        try:
            self.client.execute_cell(cell, len(self.nb.cells) - 1)
        except (CellTimeoutError, DeadKernelError) as error:
            if self.client.overflow:
                raise KernelFailure(f"the notebook printed more than {self.limits.output_mb:g} MB of output") from None
            if isinstance(error, CellTimeoutError):
                raise KernelFailure(f"timeout: a cell ran longer than {timeout:.0f} s") from None
            raise self.died() from None
        if self.client.overflow:
            raise KernelFailure(f"the notebook printed more than {self.limits.output_mb:g} MB of output")
        return cell

    def run_notebook(self, cells: list[tuple[int, str]]) -> None:
        """Run the cells ``(index, code)`` in order; ``self.outputs[index]`` keeps each one's outputs, also
        when one fails, and ``self.errors`` the errors they raised."""
        deadline = time.monotonic() + self.limits.notebook_timeout_s
        for index, source in cells:
            left = deadline - time.monotonic()
            if left <= 0:
                raise KernelFailure(f"timeout: the notebook ran longer than {self.limits.notebook_timeout_s:g} s")
            timeout = min(self.limits.cell_timeout_s, left)
            try:
                done = self.execute(source, timeout)
            finally:  # what the cell printed before it failed is feedback too
                self.outputs[index] = self.nb.cells[-1].outputs
            if time.monotonic() >= deadline:
                raise KernelFailure(f"timeout: the notebook ran longer than {self.limits.notebook_timeout_s:g} s")
            for out in done.outputs:
                if out.get("output_type") == "error":
                    self.errors.append(f"{out.get('ename')}: {str(out.get('evalue'))[:300]}")
