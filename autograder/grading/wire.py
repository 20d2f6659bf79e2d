"""Plain data between the student's kernel and the grader: JSON with tagged arrays, never pickles.

The kernel side (:data:`KERNEL_SERVICE`) is source code run in the student's
kernel as its last cell: a loop that decodes the grader's requests and
encodes what it returns.  The grader side is :func:`encode` for what the
grader sends, and :func:`loads` then :func:`decode` for what comes back,
which is untrusted: each message is one frame (:data:`HEADER`, its length,
then that many bytes of JSON), so that one bad answer cannot spoil the next;
:func:`loads` refuses a frame with more than :data:`MAX_ITEMS` items before
parsing it, and :func:`decode` makes exact ``np.ndarray``s, Python numbers,
strings, lists, tuples and dicts of it, and of anything else an
:class:`Opaque` stand-in that the checks refuse.
"""

from __future__ import annotations

import functools
import json
import struct

import numpy as np

# dtypes an array may come back with; anything else (float128, complex, object ...) is refused
DTYPES = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float16", "float32", "float64"}
MAX_DEPTH = 32
# Items (numbers, strings, lists, dicts) one answer may hold, counted before it is parsed: a million
# entries of an array, and a parsed answer that stays within a few hundred MB of the grader's memory
# whatever it holds (empty dicts, stand-ins for objects ...).
MAX_ITEMS = 1_000_000
HEADER = struct.Struct("!Q")  # the length of a frame's JSON, in bytes, before it


class Unreadable(ValueError):
    """An answer of the kernel that the grader does not read (too many items, not JSON ...); says why."""


class Opaque:
    """Stands for an object the student's code returned that is not plain data (never compared)."""

    __slots__ = ("description",)

    def __init__(self, description: str):
        self.description = description

    def __repr__(self):
        return f"<{self.description}>"


@functools.lru_cache(maxsize=256)
def opaque_kind(module: str, name: str) -> type:
    """The stand-in class named ``module.name``: one per name, however many objects come back."""
    kind = type(name, (Opaque,), {"__slots__": ()})
    kind.__module__ = module
    return kind


def opaque(module: str, name: str) -> Opaque:
    """A stand-in whose type is named ``module.name`` (so that a check's message can name it)."""
    module, name = str(module)[:100], str(name)[:100]
    return opaque_kind(module, name)(f"{module}.{name}")


def count_items(frame: bytes | bytearray) -> int:
    """An upper bound of the items of the JSON ``frame`` (separators and openings, also inside strings)."""
    return frame.count(b",") + frame.count(b"[") + frame.count(b"{") + 1


def loads(frame: bytes | bytearray):
    """Parse the kernel's answer: ``{"ok": value, "args": [...]}``, ``{"error": message}`` or
    ``{"unusable": message}``; :class:`Unreadable` saying why when it holds more than
    :data:`MAX_ITEMS` items or is not JSON."""
    if count_items(frame) > MAX_ITEMS:
        raise Unreadable(f"an answer of more than {MAX_ITEMS:,} items (numbers, strings, lists or objects)")
    try:
        return json.loads(frame)
    except (ValueError, RecursionError) as error:
        raise Unreadable(f"an answer that is not valid JSON ({str(error)[:200]})") from None


GENERATORS = {"PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64"}


def encode(value, depth: int = 0, callbacks: list | None = None):
    """The grader's inputs as JSON-able data (only plain data is ever sent).

    Two kinds of grader object travel by description: a NumPy random
    ``Generator`` as its bit generator's state (the kernel rebuilds an equal
    one), and, when ``callbacks`` is a list, a grader function (a gradient the
    student's optimiser must call, say) as an index into that list: the kernel
    gets a proxy that asks the grader to run it (see ``channel.Channel.request``).
    """
    if depth > MAX_DEPTH:
        raise ValueError("data nested too deeply")
    if type(value) is np.random.Generator and type(value.bit_generator).__name__ in GENERATORS:
        return {"__generator__": value.bit_generator.state}
    if callbacks is not None and callable(value) and not isinstance(value, type):
        callbacks.append(value)
        return {"__callback__": len(callbacks) - 1}
    if type(value) is list and callbacks is not None:
        return [encode(v, depth + 1, callbacks) for v in value]
    if type(value) is tuple and callbacks is not None:
        return {"__tuple__": [encode(v, depth + 1, callbacks) for v in value]}
    if type(value) is dict and callbacks is not None:
        return {"__dict__": [[encode(k, depth + 1), encode(v, depth + 1, callbacks)] for k, v in value.items()]}
    if type(value) is np.ndarray:
        return {"__ndarray__": str(value.dtype), "shape": list(value.shape), "data": value.reshape(-1).tolist()}
    if isinstance(value, np.generic):
        return {"__scalar__": str(value.dtype), "value": value.item()}
    if value is None or type(value) in (bool, int, float, str):
        return value
    if type(value) is tuple:
        return {"__tuple__": [encode(v, depth + 1) for v in value]}
    if type(value) is list:
        return [encode(v, depth + 1) for v in value]
    if type(value) is dict:
        return {"__dict__": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()]}
    raise TypeError(f"the grader cannot send a {type(value).__name__} to the student's kernel")


def decode(data, depth: int = 0):
    """Untrusted JSON data from the kernel as plain Python and NumPy values."""
    if depth > MAX_DEPTH:
        return opaque("grader", "TooDeeplyNested")
    if data is None or type(data) in (bool, int, float, str):
        return data
    if type(data) is list:
        return [decode(v, depth + 1) for v in data]
    if type(data) is not dict or len(data) == 0:
        return opaque("grader", "Malformed")
    if "__ndarray__" in data:
        dtype, shape = data.get("__ndarray__"), data.get("shape")
        if dtype not in DTYPES or type(shape) is not list or not all(type(n) is int and n >= 0 for n in shape):
            return opaque("numpy", f"ndarray[{dtype}]")
        flat = data.get("data")
        if type(flat) is not list or not all(type(v) in (bool, int, float) for v in flat):
            return opaque("grader", "MalformedArray")
        try:
            return np.array(flat, dtype=dtype).reshape(shape)
        except (ValueError, OverflowError):
            return opaque("grader", "MalformedArray")
    if "__scalar__" in data:
        dtype, value = data.get("__scalar__"), data.get("value")
        if dtype not in DTYPES or type(value) not in (bool, int, float):
            return opaque("numpy", str(dtype))
        try:
            return np.array(value, dtype=dtype)[()]
        except (ValueError, OverflowError):
            return opaque("grader", "MalformedScalar")
    if "__tuple__" in data and type(data["__tuple__"]) is list:
        return tuple(decode(v, depth + 1) for v in data["__tuple__"])
    if "__dict__" in data and type(data["__dict__"]) is list:
        out = {}
        for item in data["__dict__"]:
            if type(item) is not list or len(item) != 2 or type(item[0]) not in (str, int, float, bool):
                return opaque("grader", "MalformedDict")
            out[item[0]] = decode(item[1], depth + 1)
        return out
    if "__opaque__" in data:
        return opaque(str(data.get("module", "?"))[:100], str(data.get("__opaque__"))[:100])
    return opaque("grader", "Malformed")


# Run in the student's kernel as its last cell: a loop that serves the grader's
# requests over a Unix socket until the grader says "quit".  Each request asks
# whether a name is defined, for a value, or for a call of the student's
# function on the grader's data; every answer is data (JSON, one frame), and a
# grader function among the arguments arrives as a proxy that sends its
# arguments over the same socket and returns the grader's answer, so the
# grader's function itself never enters the kernel.  An answer that cannot be
# sent (an int too large for JSON, larger than the grader reads ...) is
# replaced by an "unusable" answer saying why, so that it costs its part alone.
# Answers carry the request's id: a student's code that writes to the socket
# itself can only send data it could have returned, and a reply out of turn is
# refused.  Started by ``__grader_service(path, cap_bytes, dtypes, max_depth, header_format)``.
KERNEL_SERVICE = r"""
def __grader_service(path, cap, dtypes, max_depth, header_format):
    import json as _json
    import socket as _socket
    import struct as _struct
    import numpy as _np

    header = _struct.Struct(header_format)
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    sock.connect(path)
    stream = sock.makefile("rwb")
    namespace = globals()

    def frame(message):
        body = _json.dumps(message).encode()
        if len(body) > cap:
            raise ValueError("an answer of %.1f MB, more than the %.0f MB the grader reads"
                             % (len(body) / 2**20, cap / 2**20))
        return body

    def send(body):
        stream.write(header.pack(len(body)) + body)
        stream.flush()

    def receive():
        size = stream.read(header.size)
        if len(size) < header.size:
            raise ConnectionError("the grader closed the channel")
        return _json.loads(stream.read(header.unpack(size)[0]))

    def proxy(index):
        def grader_function(*args):
            send(frame({"callback": index, "args": [enc(a) for a in args]}))
            reply = receive()
            if "error" in reply:
                raise ValueError(reply["error"])
            return dec(reply.get("ok"))
        return grader_function

    def enc(v, depth=0):
        if depth > max_depth:
            return {"__opaque__": "TooDeeplyNested", "module": "grader"}
        t = type(v)
        if t is _np.ndarray:
            if str(v.dtype) not in dtypes:
                return {"__opaque__": "ndarray[" + str(v.dtype) + "]", "module": "numpy"}
            return {"__ndarray__": str(v.dtype), "shape": list(v.shape), "data": v.reshape(-1).tolist()}
        if isinstance(v, _np.generic) and t.__module__ == "numpy":
            if str(v.dtype) not in dtypes:
                return {"__opaque__": str(v.dtype), "module": "numpy"}
            return {"__scalar__": str(v.dtype), "value": v.item()}
        if v is None or t in (bool, int, float, str):
            return v
        if t is tuple:
            return {"__tuple__": [enc(x, depth + 1) for x in v]}
        if t is list:
            return [enc(x, depth + 1) for x in v]
        if t is dict:
            return {"__dict__": [[k if type(k) in (str, int, float, bool) else repr(k), enc(x, depth + 1)]
                                 for k, x in v.items()]}
        if callable(v):
            return {"__opaque__": "function", "module": "callable"}
        return {"__opaque__": t.__name__, "module": t.__module__}

    def dec(d):
        if type(d) is list:
            return [dec(x) for x in d]
        if type(d) is dict:
            if "__ndarray__" in d:
                return _np.array(d["data"], dtype=d["__ndarray__"]).reshape(d["shape"])
            if "__scalar__" in d:
                return _np.array(d["value"], dtype=d["__scalar__"])[()]
            if "__tuple__" in d:
                return tuple(dec(x) for x in d["__tuple__"])
            if "__dict__" in d:
                return {k: dec(x) for k, x in d["__dict__"]}
            if "__generator__" in d:
                bits = getattr(_np.random, d["__generator__"]["bit_generator"])()
                bits.state = d["__generator__"]
                return _np.random.Generator(bits)
            if "__callback__" in d:
                return proxy(d["__callback__"])
        return d

    try:
        while True:
            request = receive()
            if request.get("kind") == "quit":
                break
            name, number = request.get("name"), request.get("id")
            answer = {}
            try:
                target = namespace.get(name)
                if request["kind"] == "describe":
                    answer = {"ok": {"defined": name in namespace, "callable": callable(target)}}
                elif request["kind"] == "value":
                    answer = {"ok": enc(target)}
                else:
                    args = [dec(a) for a in request["args"]]
                    result = target(*args)
                    answer = {"ok": enc(result), "args": [enc(a) for a in args]}
            except BaseException as error:
                answer = {"error": type(error).__name__ + ": " + str(error)[:2000]}
            answer["id"] = number
            try:
                body = frame(answer)
            except BaseException as error:
                message = str(error)[:300]
                if not message.startswith("an answer of"):
                    message = ("an answer that cannot be written as JSON (" + type(error).__name__ + ": "
                               + message + ")")
                body = frame({"unusable": message, "id": number})
            send(body)
    finally:
        stream.close()
        sock.close()
"""


def service_cell(path: str, cap_bytes: int) -> str:
    """The source of the cell that runs the service loop, connecting to the grader's socket at ``path``."""
    return KERNEL_SERVICE + (f"\n__grader_service({path!r}, {cap_bytes}, {sorted(DTYPES)!r}, {MAX_DEPTH}, "
                             f"{HEADER.format!r})\n")
