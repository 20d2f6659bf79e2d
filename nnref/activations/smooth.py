"""Smooth and saturating activations: sigmoid, tanh, softplus, hard tanh, softmax."""

from __future__ import annotations

from ..validation import check_positive
from .base import Activation


def sigmoid(xp, x):
    """σ(x) = 1 / (1 + e^(−x)), written so that neither branch overflows."""
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


def softplus(xp, x):
    """log(1 + e^x) = max(x, 0) + log(1 + e^(−|x|)), finite for any x."""
    return xp.maximum(x, xp.zeros_like(x)) + xp.log1p(xp.exp(-xp.abs(x)))


def log_softmax(xp, z, axis=-1):
    """z − log Σ exp(z), with the maximum subtracted first (log-sum-exp)."""
    shifted = z - xp.max(z, axis=axis, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))


class Identity(Activation):
    """σ(x) = x: the output of a regression network."""

    name = "identity"

    def _forward(self, xp, x):
        return x

    def _backward(self, xp, x, y, grad_out):
        return grad_out


class Sigmoid(Activation):
    """σ(x) = 1 / (1 + e^(−x)); σ' = σ(1 − σ) ≤ 1/4."""

    name = "sigmoid"

    def _forward(self, xp, x):
        return sigmoid(xp, x)

    def _backward(self, xp, x, y, grad_out):
        return grad_out * y * (1 - y)


class Tanh(Activation):
    """tanh(x); tanh' = 1 − tanh²."""

    name = "tanh"

    def _forward(self, xp, x):
        return xp.tanh(x)

    def _backward(self, xp, x, y, grad_out):
        return grad_out * (1 - y * y)


class HardTanh(Activation):
    """clip(x, −1, 1); derivative 1 strictly inside, 0 outside and at ±1."""

    name = "hardtanh"

    def _forward(self, xp, x):
        return xp.clip(x, -1.0, 1.0)

    def _backward(self, xp, x, y, grad_out):
        inside = (x > -1) & (x < 1)
        return xp.where(inside, grad_out, xp.zeros_like(grad_out))


class Softplus(Activation):
    """(1/β) log(1 + e^(βx)), a smooth ReLU; its derivative is σ(βx).

    Where βx > ``threshold`` it returns x itself (derivative 1), as torch's
    ``softplus(x, beta, threshold)`` does: there the two differ by less than
    e^(−threshold)/β, 2e-9 at the default threshold 20.
    """

    name = "softplus"

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        check_positive(beta, "beta")
        self.beta, self.threshold = float(beta), float(threshold)

    def _forward(self, xp, x):
        bx = self.beta * x
        return xp.where(bx > self.threshold, x, softplus(xp, bx) / self.beta)

    def _backward(self, xp, x, y, grad_out):
        bx = self.beta * x
        return xp.where(bx > self.threshold, grad_out, grad_out * sigmoid(xp, bx))

    def __repr__(self) -> str:
        return f"Softplus(beta={self.beta}, threshold={self.threshold})"


class Softmax(Activation):
    """softmax(z)ᵢ = exp(zᵢ) / Σⱼ exp(zⱼ) over the last axis.

    Backward: ∂L/∂z = s ⊙ (g − ⟨g, s⟩), the Jacobian diag(s) − ssᵀ applied to g.
    """

    name = "softmax"

    def _forward(self, xp, x):
        if x.ndim == 0:
            raise ValueError("softmax needs at least one axis, got a 0-d array")
        return xp.exp(log_softmax(xp, x))

    def _backward(self, xp, x, y, grad_out):
        return y * (grad_out - xp.sum(grad_out * y, axis=-1, keepdims=True))
