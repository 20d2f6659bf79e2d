"""Weight initialisations: small Gaussian, Glorot, He, unit spectral norm.

Every function returns a weight matrix W of shape (n_out, n_in), the shape of
Wⱼ ∈ ℝ^(nⱼ₊₁ × nⱼ) in the lectures, on the requested backend and dtype.
"""

from __future__ import annotations

import math

from .backend import make_rng, random_normal


def _check_sizes(n_in, n_out):
    for name, value in (("n_in", n_in), ("n_out", n_out)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def normal(n_in, n_out, std=0.01, rng=None, dtype="float64", backend=None, device=None):
    """W ~ N(0, std²): the small random start of the early literature."""
    _check_sizes(n_in, n_out)
    return std * random_normal((n_out, n_in), make_rng(rng), dtype, backend, device)


def glorot(n_in, n_out, rng=None, dtype="float64", backend=None, device=None):
    """W ~ N(0, 2 / (n_in + n_out)) (Glorot & Bengio, 2010): keeps the variance
    of activations and of back-propagated gradients roughly constant for tanh."""
    return normal(n_in, n_out, math.sqrt(2.0 / (n_in + n_out)), rng, dtype, backend, device)


def he(n_in, n_out, rng=None, dtype="float64", backend=None, device=None):
    """W ~ N(0, 2 / n_in) (He et al., 2015): the Glorot argument redone for ReLU,
    which zeroes half of its inputs."""
    return normal(n_in, n_out, math.sqrt(2.0 / n_in), rng, dtype, backend, device)


def spectral(n_in, n_out, rng=None, dtype="float64", backend=None, device=None):
    """A Gaussian W rescaled to ‖W‖₂ = 1, the lectures' start for norm-constrained nets."""
    from .constraints import spectral_norm

    W = normal(n_in, n_out, 1.0, rng, dtype, backend, device)
    return W / spectral_norm(W)


INITS = {"normal": normal, "glorot": glorot, "he": he, "spectral": spectral}


def get_init(spec):
    """An initialiser by name, or a callable ``(n_in, n_out, rng, dtype, backend, device) -> W``."""
    if callable(spec):
        return spec
    if not isinstance(spec, str) or spec not in INITS:
        raise ValueError(f"unknown init {spec!r}; known: {', '.join(sorted(INITS))}")
    return INITS[spec]
