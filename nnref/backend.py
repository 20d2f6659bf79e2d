"""Backends: the array namespace of the inputs, and the default for new arrays.

Every formula in the package is written once, against ``xp = namespace(x)``,
the array-API namespace of its inputs (NumPy or torch, through
``array_api_compat``).  Arrays that the package *creates* (parameters, random
masks, data moved onto a backend) follow the current backend, chosen by

1. an explicit ``backend=`` / ``device=`` argument,
2. the innermost ``with use_backend(...)`` block,
3. the environment variables ``NNREF_BACKEND`` (``numpy`` or ``torch``) and
   ``NNREF_DEVICE`` (``cpu``, ``cuda``, ``cuda:1`` ...),
4. NumPy; for torch, CUDA when it is available and the CPU otherwise.

torch is imported lazily: a NumPy-only user never pays for it.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import sys
from dataclasses import dataclass

import array_api_compat
import numpy as np

BACKENDS = ("numpy", "torch")
FLOAT_DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class Backend:
    """A backend name and, for torch, a device string."""

    name: str
    device: str | None = None

    def __str__(self) -> str:
        return self.name if self.device is None else f"{self.name}:{self.device}"


_current: contextvars.ContextVar[Backend | None] = contextvars.ContextVar(
    "nnref_backend", default=None
)


def _torch():
    import torch

    return torch


def cuda_available() -> bool:
    """True when torch is importable and sees a CUDA device."""
    try:
        return _torch().cuda.is_available()
    except ImportError:
        return False


def try_gpu() -> str:
    """``"cuda"`` when a GPU is present, else ``"cpu"`` (d2l's helper)."""
    return "cuda" if cuda_available() else "cpu"


def _check_name(name: str) -> str:
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")
    return name


def resolve(backend: str | Backend | None = None, device: str | None = None) -> Backend:
    """The backend that new arrays go to, following the precedence above."""
    if isinstance(backend, Backend):
        return backend if device is None else Backend(backend.name, str(device))
    if backend is None:
        current = _current.get()
        if current is not None:
            return current if device is None else Backend(current.name, str(device))
        backend = os.environ.get("NNREF_BACKEND", "numpy")
    name = _check_name(str(backend))
    if name == "numpy":
        if device not in (None, "cpu"):
            raise ValueError(f"the numpy backend runs on the CPU only, got device={device!r}")
        return Backend("numpy")
    device = device or os.environ.get("NNREF_DEVICE") or try_gpu()
    return Backend("torch", str(device))


def get_backend() -> Backend:
    """The backend in force here (see the module docstring)."""
    return resolve()


@contextlib.contextmanager
def use_backend(backend: str, device: str | None = None):
    """Make ``backend`` (and ``device``) the default inside a ``with`` block.

    >>> with use_backend("torch", device="cpu"):
    ...     model = MLP([2, 8, 1])            # parameters are torch tensors
    """
    token = _current.set(resolve(backend, device))
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def is_torch(x) -> bool:
    """True for a torch tensor (without importing torch)."""
    if type(x) is np.ndarray:  # the common case, answered without a lookup
        return False
    return "torch" in sys.modules and array_api_compat.is_torch_array(x)


# The namespace of arrays that are all of one exact type (np.ndarray,
# torch.Tensor) depends on that type alone: it is looked up once and kept,
# because every forward and backward pass asks for it several times.
_NAMESPACE_OF_TYPE: dict[type, object] = {}


def namespace(*arrays):
    """The array namespace shared by ``arrays``; a clear error if they mix backends."""
    if arrays:
        kind = type(arrays[0])
        known = _NAMESPACE_OF_TYPE.get(kind)
        if known is not None and all(type(a) is kind for a in arrays):
            return known
    kinds = {"torch" if is_torch(a) else "numpy" for a in arrays if a is not None}
    if len(kinds) > 1:
        described = ", ".join(f"{type(a).__module__}.{type(a).__name__}" for a in arrays)
        raise TypeError(
            f"arrays from different backends cannot be mixed (got {described}); "
            "move them to one backend with nnref.asarray(x, backend=...)"
        )
    try:
        xp = array_api_compat.array_namespace(*[a for a in arrays if a is not None])
    except TypeError as err:
        got = ", ".join(type(a).__name__ for a in arrays)
        raise TypeError(f"expected NumPy arrays or torch tensors, got {got}") from err
    kind = type(arrays[0]) if arrays else None
    if kind is np.ndarray or (kind is not None and kind.__module__ == "torch" and kind.__name__ == "Tensor"):
        if all(type(a) is kind for a in arrays):
            _NAMESPACE_OF_TYPE[kind] = xp
    return xp


def backend_of(x) -> Backend:
    """The backend and device an array lives on."""
    if is_torch(x):
        return Backend("torch", str(x.device))
    return Backend("numpy")


def device_of(x):
    """The device of an array in the form its namespace's creation functions take."""
    return array_api_compat.device(x)


def dtype_name(x) -> str:
    """``"float32"``, ``"float64"``, ``"int64"`` ... for either backend."""
    return str(x.dtype).removeprefix("torch.")


def resolve_dtype(dtype, backend: Backend):
    """The backend's dtype object for a name, a NumPy dtype or a torch dtype."""
    name = dtype if isinstance(dtype, str) else str(dtype).removeprefix("torch.")
    name = np.dtype(name).name if name in ("float", "double") else name
    if backend.name == "numpy":
        return np.dtype(name)
    torch = _torch()
    resolved = getattr(torch, name, None)
    if not isinstance(resolved, torch.dtype):
        raise ValueError(f"unknown dtype {dtype!r}")
    return resolved


def asarray(data, dtype=None, backend: str | Backend | None = None, device: str | None = None):
    """Put ``data`` (list, NumPy array, torch tensor) on a backend and device.

    ``dtype=None`` keeps the dtype of an array and gives float64 for lists.
    """
    target = resolve(backend, device)
    if is_torch(data) and target.name == "numpy":
        data = data.detach().cpu().numpy()
    if target.name == "numpy":
        out = np.asarray(data)
        if dtype is not None:
            out = out.astype(resolve_dtype(dtype, target), copy=False)
        elif out.dtype.kind in "iub" and not isinstance(data, np.ndarray):
            out = out.astype(np.float64)
        return out
    torch = _torch()
    if is_torch(data):
        out = data.detach().to(device=target.device)
    else:
        array = np.asarray(data)
        if array.dtype.kind in "iub" and not isinstance(data, np.ndarray) and dtype is None:
            array = array.astype(np.float64)
        out = torch.as_tensor(array, device=target.device)
    if dtype is not None:
        out = out.to(resolve_dtype(dtype, target))
    return out


def to_numpy(x) -> np.ndarray:
    """A NumPy copy (or view) of an array from either backend."""
    if is_torch(x):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def make_rng(seed: int | np.random.Generator | None = None) -> np.random.Generator:
    """A NumPy generator: pass a seed, an existing generator, or ``None``."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def random_uniform(shape, rng: np.random.Generator, like) -> object:
    """Uniform [0, 1) samples in float64, on the backend and device of ``like``.

    They are float64 whatever ``like``'s dtype, so that one seed gives the same
    numbers, and the same dropout mask, in float32 and in float64.  On torch they
    are drawn on the device itself from a generator seeded by ``rng``, so a CUDA
    model never copies masks from the host.
    """
    if is_torch(like):
        torch = _torch()
        generator = torch.Generator(device=like.device)
        generator.manual_seed(int(rng.integers(2**62)))
        return torch.rand(shape, generator=generator, device=like.device, dtype=torch.float64)
    return rng.random(shape)


def random_normal(shape, rng: np.random.Generator, dtype="float64", backend=None, device=None):
    """Standard normal samples, drawn by NumPy and moved to the backend.

    Drawing on the host makes a seed mean the same numbers on every backend,
    so one notebook can build the same model on NumPy and on torch and
    compare them; it is used for initial weights, a one-off cost.
    """
    target = resolve(backend, device)
    samples = rng.standard_normal(shape)
    return asarray(samples, dtype=dtype, backend=target)


def no_grad(fn):
    """Run ``fn`` with torch's autograd off (a no-op when torch is not loaded).

    The package's backward passes are hand-written; torch is only an array
    library here, so nothing it computes should build an autograd graph.
    """
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        torch = sys.modules.get("torch")
        if torch is None or not torch.is_grad_enabled():
            return fn(*args, **kwargs)
        with torch.no_grad():
            return fn(*args, **kwargs)

    return wrapper
