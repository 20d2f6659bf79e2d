"""The grader's line to a kernel that has run a student's notebook: each part's check runs here, on plain data.

:class:`Channel` starts the service loop of ``wire.KERNEL_SERVICE`` as the
kernel's last cell and talks to it over the Unix socket that the kernel's
box bound before any student code ran (``Kernel.listener``), one frame per
request and per answer.  Every answer is bounded while it is read: its size
(the ``--answer`` limit), its items (``wire.MAX_ITEMS``), and the deadline
of its call, which holds for the whole frame however slowly it trickles in.
An answer the checks cannot use costs its part alone: the stand-in raises
:class:`~autograder.checks.UnusableResult` saying why.  A check receives
:func:`stand_in` for each notebook variable: a :class:`RemoteFunction` for
the student's function (called in the kernel on plain data, its result and
its arguments afterwards sent back, so that in-place edits are caught, also
of arrays inside lists, tuples and dicts), the decoded value for data, an
:class:`~wire.Opaque` for anything else.  A part scores only when its check
passes on that data.
"""

from __future__ import annotations

import json
import time

import numpy as np

from ..checks import UnusableResult
from . import wire
from .kernel import MB, Kernel, KernelFailure

READ_SIZE = 1 << 20  # bytes read at once from the socket


class Channel:
    """Requests to the kernel's service loop, opened at the first request; :meth:`close` ends the loop."""

    def __init__(self, kernel: Kernel):
        self.kernel, self.limits = kernel, kernel.limits
        self.socket = None
        self.deadline = None  # of all the calls together
        self.requests = 0

    def open(self) -> None:
        """Start the kernel's service loop (its last cell) and take its connection.

        The cell is sent without waiting for it: it runs until :meth:`close`,
        serving every request over the socket, which costs a fraction of a
        millisecond per call where a cell per call costs tens.
        """
        listener = self.kernel.listener
        listener.settimeout(self.limits.cell_timeout_s)
        self.kernel.client.kc.execute(wire.service_cell(str(self.kernel.channel_path), self.limits.answer_mb * MB),
                                      silent=True, store_history=False, allow_stdin=False)
        try:
            self.socket, _ = listener.accept()
        except TimeoutError:
            raise KernelFailure("the kernel did not start the grader's channel (it died or its last cell "
                                "never finished)") from None
        finally:
            self.kernel.close_listener()
        self.deadline = time.monotonic() + self.limits.notebook_timeout_s

    def close(self) -> None:
        """Tell the service loop to end, and hang up (a dead or hung kernel is not waited for)."""
        if self.socket is not None:
            try:
                self.socket.setblocking(False)
                self.socket.send(self.frame({"kind": "quit"}))
            except OSError:  # a dead or busy kernel: it goes with its box
                pass
            self.socket.close()
            self.socket = None

    @staticmethod
    def frame(message: dict) -> bytes:
        body = json.dumps(message).encode()
        return wire.HEADER.pack(len(body)) + body

    def send(self, message: dict, deadline: float) -> None:
        data = memoryview(self.frame(message))
        while data:
            self.socket.settimeout(self.time_left(deadline))
            try:
                sent = self.socket.send(data[:READ_SIZE])
            except TimeoutError:
                raise self.timeout(deadline) from None
            except OSError:
                raise self.kernel.died(" while being graded") from None
            data = data[sent:]

    def time_left(self, deadline: float) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise self.timeout(deadline)
        return left

    def timeout(self, deadline: float) -> KernelFailure:
        if deadline >= self.deadline:
            return KernelFailure(f"timeout: the student's functions ran longer than "
                                 f"{self.limits.notebook_timeout_s:g} s in all while being graded")
        return KernelFailure(f"timeout: a function of the notebook ran (or sent its answer) longer than "
                             f"{self.limits.cell_timeout_s:g} s while being graded")

    def read(self, size: int, deadline: float) -> bytearray:
        """Exactly ``size`` bytes from the kernel, all of them before ``deadline``."""
        buffer = bytearray(size)
        view, got = memoryview(buffer), 0
        while got < size:
            self.socket.settimeout(self.time_left(deadline))
            try:
                n = self.socket.recv_into(view[got:got + READ_SIZE])
            except TimeoutError:
                raise self.timeout(deadline) from None
            except OSError:
                raise self.kernel.died(" while being graded") from None
            if n == 0:
                raise self.kernel.died(" while being graded")
            got += n
        return buffer

    def receive(self, deadline: float):
        """The next frame from the kernel, parsed; ``wire.Unreadable`` when it cannot be read (then the
        frame after it is read from its own start)."""
        size = wire.HEADER.unpack(self.read(wire.HEADER.size, deadline))[0]
        if size > self.limits.answer_mb * MB:  # the service never sends one: the notebook wrote it itself
            raise KernelFailure(f"the notebook's code wrote to the grader's channel (a frame of {size:,} bytes, "
                                f"more than the {self.limits.answer_mb:g} MB the grader reads)")
        try:
            frame = self.read(size, deadline)
            return wire.loads(frame)
        except MemoryError:
            frame = None  # freed before the worker goes on
            raise self.memory_exhausted() from None

    def memory_exhausted(self) -> KernelFailure:
        return KernelFailure(f"an answer of the notebook took more than the grader's memory limit "
                             f"({self.limits.worker_memory_mb:g} MB) to read")

    def request(self, kind: str, name: str, args=()) -> dict:
        """Ask the kernel's service for ``kind`` (describe, value, call) of ``name``; its answer as JSON data:
        ``{"ok": ...}``, ``{"error": ...}`` (the student's code raised) or ``{"unusable": ...}``.

        While a call runs, the student's code may call back the grader's
        functions among ``args``: each call back is answered here, in turn.
        The whole call, its call backs included, has the cell timeout.
        """
        if self.socket is None:
            self.open()
        deadline = min(time.monotonic() + self.limits.cell_timeout_s, self.deadline)
        functions: list = []
        self.requests += 1
        self.send({"id": self.requests, "kind": kind, "name": name,
                   "args": [wire.encode(a, callbacks=functions) for a in args]}, deadline)
        # Every frame but a call back and a late answer to an earlier request is this request's answer: one
        # the notebook's code wrote itself comes first, and the service's own answer after it is then late.
        while True:
            try:
                message = self.receive(deadline)
            except wire.Unreadable as error:
                return {"unusable": str(error)}
            if type(message) is not dict:
                return {"unusable": "an answer that is not a JSON object"}
            if "callback" in message:
                self.send(self.call_back(functions, message), deadline)
                continue
            number = message.get("id")
            if type(number) is int and number < self.requests:
                continue  # the answer to an earlier request, already settled
            if number != self.requests:
                return {"unusable": "an answer out of turn"}
            return message

    @staticmethod
    def call_back(functions: list, message: dict) -> dict:
        """Run the grader's function that the student's code called, on its (untrusted) arguments."""
        index, args = message.get("callback"), message.get("args")
        if type(index) is not int or not 0 <= index < len(functions) or type(args) is not list:
            return {"error": "malformed call of a grader function"}
        try:
            return {"ok": wire.encode(functions[index](*[wire.decode(a) for a in args]))}
        except Exception as error:  # the grader's function refused the student's arguments
            return {"error": str(error)[:2000]}


def is_data(value) -> bool:
    """Whether ``value`` is data that the kernel returns as it was sent (not a grader function nor a generator)."""
    return value is None or type(value) in (bool, int, float, str, list, tuple, dict, np.ndarray) or isinstance(
        value, np.generic)


def spoil(array: np.ndarray) -> None:
    """Change every entry of ``array``: the student's function replaced it by something else."""
    if array.dtype.kind == "f":
        array[...] = np.nan
    elif array.dtype.kind == "b":
        np.logical_not(array, out=array)
    else:
        np.add(array, 1, out=array, casting="unsafe")


def mirror(original, changed) -> None:
    """Do to the grader's argument ``original`` what the student's function did to its copy in the kernel
    (``changed``, decoded): arrays are edited in place, also inside lists, tuples and dicts, and the items of
    lists and dicts replaced, so that the check sees every in-place edit as if it had called the function."""
    if type(original) is np.ndarray:
        if type(changed) is np.ndarray and changed.shape == original.shape:
            try:
                original[...] = changed
                return
            except (ValueError, TypeError, OverflowError):
                pass
        spoil(original)
    elif type(original) in (list, tuple) and type(changed) is type(original) and len(changed) == len(original):
        for i, (before, after) in enumerate(zip(original, changed)):
            if type(before) in (np.ndarray, list, tuple, dict) and type(after) is type(before):
                mirror(before, after)
            elif type(original) is list and is_data(before) and (type(after) is not type(before) or after != before):
                original[i] = after
            elif type(before) is np.ndarray:
                spoil(before)
    elif type(original) is list and type(changed) is list and all(map(is_data, original)):
        original[:] = changed
    elif type(original) is dict and type(changed) is dict and all(map(is_data, original.values())):
        for key in [k for k in original if k not in changed]:
            del original[key]
        for key, after in changed.items():
            before = original.get(key)
            if key in original and type(before) in (np.ndarray, list, tuple, dict) and type(after) is type(before):
                mirror(before, after)
            else:
                original[key] = after
    elif type(original) in (list, tuple, dict):  # replaced by something else: spoil the arrays it holds
        for item in (original.values() if type(original) is dict else original):
            if type(item) is np.ndarray:
                spoil(item)


class RemoteFunction:
    """The student's function, called in its kernel on plain data."""

    def __init__(self, channel: Channel, name: str):
        self.channel, self.name = channel, name

    def __call__(self, *args):
        reply = self.channel.request("call", self.name, args)
        if "unusable" in reply:
            raise UnusableResult(str(reply["unusable"])[:500])
        if "error" in reply:
            message = str(reply["error"])
            if message.startswith("NotImplementedError"):
                raise NotImplementedError(message)
            raise RuntimeError(message.split(": ", 1)[-1] if ": " in message else message)
        try:
            after = reply.get("args")
            if type(after) is list and len(after) == len(args):
                for original, changed in zip(args, after):
                    if type(original) in (np.ndarray, list, tuple, dict):
                        mirror(original, wire.decode(changed))
            return wire.decode(reply.get("ok"))
        except MemoryError:
            raise self.channel.memory_exhausted() from None


def stand_in(channel: Channel, name: str):
    """What a check receives for the notebook variable ``name``."""
    info = channel.request("describe", name)
    found = info.get("ok") if type(info.get("ok")) is dict else {}
    if not found.get("defined"):
        return wire.opaque("notebook", f"Undefined[{name}]")
    if found.get("callable"):
        return RemoteFunction(channel, name)
    reply = channel.request("value", name)
    try:
        return wire.decode(reply.get("ok")) if "ok" in reply else wire.opaque("notebook", "Unreadable")
    except MemoryError:
        raise channel.memory_exhausted() from None
