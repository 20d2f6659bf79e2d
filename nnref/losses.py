"""Losses from maximum likelihood, each with its hand-written gradient.

Every loss averages over the samples (the first axis): L = (1/n) Σᵢ ℓ(ŷᵢ, yᵢ).
``forward(y_hat, y)`` returns a 0-d array on the backend of ``y_hat``;
``backward()`` returns ∂L/∂ŷ with ŷ's shape.  Three of them share the
gradient σ(u) − y of the lectures (identity, sigmoid, softmax output), and
the code says so.
"""

from __future__ import annotations

from .activations.smooth import log_softmax, sigmoid, softplus
from .backend import backend_of, device_of, dtype_name, namespace
from .module import Module
from .validation import check_array, check_compatible, check_same_shape


class Loss(Module):
    """Base class: validates, caches, and divides by the batch size."""

    name = "loss"

    def __init__(self):
        super().__init__()
        self._cache = None

    def forward(self, y_hat, y):
        xp = check_array(y_hat, "y_hat", ndim=(1, 2), finite=True)
        y = self._check_target(xp, y_hat, y)
        self._cache = (y_hat, y)
        return self._forward(xp, y_hat, y)

    def backward(self, grad_out=1.0):
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        y_hat, y = self._cache
        xp = check_array(y_hat, "y_hat")
        return grad_out * self._backward(xp, y_hat, y) / y_hat.shape[0]

    def _check_target(self, xp, y_hat, y):
        check_array(y, "y", finite=True)
        check_compatible(y, "y", y_hat, "y_hat")
        check_same_shape(y, "y", y_hat, "y_hat")
        return y

    @staticmethod
    def _per_sample_sum(xp, values):
        # asarray: NumPy reductions give a scalar, the API promises a 0-d array
        return xp.asarray(xp.sum(values) / values.shape[0])

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class SquaredError(Loss):
    """ℓ = ½‖ŷ − y‖²; Gaussian noise of fixed variance. ∂ℓ/∂ŷ = ŷ − y."""

    name = "squared_error"

    def _forward(self, xp, y_hat, y):
        return self._per_sample_sum(xp, 0.5 * (y_hat - y) ** 2)

    def _backward(self, xp, y_hat, y):
        return y_hat - y


class BinaryCrossEntropy(Loss):
    """ℓ = −[y log p + (1 − y) log(1 − p)] from probabilities p ∈ [0, 1].

    Unstable by nature (log 0); each log is clamped at −100 as in PyTorch.
    Prefer :class:`BCEWithLogits`.  ∂ℓ/∂p = (p − y) / (p(1 − p)).
    """

    name = "binary_cross_entropy"

    def _check_target(self, xp, p, y):
        if bool(xp.any((p < 0) | (p > 1))):
            raise ValueError("y_hat must hold probabilities in [0, 1] for binary_cross_entropy")
        y = super()._check_target(xp, p, y)
        _check_01(xp, y)
        return y

    def _forward(self, xp, p, y):
        return self._per_sample_sum(xp, -(y * _clamped_log(xp, p) + (1 - y) * _clamped_log(xp, 1 - p)))

    def _backward(self, xp, p, y):
        return (p - y) / xp.clip(p * (1 - p), 1e-12, None)


class BCEWithLogits(Loss):
    """Binary cross-entropy from the logit u, where p = σ(u).

    ℓ = softplus(u) − y·u, finite for any u.  ∂ℓ/∂u = σ(u) − y.
    """

    name = "bce_with_logits"

    def _check_target(self, xp, u, y):
        y = super()._check_target(xp, u, y)
        _check_01(xp, y)
        return y

    def _forward(self, xp, u, y):
        return self._per_sample_sum(xp, softplus(xp, u) - y * u)

    def _backward(self, xp, u, y):
        return sigmoid(xp, u) - y


class LogisticLoss(Loss):
    """The logistic loss for labels y ∈ {−1, +1}: ℓ = log(1 + e^(−y·u)).

    With t = (y + 1)/2 ∈ {0, 1} this is BCEWithLogits(u, t), so
    ∂ℓ/∂u = −y·σ(−y·u) = σ(u) − t.
    """

    name = "logistic"

    def _check_target(self, xp, u, y):
        y = super()._check_target(xp, u, y)
        if not bool(xp.all((y == 1) | (y == -1))):
            raise ValueError("y must hold labels in {-1, +1} for the logistic loss; use bce_with_logits for {0, 1}")
        return y

    def _forward(self, xp, u, y):
        return self._per_sample_sum(xp, softplus(xp, -y * u))

    def _backward(self, xp, u, y):
        return sigmoid(xp, u) - (y + 1) / 2


class SoftmaxCrossEntropy(Loss):
    """Multiclass cross-entropy from logits z (n, k): ℓ = log Σⱼ e^(zⱼ) − ⟨y, z⟩.

    ``y`` is either class indices (n,) of an integer dtype, or one-hot /
    probability rows (n, k).  Log-sum-exp keeps it finite for any z.
    ∂ℓ/∂z = softmax(z) − y.
    """

    name = "softmax_cross_entropy"

    def forward(self, z, y):
        check_array(z, "z (logits)", ndim=2)
        return super().forward(z, y)

    def _check_target(self, xp, z, y):
        if _is_label_vector(y):
            if backend_of(y) != backend_of(z):
                raise TypeError(f"y (class labels) is on {backend_of(y)} but z (logits) is on {backend_of(z)}")
            n, k = z.shape
            if y.shape[0] != n:
                raise ValueError(f"y has {y.shape[0]} labels but z has {n} rows")
            if bool(xp.any((y < 0) | (y >= k))):
                raise ValueError(
                    f"class labels in y must lie in [0, {k}), got min {int(xp.min(y))}, max {int(xp.max(y))}"
                )
            eye = xp.eye(k, dtype=z.dtype, device=device_of(z))
            return eye[y]
        if getattr(y, "ndim", None) == 1:
            # as in torch, integer targets are class labels and float ones probability rows: a float vector
            # is neither, and reading 0., 1., 2. as labels would be a guess where torch refuses
            raise TypeError(
                f"y has shape {tuple(y.shape)} and dtype {dtype_name(y)}: class labels must have an integer dtype "
                f"(convert with y.astype(int) or y.long()); targets as one-hot or probability rows must have shape "
                f"{tuple(z.shape)} like z (logits)"
            )
        y = super()._check_target(xp, z, y)
        if bool(xp.any(y < 0)):
            raise ValueError("target rows y must be non-negative (one-hot or probabilities)")
        return y

    def _forward(self, xp, z, y):
        return self._per_sample_sum(xp, -y * log_softmax(xp, z))

    def _backward(self, xp, z, y):
        return xp.exp(log_softmax(xp, z)) * xp.sum(y, axis=-1, keepdims=True) - y


class KLDivergence(Loss):
    """KL(p ‖ q) = Σ p log(p / q) between target rows p = y and model rows q = ŷ.

    0·log 0 counts as 0.  Minimising it over q is maximum likelihood, since it
    differs from the cross-entropy −Σ p log q by the entropy of p only.
    ∂/∂q = −p / q.
    """

    name = "kl_divergence"

    def _check_target(self, xp, q, y):
        y = super()._check_target(xp, q, y)
        if bool(xp.any(q <= 0)) or bool(xp.any(y < 0)):
            raise ValueError("kl_divergence needs model probabilities y_hat > 0 and targets y >= 0")
        return y

    def _forward(self, xp, q, p):
        safe_p = xp.where(p > 0, p, xp.ones_like(p))
        return self._per_sample_sum(xp, xp.where(p > 0, p * (xp.log(safe_p) - xp.log(q)), xp.zeros_like(p)))

    def _backward(self, xp, q, p):
        return -p / q


def _clamped_log(xp, p):
    """log p clamped at −100, without evaluating log 0 (no divide-by-zero warning)."""
    positive = p > 0
    return xp.where(positive, xp.clip(xp.log(xp.where(positive, p, xp.ones_like(p))), -100.0, None), -100.0)


def _check_01(xp, y):
    if bool(xp.any((y < 0) | (y > 1))):
        raise ValueError("y must hold targets in [0, 1] (labels 0/1); for ±1 labels use the logistic loss")


def _is_label_vector(y) -> bool:
    """True for a vector of integer class indices, on either backend."""
    return getattr(y, "ndim", None) == 1 and namespace(y).isdtype(y.dtype, "integral")


LOSSES: dict[str, type[Loss]] = {
    cls.name: cls
    for cls in (SquaredError, BinaryCrossEntropy, BCEWithLogits, LogisticLoss, SoftmaxCrossEntropy, KLDivergence)
}


def get_loss(spec, **kwargs) -> Loss:
    """A loss from its registry name (or an instance, returned as is)."""
    if isinstance(spec, Loss):
        return spec
    if not isinstance(spec, str) or spec not in LOSSES:
        raise ValueError(f"unknown loss {spec!r}; known: {', '.join(sorted(LOSSES))}")
    return LOSSES[spec](**kwargs)
