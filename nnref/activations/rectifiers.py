"""The ReLU family: rectifiers that do not saturate for positive inputs.

Slopes are written the way PyTorch and TensorFlow write them, as a factor
on the negative side: f(x) = x for x > 0 and a·x otherwise.  Xu et al. (2015)
write the same function with x / a (a large); convert with a ↦ 1 / a.
"""

from __future__ import annotations

from ..backend import asarray, device_of, make_rng, random_uniform
from ..validation import check_compatible, check_positive
from .base import Activation


def _zeros(xp, x):
    return xp.zeros_like(x)


class ReLU(Activation):
    """max(x, 0); derivative 1 for x > 0 and 0 otherwise (0 at the kink)."""

    name = "relu"

    def _forward(self, xp, x):
        return xp.maximum(x, _zeros(xp, x))

    def _backward(self, xp, x, y, grad_out):
        return xp.where(x > 0, grad_out, _zeros(xp, grad_out))


class LeakyReLU(Activation):
    """x for x > 0, a·x otherwise (a = ``negative_slope``, 0.01 by default)."""

    name = "leaky_relu"

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        check_positive(negative_slope, "negative_slope", allow_zero=True)
        self.negative_slope = float(negative_slope)

    def _forward(self, xp, x):
        return xp.where(x > 0, x, self.negative_slope * x)

    def _backward(self, xp, x, y, grad_out):
        return xp.where(x > 0, grad_out, self.negative_slope * grad_out)

    def __repr__(self) -> str:
        return f"LeakyReLU(negative_slope={self.negative_slope})"


class PReLU(Activation):
    """Leaky ReLU whose slope a is learned: one slope, or one per feature.

    Shapes: x (..., num_parameters) when ``num_parameters > 1``; ``params["a"]``
    has shape (num_parameters,).  Backward also stores
    ∂L/∂a = Σ over negative inputs of x·g in ``grads["a"]``.
    """

    name = "prelu"

    def __init__(self, num_parameters: int = 1, init: float = 0.25, dtype="float64", backend=None, device=None):
        super().__init__()
        if int(num_parameters) < 1:
            raise ValueError(f"num_parameters must be >= 1, got {num_parameters!r}")
        self.params["a"] = asarray([float(init)] * int(num_parameters), dtype=dtype, backend=backend, device=device)

    def _slope(self, x):
        a = self.params["a"]
        check_compatible(x, "x", a, "the PReLU slope a")
        if a.shape[0] > 1 and (x.ndim == 0 or x.shape[-1] != a.shape[0]):
            raise ValueError(
                f"x must have {a.shape[0]} features on its last axis to match the PReLU slopes, "
                f"got shape {tuple(x.shape)}"
            )
        return a

    def _forward(self, xp, x):
        return xp.where(x > 0, x, self._slope(x) * x)

    def _backward(self, xp, x, y, grad_out):
        a = self._slope(x)
        negative_part = xp.where(x > 0, _zeros(xp, x), x * grad_out)
        if a.shape[0] == 1:
            self.grads["a"] = xp.reshape(xp.sum(negative_part), (1,))
        else:
            self.grads["a"] = xp.reshape(negative_part, (-1, a.shape[0])).sum(axis=0)
        return xp.where(x > 0, grad_out, a * grad_out)


class RReLU(Activation):
    """Randomized leaky ReLU: slope a ~ U(lower, upper) per element in training,
    the mean (lower + upper) / 2 in evaluation.  This is PyTorch's form
    (defaults 1/8 and 1/3); Xu et al. (2015) divide instead, x / a with
    a ~ U(3, 8), and evaluate with x / 5.5."""

    name = "rrelu"

    def __init__(self, lower: float = 1 / 8, upper: float = 1 / 3, rng=None):
        super().__init__()
        if not 0 <= lower <= upper:
            raise ValueError(f"need 0 <= lower <= upper, got lower={lower!r}, upper={upper!r}")
        self.lower, self.upper = float(lower), float(upper)
        self.rng = make_rng(rng)
        self._slopes = None

    def _forward(self, xp, x):
        if self.training:
            u = random_uniform(tuple(x.shape), self.rng, like=x)
            self._slopes = xp.astype(self.lower + (self.upper - self.lower) * u, x.dtype)
        else:
            self._slopes = (self.lower + self.upper) / 2
        return xp.where(x > 0, x, self._slopes * x)

    def _backward(self, xp, x, y, grad_out):
        return xp.where(x > 0, grad_out, self._slopes * grad_out)

    def __repr__(self) -> str:
        return f"RReLU(lower={self.lower}, upper={self.upper})"


class ELU(Activation):
    """x for x > 0, α(eˣ − 1) otherwise; derivative y + α on the negative side."""

    name = "elu"

    def __init__(self, alpha: float = 1.0):
        super().__init__()
        check_positive(alpha, "alpha")
        self.alpha = float(alpha)

    def _forward(self, xp, x):
        return xp.where(x > 0, x, self.alpha * xp.expm1(xp.minimum(x, _zeros(xp, x))))

    def _backward(self, xp, x, y, grad_out):
        return xp.where(x > 0, grad_out, grad_out * (y + self.alpha))


class SELU(ELU):
    """λ·ELU_α with the self-normalising constants of Klambauer et al. (2017)."""

    name = "selu"
    ALPHA = 1.6732632423543772848170429916717
    SCALE = 1.0507009873554804934193349852946

    def __init__(self):
        super().__init__(alpha=self.ALPHA)

    def _forward(self, xp, x):
        return self.SCALE * super()._forward(xp, x)

    def _backward(self, xp, x, y, grad_out):
        return self.SCALE * super()._backward(xp, x, y / self.SCALE, grad_out)


class CReLU(Activation):
    """Concatenated ReLU: [max(x, 0), max(−x, 0)] along the last axis.

    Shapes: x (..., d) → y (..., 2d) (Shang et al., 2016).
    """

    name = "crelu"

    def _forward(self, xp, x):
        if x.ndim == 0:
            raise ValueError("crelu needs at least one axis, got a 0-d array")
        zero = _zeros(xp, x)
        return xp.concat([xp.maximum(x, zero), xp.maximum(-x, zero)], axis=-1)

    def _backward(self, xp, x, y, grad_out):
        d = x.shape[-1]
        g_pos, g_neg = grad_out[..., :d], grad_out[..., d:]
        zero = _zeros(xp, x)
        return xp.where(x > 0, g_pos, zero) - xp.where(x < 0, g_neg, zero)


class AbsRect(Activation):
    """Absolute-value rectification |x|; derivative sign(x), 0 at the kink."""

    name = "abs"

    def _forward(self, xp, x):
        return xp.abs(x)

    def _backward(self, xp, x, y, grad_out):
        return grad_out * xp.sign(x)


class Maxout(Activation):
    """Maximum over groups of k consecutive features (Goodfellow et al., 2013).

    Shapes: x (..., d·k) → y (..., d).  The gradient goes to the winner of
    each group (the first one on a tie).
    """

    name = "maxout"

    def __init__(self, k: int = 2):
        super().__init__()
        if int(k) < 1:
            raise ValueError(f"k (pieces per unit) must be >= 1, got {k!r}")
        self.k = int(k)

    def _grouped(self, xp, x):
        if x.ndim == 0 or x.shape[-1] % self.k:
            raise ValueError(
                f"maxout with k={self.k} needs a last axis divisible by {self.k}, got shape {tuple(x.shape)}"
            )
        return xp.reshape(x, (*x.shape[:-1], x.shape[-1] // self.k, self.k))

    def _forward(self, xp, x):
        return xp.max(self._grouped(xp, x), axis=-1)

    def _backward(self, xp, x, y, grad_out):
        grouped = self._grouped(xp, x)
        winner = xp.argmax(grouped, axis=-1)
        pieces = xp.arange(self.k, device=device_of(x))
        mask = xp.astype(pieces == winner[..., None], grad_out.dtype)
        return xp.reshape(mask * grad_out[..., None], tuple(x.shape))

    def __repr__(self) -> str:
        return f"Maxout(k={self.k})"

