"""Keeping gradients in check: clipping, and projections onto weight-norm balls.

With ‖Wⱼ‖₂ ≤ 1, ‖bⱼ‖₂ ≤ d and a 1-Lipschitz σ with σ(0) = 0, the forward pass
obeys ‖zⱼ₊₁‖ ≤ ‖zⱼ‖ + d and the backward pass ‖δⱼ‖ ≤ ‖δⱼ₊₁‖.  The Frobenius
and element-wise balls are cheaper supersets-of-safety: each implies ‖W‖₂ ≤ 1.
"""

from __future__ import annotations

import math

from .backend import namespace
from .module import is_weight
from .validation import check_array, check_positive


def _global_norm(grads: dict):
    total = 0.0
    for name, g in grads.items():
        xp = check_array(g, f"grads[{name!r}]")
        total = total + xp.sum(g * g)
    return total**0.5


def clip_by_value(grads: dict, clip_value: float) -> dict:
    """Clamp every gradient entry to [−c, c]."""
    check_positive(clip_value, "clip_value")
    return {k: namespace(g).clip(g, -clip_value, clip_value) for k, g in grads.items()}


def clip_by_norm(grads: dict, max_norm: float):
    """Rescale all gradients together so that their global 2-norm is at most
    ``max_norm``; the direction is kept.  Returns (clipped grads, norm before)."""
    check_positive(max_norm, "max_norm")
    norm = _global_norm(grads)
    scale = max_norm / max(float(norm), max_norm)
    return {k: g * scale for k, g in grads.items()}, norm


def spectral_norm(W):
    """‖W‖₂, the largest singular value."""
    xp = check_array(W, "W", ndim=2)
    return xp.linalg.svd(W, full_matrices=False)[1][0]


def project_spectral(W, max_norm: float = 1.0):
    """The nearest matrix (in Frobenius distance) with ‖W‖₂ ≤ max_norm:
    the singular values are clipped at max_norm."""
    xp = check_array(W, "W", ndim=2)
    check_positive(max_norm, "max_norm")
    U, S, Vt = xp.linalg.svd(W, full_matrices=False)
    return (U * xp.clip(S, None, max_norm)) @ Vt


def project_frobenius(W, max_norm: float = 1.0):
    """Rescale W onto the ball ‖W‖_F ≤ max_norm (which implies ‖W‖₂ ≤ max_norm)."""
    xp = check_array(W, "W", ndim=2)
    check_positive(max_norm, "max_norm")
    norm = float(xp.linalg.vector_norm(W))
    return W if norm <= max_norm else W * (max_norm / norm)


def elementwise_bound(W) -> float:
    """1/√(n_out·n_in): with every |Wₗₖ| below it, ‖W‖₂ ≤ ‖W‖_F ≤ 1."""
    check_array(W, "W", ndim=2)
    return 1.0 / math.sqrt(W.shape[0] * W.shape[1])


def project_elementwise(W, bound: float | None = None):
    """Clamp every entry to [−c, c], c = 1/√(n_out·n_in) unless given."""
    xp = check_array(W, "W", ndim=2)
    c = elementwise_bound(W) if bound is None else bound
    check_positive(c, "bound")
    return xp.clip(W, -c, c)


PROJECTIONS = {"spectral": project_spectral, "frobenius": project_frobenius, "elementwise": project_elementwise}


def project_weights(model, kind: str = "spectral") -> None:
    """Project every weight matrix of ``model`` (names ending in ``W``) in place."""
    if kind not in PROJECTIONS:
        raise ValueError(f"unknown projection {kind!r}; known: {', '.join(sorted(PROJECTIONS))}")
    project = PROJECTIONS[kind]
    model.set_parameters({k: project(v) for k, v in model.parameters().items() if is_weight(k)})
