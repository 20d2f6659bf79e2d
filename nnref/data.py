"""Synthetic data sets, generated in code from a seed (nothing is downloaded).

Every generator returns NumPy arrays ``X`` (n, d) float64 and ``y`` (n,);
move them with ``nnref.asarray(X, backend="torch")``.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from .backend import make_rng

BOOLEAN_FUNCTIONS = {
    "and": lambda bits: all(bits),
    "or": lambda bits: any(bits),
    "nand": lambda bits: not all(bits),
    "nor": lambda bits: not any(bits),
    "xor": lambda bits: sum(bits) % 2 == 1,
}


def _check_n(n, name="n"):
    if int(n) != n or n < 1:
        raise ValueError(f"{name} must be a positive integer, got {n!r}")
    return int(n)


def truth_table(function="xor", n_inputs: int = 2):
    """All 2ⁿ input rows (in binary counting order) and the function's outputs.

    ``function`` is a name in ``BOOLEAN_FUNCTIONS`` or a callable taking a
    tuple of bits.  Returns X (2ⁿ, n) of 0/1 and y (2ⁿ,) of 0/1.
    """
    n_inputs = _check_n(n_inputs, "n_inputs")
    if isinstance(function, str):
        if function not in BOOLEAN_FUNCTIONS:
            raise ValueError(f"unknown Boolean function {function!r}; known: {', '.join(BOOLEAN_FUNCTIONS)}")
        function = BOOLEAN_FUNCTIONS[function]
    rows = list(itertools.product((0, 1), repeat=n_inputs))
    X = np.array(rows, dtype=np.float64)
    y = np.array([1.0 if function(row) else 0.0 for row in rows])
    return X, y


def two_gaussians(n=200, mean0=(-1.0, 0.0), mean1=(1.0, 0.0), cov=((1.0, 0.0), (0.0, 1.0)), prior1=0.5, rng=None):
    """Two Gaussian classes with a shared covariance: LDA's own assumptions.

    Each label is drawn with P(y = 1) = ``prior1``; then x ~ N(mean_y, cov).
    """
    n, rng = _check_n(n), make_rng(rng)
    mean0, mean1, cov = np.asarray(mean0, float), np.asarray(mean1, float), np.asarray(cov, float)
    d = mean0.shape[0]
    if mean1.shape != (d,) or cov.shape != (d, d):
        raise ValueError(f"mean0 {mean0.shape}, mean1 {mean1.shape} and cov {cov.shape} must agree on one dimension d")
    if not np.allclose(cov, cov.T) or np.linalg.eigvalsh(cov).min() <= 0:
        raise ValueError("cov must be symmetric positive definite")
    if not 0 < prior1 < 1:
        raise ValueError(f"prior1 must lie in (0, 1), got {prior1!r}")
    y = (rng.random(n) < prior1).astype(np.float64)
    L = np.linalg.cholesky(cov)
    X = np.where(y[:, None] == 1, mean1, mean0) + rng.standard_normal((n, d)) @ L.T
    return X, y


def moons(n=200, noise=0.1, rng=None):
    """Two interleaving half circles (y ∈ {0, 1})."""
    n, rng = _check_n(n), make_rng(rng)
    y = (np.arange(n) % 2).astype(np.float64)
    t = rng.uniform(0, math.pi, n)
    X = np.stack([np.where(y == 0, np.cos(t), 1 - np.cos(t)), np.where(y == 0, np.sin(t), 0.5 - np.sin(t))], axis=1)
    return X + noise * rng.standard_normal((n, 2)), y


def spirals(n=200, n_classes=2, turns=1.5, noise=0.05, rng=None):
    """Interleaved spiral arms, one per class (y ∈ {0, ..., n_classes − 1})."""
    n, rng = _check_n(n), make_rng(rng)
    _check_n(n_classes, "n_classes")
    y = np.arange(n) % n_classes
    r = rng.uniform(0.1, 1.0, n)
    angle = 2 * math.pi * (turns * r + y / n_classes)
    X = np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1)
    return X + noise * rng.standard_normal((n, 2)), y.astype(np.int64)


def circles(n=200, factor=0.5, noise=0.05, rng=None):
    """Two concentric circles, radius 1 (y = 0) and ``factor`` (y = 1)."""
    n, rng = _check_n(n), make_rng(rng)
    if not 0 < factor < 1:
        raise ValueError(f"factor must lie in (0, 1), got {factor!r}")
    y = (np.arange(n) % 2).astype(np.float64)
    t = rng.uniform(0, 2 * math.pi, n)
    radius = np.where(y == 0, 1.0, factor)
    X = np.stack([radius * np.cos(t), radius * np.sin(t)], axis=1)
    return X + noise * rng.standard_normal((n, 2)), y


TARGETS = {
    "sin": lambda x: np.sin(math.pi * x),
    "abs": np.abs,
    "step": lambda x: (x > 0).astype(np.float64),
    "cubic": lambda x: x**3 - x,
    "gaussian_bump": lambda x: np.exp(-4 * x**2),
}


def regression_1d(n=100, target="sin", noise=0.1, low=-1.0, high=1.0, rng=None):
    """Noisy samples y = f(x) + ε, ε ~ N(0, noise²), x uniform on [low, high].

    Returns X (n, 1) sorted by x and y (n,).
    """
    n, rng = _check_n(n), make_rng(rng)
    if isinstance(target, str):
        if target not in TARGETS:
            raise ValueError(f"unknown target {target!r}; known: {', '.join(TARGETS)}")
        target = TARGETS[target]
    x = np.sort(rng.uniform(low, high, n))
    return x[:, None], target(x) + noise * rng.standard_normal(n)


def train_val_split(X, y, val_fraction=0.25, rng=None):
    """A random split into (X_train, y_train, X_val, y_val)."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must lie in (0, 1), got {val_fraction!r}")
    order = make_rng(rng).permutation(X.shape[0])
    n_val = max(1, int(round(val_fraction * X.shape[0])))
    val, train = order[:n_val], order[n_val:]
    return X[train], y[train], X[val], y[val]
