"""Execute a student's notebook in the sandbox with nbclient, then ask its kernel for results.

Only the student's own cells run in the kernel (locked cells are taken from
the source notebook, test cells are skipped: the hidden tests never reach
the sandbox).  Each graded part's check function then runs here, in the
grader's process, on a stand-in for the student's function or data: a call
is sent to the kernel as JSON, the function runs there, and its result (and
its arguments afterwards, so that in-place edits are caught) comes back as
JSON, decoded into plain arrays and numbers.  A part scores only when its
check passes on that data.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import time
from pathlib import Path

import nbformat
from jupyter_client import AsyncKernelManager
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from . import sandbox, wire

ANSWER_CAP = 64 * 1024 * 1024


# ``python -m ipykernel_launcher`` without the debugger: ipykernel imports debugpy at start-up when it can
# (an eighth of a second, a third of the kernel's imports), and nobody debugs a kernel being graded.
KERNEL_BOOT = ("import sys; sys.path[:1] = [] if sys.path[0] == '' else sys.path[:1]; "
               "sys.modules['debugpy'] = None; from ipykernel import kernelapp; kernelapp.launch_new_instance()")


class KernelFailure(Exception):
    """The kernel died, ran out of time or printed too much: the whole submission fails."""


class SandboxedKernelManager(AsyncKernelManager):
    """Starts the kernel through the sandbox launcher, as the sandbox's user when it has one."""

    sandbox_limits: sandbox.Limits
    sandbox_scratch: Path
    sandbox_ipc: Path

    def format_kernel_cmd(self, extra_arguments=None):
        command = super().format_kernel_cmd(extra_arguments)
        if command[1:3] == ["-m", "ipykernel_launcher"]:
            command[1:3] = ["-c", KERNEL_BOOT]
        return sandbox.launcher_command(self.sandbox_limits, self.sandbox_scratch, self.sandbox_ipc) + command

    def write_connection_file(self, **kwargs):
        super().write_connection_file(**kwargs)
        if self.sandbox_limits.uid is not None:  # the kernel's user must read its keys and ports
            os.chown(self.connection_file, self.sandbox_limits.uid, self.sandbox_limits.uid)


class CappedClient(NotebookClient):
    """nbclient, keeping at most ``output_cap`` bytes of output."""

    output_cap = 8 * 1024 * 1024
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


def cells_to_run(student: dict, source: dict) -> list[tuple[int, dict]]:
    """``(index in the student's notebook, cell)`` for each code cell to run: the student's code cells,
    with locked cells taken from the source and test cells left out."""
    locked = {c["metadata"]["nbgrader"]["grade_id"]: c for c in source["cells"]
              if c.get("metadata", {}).get("nbgrader", {}).get("locked")}
    cells = []
    for index, cell in enumerate(student["cells"]):
        if cell.get("cell_type") != "code":
            continue
        meta = cell.get("metadata", {}).get("nbgrader", {})
        grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
        if grade_id in locked:
            original = locked[grade_id]
            if original["metadata"]["nbgrader"].get("grade"):
                continue  # a test cell: graded here, never run in the sandbox
            cell = original
        elif isinstance(meta, dict) and meta.get("grade") and not meta.get("solution"):
            continue  # a test cell the source does not know (added or renamed): not run
        cells.append((index, nbformat.v4.new_code_cell("".join(cell["source"]) if isinstance(cell["source"], list)
                                                       else str(cell["source"]))))
    return cells


def autograded(student: dict, source: dict, outputs: dict[int, list]) -> dict:
    """The student's notebook as graded: locked cells from the source (test cells with their hidden
    tests, for the feedback page to hide), and the outputs each code cell produced in the sandbox."""
    locked = {c["metadata"]["nbgrader"]["grade_id"]: c for c in source["cells"]
              if c.get("metadata", {}).get("nbgrader", {}).get("locked")}
    cells = []
    for index, cell in enumerate(student["cells"]):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
        cell = dict(locked.get(grade_id, cell))
        cell["source"] = "".join(cell["source"]) if isinstance(cell.get("source"), list) else str(cell["source"])
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = outputs.get(index, []), None
        cells.append(cell)
    return {"cells": cells, "metadata": source.get("metadata", {}), "nbformat": 4, "nbformat_minor": 5}


class Session:
    """A running sandboxed kernel that has executed a student's notebook."""

    def __init__(self, scratch: Path, limits: sandbox.Limits):
        self.scratch, self.limits = scratch, limits
        ipc = scratch.parent / "ipc"
        ipc.mkdir(mode=0o700, exist_ok=True)
        self._own(scratch)
        self._own(ipc)
        self.km = SandboxedKernelManager(transport="ipc", ip=str(ipc / "kernel"),
                                         connection_file=str(ipc / "kernel.json"))
        self.km.sandbox_limits, self.km.sandbox_scratch, self.km.sandbox_ipc = limits, scratch, ipc
        self.nb = nbformat.v4.new_notebook()
        self.client = CappedClient(self.nb, km=self.km, timeout=limits.cell_timeout_s, allow_errors=True,
                                   resources={"metadata": {"path": str(scratch)}})
        self.client.output_cap = int(limits.output_mb * 1024 * 1024)
        self.client.shutdown_kernel = "immediate"  # nothing to save: the jail and all in it go at once
        self.deadline = self.calls_deadline = None
        self.errors: list[str] = []
        self.outputs: dict[int, list] = {}
        self.channel: socket.socket | None = None
        self.requests = 0

    def shutdown(self) -> None:
        """Kill the kernel (and with it its jail) and close the client: nbclient leaves a kernel
        manager it was given running, and a worker grades many submissions in turn."""
        self.close_channel()
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

    def _own(self, path: Path) -> None:
        """Give ``path`` to the sandbox's user (the kernel writes its answers and sockets there)."""
        if self.limits.uid is not None:
            os.chown(path, self.limits.uid, self.limits.uid)

    def _execute(self, source: str, timeout: float) -> dict:
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
            raise KernelFailure("the kernel died (os._exit, sys.exit, a signal or the memory or CPU limit)") from None
        if self.client.overflow:
            raise KernelFailure(f"the notebook printed more than {self.limits.output_mb:g} MB of output")
        return cell

    def run_notebook(self, cells: list[tuple[int, dict]]) -> None:
        """Run the cells in order; ``self.outputs[index]`` keeps each one's outputs, also when one fails."""
        self.deadline = time.monotonic() + self.limits.notebook_timeout_s
        for index, cell in cells:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise KernelFailure(f"timeout: the notebook ran longer than {self.limits.notebook_timeout_s:g} s")
            timeout = min(self.limits.cell_timeout_s, left)
            try:
                done = self._execute(cell.source, timeout)
            finally:  # what the cell printed before it failed is feedback too
                self.outputs[index] = self.nb.cells[-1].outputs
            if time.monotonic() >= self.deadline:
                raise KernelFailure(f"timeout: the notebook ran longer than {self.limits.notebook_timeout_s:g} s")
            for out in done.outputs:
                if out.get("output_type") == "error":
                    self.errors.append(f"{out.get('ename')}: {str(out.get('evalue'))[:300]}")

    def open_channel(self) -> None:
        """Start the kernel's service loop (its last cell) and connect to it.

        The cell is sent without waiting for it: it runs until :meth:`close_channel`,
        serving every request over a Unix socket in the scratch directory, which
        costs a fraction of a millisecond per call where a cell per call costs tens.
        """
        path = self.scratch / ".grader.sock"
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(path))
        self._own(path)
        server.listen(1)
        server.settimeout(self.limits.cell_timeout_s)
        self.client.kc.execute(wire.KERNEL_SERVICE + f"\n__grader_service({str(path)!r})\n",
                               silent=True, store_history=False, allow_stdin=False)
        try:
            self.channel, _ = server.accept()
        except TimeoutError:
            raise KernelFailure("the kernel did not start the grader's channel (it died or its last cell "
                                "never finished)") from None
        finally:
            server.close()
            path.unlink(missing_ok=True)
        self.stream = self.channel.makefile("rwb")
        self.calls_deadline = time.monotonic() + self.limits.notebook_timeout_s

    def close_channel(self) -> None:
        if self.channel is not None:
            try:
                self._send({"kind": "quit"})
            except OSError:
                pass
            self.stream.close()
            self.channel.close()
            self.channel = None

    def _send(self, message: dict) -> None:
        self.stream.write(json.dumps(message).encode() + b"\n")
        self.stream.flush()

    def _receive(self):
        left = self.calls_deadline - time.monotonic()
        if left <= 0:
            raise KernelFailure(f"timeout: the student's functions ran longer than "
                                f"{self.limits.notebook_timeout_s:g} s in all while being graded")
        self.channel.settimeout(min(self.limits.cell_timeout_s, left))
        try:
            line = self.stream.readline(ANSWER_CAP + 1)
        except TimeoutError:
            raise KernelFailure(f"timeout: a function of the notebook ran longer than "
                                f"{min(self.limits.cell_timeout_s, left):.0f} s while being graded") from None
        except OSError as error:
            raise KernelFailure(f"the kernel died while being graded ({error})") from None
        if not line:
            raise KernelFailure("the kernel died while being graded (os._exit, a signal or the memory or CPU limit)")
        if not line.endswith(b"\n"):
            raise KernelFailure(f"an answer of the notebook was larger than {ANSWER_CAP // 2**20} MB")
        try:
            return wire.loads(line.decode(errors="replace"))
        except ValueError as error:
            return {"error": str(error)}

    def request(self, kind: str, name: str, args=()) -> dict:
        """Ask the kernel's service for ``kind`` (describe, value, call) of ``name``; its answer as JSON data.

        While a call runs, the student's code may call back the grader's
        functions among ``args``: each call back is answered here, in turn.
        """
        if self.channel is None:
            self.open_channel()
        functions: list = []
        self.requests += 1
        self._send({"id": self.requests, "kind": kind, "name": name,
                    "args": [wire.encode(a, callbacks=functions) for a in args]})
        while True:
            message = self._receive()
            if type(message) is not dict:
                return {"error": "the kernel's answer is not an object"}
            if "callback" in message:
                self._send(self._call_back(functions, message))
                continue
            if message.get("id") != self.requests:
                return {"error": "the kernel answered out of turn"}
            return message

    @staticmethod
    def _call_back(functions: list, message: dict) -> dict:
        """Run the grader's function that the student's code called, on its (untrusted) arguments."""
        index, args = message.get("callback"), message.get("args")
        if type(index) is not int or not 0 <= index < len(functions) or type(args) is not list:
            return {"error": "malformed call of a grader function"}
        try:
            return {"ok": wire.encode(functions[index](*[wire.decode(a) for a in args]))}
        except Exception as error:  # the grader's function refused the student's arguments
            return {"error": str(error)[:2000]}


class RemoteFunction:
    """The student's function, called in its kernel on plain data."""

    def __init__(self, session: Session, name: str):
        self.session, self.name = session, name

    def __call__(self, *args):
        reply = self.session.request("call", self.name, args)
        if "error" in reply:
            message = str(reply["error"])
            if message.startswith("NotImplementedError"):
                raise NotImplementedError(message)
            raise RuntimeError(message.split(": ", 1)[-1] if ": " in message else message)
        after = reply.get("args")
        if type(after) is list and len(after) == len(args):
            for original, changed in zip(args, after):
                if type(original) is __import__("numpy").ndarray:
                    changed = wire.decode(changed)
                    if type(changed) is type(original) and changed.shape == original.shape:
                        original[...] = changed
                    else:
                        original[...] = float("nan")  # replaced by something else: an in-place edit
        return wire.decode(reply.get("ok"))


def stand_in(session: Session, name: str):
    """What a check receives for the notebook variable ``name``."""
    info = session.request("describe", name)
    found = info.get("ok") if type(info.get("ok")) is dict else {}
    if not found.get("defined"):
        return wire._opaque("notebook", f"Undefined[{name}]")
    if found.get("callable"):
        return RemoteFunction(session, name)
    reply = session.request("value", name)
    return wire.decode(reply.get("ok")) if "ok" in reply else wire._opaque("notebook", "Unreadable")
