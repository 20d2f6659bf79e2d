"""What every test module shares: backends, tolerances, conversions, assertions.

Tolerances are stated here once and never tuned per test.  The oracle is
torch.autograd in float64 on the CPU; a float32 result is compared with the
float64 oracle evaluated on the *same* (float32-rounded) inputs, so the
tolerance only has to absorb float32 arithmetic (machine epsilon 1.2e-7).
"""

from __future__ import annotations

import numpy as np
import pytest

import nnref
from nnref.gradcheck import central_difference  # noqa: F401  (the one routine; the test modules take it from here)

try:
    import torch
except ImportError:  # the NumPy backend is still tested without torch
    torch = None

HAS_TORCH = torch is not None
HAS_CUDA = HAS_TORCH and torch.cuda.is_available()

# float64: about 1e5 ulps of headroom, far below any real error;
# float32: about 100 ulps, enough for sums over a few dozen terms.
TOL = {
    "float64": dict(rtol=1e-10, atol=1e-12),
    "float32": dict(rtol=1e-5, atol=1e-6),
}

# Central differences in float64 with nnref's default step h = ∛ε·max(1, |x|) (6e-6 to 5e-5 for the
# inputs drawn here): truncation ~ h² |f'''| / 6 <= 4e-10 |f'''|, round-off ~ ε |L| / h <= 4e-10 for
# |L| ~ 10, hence the tolerance.
FD = dict(rtol=1e-6, atol=1e-7)

BACKEND_PARAMS = [
    pytest.param("numpy", id="numpy"),
    pytest.param("torch-cpu", id="torch-cpu", marks=pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")),
    pytest.param(
        "torch-cuda",
        id="torch-cuda",
        marks=[pytest.mark.cuda, pytest.mark.skipif(not HAS_CUDA, reason="no CUDA device on this machine")],
    ),
]
DTYPES = ("float32", "float64")


def split(backend: str) -> tuple[str, str | None]:
    """``"torch-cpu"`` -> ``("torch", "cpu")``; ``"numpy"`` -> ``("numpy", None)``."""
    name, _, device = backend.partition("-")
    return name, (device or None)


def to_backend(array, backend: str, dtype: str | None = None):
    """A NumPy array (or list) put on the test backend through ``nnref.asarray``."""
    name, device = split(backend)
    return nnref.asarray(np.asarray(array), dtype=dtype, backend=name, device=device)


def to_np64(x) -> np.ndarray:
    """Any array (NumPy, torch on any device) as a float64 NumPy copy."""
    if HAS_TORCH and isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def torch64(x, requires_grad: bool = False):
    """The oracle's input: a float64 CPU tensor with the values of ``x``."""
    return torch.tensor(to_np64(x), dtype=torch.float64, requires_grad=requires_grad)


def assert_close(received, expected, dtype: str, what: str, **tol) -> None:
    """Compare against an oracle; on failure say which argument, which index,
    expected, received and the relative error (minitorch's grad_check message)."""
    tol = tol or TOL[dtype]
    got, want = to_np64(received), to_np64(expected)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    bad = ~np.isclose(got, want, rtol=tol["rtol"], atol=tol["atol"], equal_nan=False)
    if bad.any():
        excess = np.where(bad, np.abs(got - want) - tol["rtol"] * np.abs(want), -np.inf)
        index = np.unravel_index(np.argmax(excess), got.shape) if got.ndim else ()
        g, w = got[index], want[index]
        rel = abs(g - w) / max(abs(w), np.finfo(np.float64).tiny)
        raise AssertionError(
            f"{what} [{dtype}]: {int(bad.sum())} of {bad.size} entries differ; worst at index "
            f"{tuple(int(i) for i in index)}: expected {w!r}, received {g!r}, relative error {rel:.3e} "
            f"(rtol={tol['rtol']}, atol={tol['atol']})"
        )


def assert_on(x, backend: str, dtype: str, what: str) -> None:
    """``x`` lives on the test backend and device, with the test dtype."""
    name, device = split(backend)
    if name == "numpy":
        assert isinstance(x, np.ndarray), f"{what}: expected a NumPy array, got {type(x).__name__}"
        assert x.dtype == np.dtype(dtype), f"{what}: dtype {x.dtype}, expected {dtype}"
    else:
        assert isinstance(x, torch.Tensor), f"{what}: expected a torch tensor, got {type(x).__name__}"
        assert x.device.type == device, f"{what}: on device {x.device}, expected {device}"
        assert x.dtype == getattr(torch, dtype), f"{what}: dtype {x.dtype}, expected torch.{dtype}"


def away_from(rng: np.random.Generator, shape, kinks=(0.0,), margin=1e-2, scale=2.0) -> np.ndarray:
    """Normal samples (std ``scale``) with every entry at least ``margin`` from each kink."""
    x = scale * rng.standard_normal(shape)
    for _ in range(100):
        near = np.zeros(x.shape, dtype=bool)
        for kink in kinks:
            near |= np.abs(x - kink) < margin
        if not near.any():
            return x
        x[near] = scale * rng.standard_normal(int(near.sum()))
    raise RuntimeError("could not draw inputs away from the kinks")
