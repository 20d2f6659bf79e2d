"""The grader's line to a kernel that has run a student's notebook: each part's check runs here, on plain data.

:class:`Channel` starts the service loop of ``wire.KERNEL_SERVICE`` as the
kernel's last cell and talks to it over a Unix socket in the scratch
directory, one JSON line per request and per answer.  A check receives
:func:`stand_in` for each notebook variable: a :class:`RemoteFunction` for
the student's function (called in the kernel on plain data, its result and
its array arguments afterwards sent back, so that in-place edits are
caught), the decoded value for data, an :class:`~wire.Opaque` for anything
else.  A part scores only when its check passes on that data.
"""

from __future__ import annotations

import json
import socket
import time

import numpy as np

from . import wire
from .kernel import MB, Kernel, KernelFailure


class Channel:
    """Requests to the kernel's service loop, opened at the first request; :meth:`close` ends the loop."""

    def __init__(self, kernel: Kernel):
        self.kernel, self.limits = kernel, kernel.limits
        self.socket: socket.socket | None = None
        self.stream = None
        self.deadline = None  # of all the calls together
        self.requests = 0

    def open(self) -> None:
        """Start the kernel's service loop (its last cell) and connect to it.

        The cell is sent without waiting for it: it runs until :meth:`close`,
        serving every request over a Unix socket in the scratch directory, which
        costs a fraction of a millisecond per call where a cell per call costs tens.
        """
        path = self.kernel.scratch / ".grader.sock"
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(path))
        self.kernel.own(path)
        server.listen(1)
        server.settimeout(self.limits.cell_timeout_s)
        self.kernel.client.kc.execute(wire.KERNEL_SERVICE + f"\n__grader_service({str(path)!r})\n",
                                      silent=True, store_history=False, allow_stdin=False)
        try:
            self.socket, _ = server.accept()
        except TimeoutError:
            raise KernelFailure("the kernel did not start the grader's channel (it died or its last cell "
                                "never finished)") from None
        finally:
            server.close()
            path.unlink(missing_ok=True)
        self.stream = self.socket.makefile("rwb")
        self.deadline = time.monotonic() + self.limits.notebook_timeout_s

    def close(self) -> None:
        """Tell the service loop to end, and hang up (a dead or hung kernel is not waited for)."""
        if self.socket is not None:
            try:
                self._send({"kind": "quit"})
            except OSError:
                pass
            try:
                self.stream.close()
            except OSError:  # what could not be sent to a dead kernel
                pass
            self.socket.close()
            self.socket = None

    def _send(self, message: dict) -> None:
        self.stream.write(json.dumps(message).encode() + b"\n")
        self.stream.flush()

    def _receive(self):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise KernelFailure(f"timeout: the student's functions ran longer than "
                                f"{self.limits.notebook_timeout_s:g} s in all while being graded")
        self.socket.settimeout(min(self.limits.cell_timeout_s, left))
        cap = self.limits.answer_mb * MB
        try:
            line = self.stream.readline(cap + 1)
        except TimeoutError:
            raise KernelFailure(f"timeout: a function of the notebook ran longer than "
                                f"{min(self.limits.cell_timeout_s, left):.0f} s while being graded") from None
        except OSError as error:
            raise KernelFailure(f"the kernel died while being graded ({error})") from None
        if not line:
            raise KernelFailure("the kernel died while being graded (os._exit, a signal or the memory or CPU limit)")
        if not line.endswith(b"\n"):
            raise KernelFailure(f"an answer of the notebook was larger than {self.limits.answer_mb:g} MB")
        try:
            return wire.loads(line.decode(errors="replace"))
        except ValueError as error:
            return {"error": str(error)}

    def request(self, kind: str, name: str, args=()) -> dict:
        """Ask the kernel's service for ``kind`` (describe, value, call) of ``name``; its answer as JSON data.

        While a call runs, the student's code may call back the grader's
        functions among ``args``: each call back is answered here, in turn.
        """
        if self.socket is None:
            self.open()
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

    def __init__(self, channel: Channel, name: str):
        self.channel, self.name = channel, name

    def __call__(self, *args):
        reply = self.channel.request("call", self.name, args)
        if "error" in reply:
            message = str(reply["error"])
            if message.startswith("NotImplementedError"):
                raise NotImplementedError(message)
            raise RuntimeError(message.split(": ", 1)[-1] if ": " in message else message)
        after = reply.get("args")
        if type(after) is list and len(after) == len(args):
            for original, changed in zip(args, after):
                if type(original) is np.ndarray:
                    changed = wire.decode(changed)
                    if type(changed) is type(original) and changed.shape == original.shape:
                        original[...] = changed
                    else:
                        original[...] = float("nan")  # replaced by something else: an in-place edit
        return wire.decode(reply.get("ok"))


def stand_in(channel: Channel, name: str):
    """What a check receives for the notebook variable ``name``."""
    info = channel.request("describe", name)
    found = info.get("ok") if type(info.get("ok")) is dict else {}
    if not found.get("defined"):
        return wire.opaque("notebook", f"Undefined[{name}]")
    if found.get("callable"):
        return RemoteFunction(channel, name)
    reply = channel.request("value", name)
    return wire.decode(reply.get("ok")) if "ok" in reply else wire.opaque("notebook", "Unreadable")
