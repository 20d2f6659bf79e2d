"""Input checks that fail early with a message naming the argument.

Every public function checks its arrays here, so a wrong shape never turns
into a silent broadcast or a traceback from deep inside NumPy.  The messages
follow one pattern: which argument, what was received, what was expected.
"""

from __future__ import annotations

import numpy as np

from .backend import backend_of, dtype_name, is_torch, namespace

# NumPy arrays are the common case: their namespace is looked up once, here
_NUMPY = namespace(np.empty(0))


def _describe(x) -> str:
    return f"{type(x).__module__.split('.')[0]} array of shape {tuple(x.shape)}, dtype {dtype_name(x)}"


def check_array(x, name: str, *, ndim=None, shape=None, floating=True, finite=False):
    """Check one array argument and return its namespace.

    ``ndim`` is an int or a tuple of allowed ints; ``shape`` a tuple whose
    ``None`` entries match any size.  ``finite=True`` rejects NaN and inf.
    """
    numpy_array = type(x) is np.ndarray
    if not (numpy_array or is_torch(x) or hasattr(x, "__array_namespace__")):
        raise TypeError(
            f"{name} must be a NumPy array or a torch tensor, got {type(x).__name__}; "
            "convert it with nnref.asarray"
        )
    xp = _NUMPY if numpy_array else namespace(x)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in allowed:
            want = " or ".join(str(n) for n in allowed)
            raise ValueError(f"{name} must have {want} dimensions, got {_describe(x)}")
    if shape is not None and not _shape_matches(x.shape, shape):
        want = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name} must have shape {want}, got {_describe(x)}")
    # dtype.kind "f" is exactly NumPy's "real floating" set, without isdtype's parsing
    if floating and not (x.dtype.kind == "f" if numpy_array else xp.isdtype(x.dtype, "real floating")):
        raise TypeError(f"{name} must be a float32 or float64 array, got {_describe(x)}")
    if finite and not all_finite(x):
        raise ValueError(f"{name} contains NaN or infinite values ({_describe(x)})")
    return xp


def _shape_matches(got, want) -> bool:
    # a plain loop: this runs several times per training step, a generator costs more than the test
    if len(got) != len(want):
        return False
    for w, g in zip(want, got):
        if w is not None and w != g:
            return False
    return True


def all_finite(x) -> bool:
    """True when no entry of ``x`` is NaN or infinite (NumPy's own reduction for NumPy arrays)."""
    if type(x) is np.ndarray:
        return bool(np.isfinite(x).all())
    xp = namespace(x)
    return bool(xp.all(xp.isfinite(x)))


def check_compatible(x, x_name: str, ref, ref_name: str) -> None:
    """``x`` must share backend, device and dtype with ``ref`` (no silent casts)."""
    both_numpy = type(x) is np.ndarray and type(ref) is np.ndarray
    if not both_numpy and backend_of(x) != backend_of(ref):
        raise TypeError(
            f"{x_name} is on {backend_of(x)} but {ref_name} is on {backend_of(ref)}; "
            "move one of them with nnref.asarray(..., backend=, device=) or .to()"
        )
    if x.dtype != ref.dtype:
        raise TypeError(
            f"{x_name} has dtype {dtype_name(x)} but {ref_name} has dtype {dtype_name(ref)}; "
            "convert explicitly, dtypes are never mixed silently"
        )


def check_same_shape(a, a_name: str, b, b_name: str) -> None:
    """Two arrays that are compared element by element must agree exactly."""
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(
            f"{a_name} has shape {tuple(a.shape)} but {b_name} has shape {tuple(b.shape)}; "
            "they must match exactly (no broadcasting)"
        )


def check_positive(value, name: str, *, allow_zero: bool = False) -> None:
    """A scalar hyper-parameter that must be positive."""
    ok = value >= 0 if allow_zero else value > 0
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound}, got {value!r}")


def check_probability(p, name: str, *, open_interval: bool = False) -> None:
    """A scalar in [0, 1] (or (0, 1))."""
    ok = 0 < p < 1 if open_interval else 0 <= p <= 1
    if not ok:
        interval = "(0, 1)" if open_interval else "[0, 1]"
        raise ValueError(f"{name} must lie in {interval}, got {p!r}")
