"""Batch normalisation (Ioffe and Szegedy, 2015, "Batch normalization: accelerating deep
network training by reducing internal covariate shift"), forward and backward side by side.

For a batch X (n, C), feature by feature, in training mode:

    μ = (1/n) Σᵢ xᵢ,   σ² = (1/n) Σᵢ (xᵢ − μ)²,   x̂ᵢ = (xᵢ − μ) / √(σ² + ε),   yᵢ = γ x̂ᵢ + β,

and the running statistics move towards the batch's, with torch's momentum m:
r_μ ← (1 − m) r_μ + m μ and r_σ² ← (1 − m) r_σ² + m σ² · n / (n − 1) (the
unbiased variance).  In evaluation mode the running statistics replace μ and
σ², nothing is updated, and the layer is a fixed affine map of each feature.
"""

from __future__ import annotations

from .backend import asarray
from .module import Module
from .validation import check_array, check_compatible, check_positive, check_probability


class BatchNorm1d(Module):
    """Batch normalisation of the features of X (n, C), like ``torch.nn.BatchNorm1d``.

    Parameters ``gamma`` γ (C,) and ``beta`` β (C,), initially 1 and 0; buffers
    ``running_mean`` (C,) and ``running_var`` (C,), initially 0 and 1.

    Backward, training mode (μ and σ² depend on every xᵢ, hence the two sums):

        ∂L/∂β = Σᵢ gᵢ,   ∂L/∂γ = Σᵢ gᵢ x̂ᵢ,
        ∂L/∂xᵢ = γ / (n √(σ² + ε)) · (n gᵢ − Σⱼ gⱼ − x̂ᵢ Σⱼ gⱼ x̂ⱼ);

    evaluation mode: ∂L/∂xᵢ = γ gᵢ / √(r_σ² + ε).
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, dtype="float64",
                 backend=None, device=None):
        super().__init__()
        if isinstance(num_features, bool) or not isinstance(num_features, int) or num_features < 1:
            raise ValueError(f"num_features must be a positive integer, got {num_features!r}")
        check_positive(eps, "eps")
        check_probability(momentum, "momentum")
        self.num_features, self.eps, self.momentum = num_features, float(eps), float(momentum)
        self.params["gamma"] = asarray([1.0] * num_features, dtype=dtype, backend=backend, device=device)
        self.params["beta"] = asarray([0.0] * num_features, dtype=dtype, backend=backend, device=device)
        self.running_mean = asarray([0.0] * num_features, dtype=dtype, backend=backend, device=device)
        self.running_var = asarray([1.0] * num_features, dtype=dtype, backend=backend, device=device)
        self._cache = None

    def _check_input(self, X):
        xp = check_array(X, "X", ndim=2, shape=(None, self.num_features))
        check_compatible(X, "X", self.params["gamma"], "the layer's scale gamma")
        return xp

    def forward(self, X):
        xp = self._check_input(X)
        n = X.shape[0]
        if self.training:
            if n < 2:
                raise ValueError(f"X must have at least 2 rows in training mode (a variance per feature is "
                                 f"estimated from the batch), got shape {tuple(X.shape)}; "
                                 "call .eval() to use the running statistics")
            mean = xp.mean(X, axis=0)
            var = xp.mean((X - mean) ** 2, axis=0)
            m = self.momentum
            self.running_mean = (1 - m) * self.running_mean + m * mean
            self.running_var = (1 - m) * self.running_var + m * var * (n / (n - 1))
        else:
            mean, var = self.running_mean, self.running_var
        inv_std = 1 / xp.sqrt(var + self.eps)
        X_hat = (X - mean) * inv_std
        self._cache = (X_hat, inv_std, self.training)
        return self.params["gamma"] * X_hat + self.params["beta"]

    def backward(self, grad_out):
        if self._cache is None:
            raise RuntimeError("BatchNorm1d.backward called before forward")
        X_hat, inv_std, training = self._cache
        xp = check_array(grad_out, "grad_out", shape=tuple(X_hat.shape))
        check_compatible(grad_out, "grad_out", X_hat, "the layer's input X")
        self.grads["beta"] = xp.sum(grad_out, axis=0)
        self.grads["gamma"] = xp.sum(grad_out * X_hat, axis=0)
        scale = self.params["gamma"] * inv_std
        if not training:
            return scale * grad_out
        n = X_hat.shape[0]
        return scale / n * (n * grad_out - self.grads["beta"] - X_hat * self.grads["gamma"])

    def to(self, backend=None, device=None, dtype=None) -> BatchNorm1d:
        """Move the parameters and the running statistics; returns self."""
        super().to(backend, device, dtype)
        self.running_mean = asarray(self.running_mean, dtype=dtype, backend=backend, device=device)
        self.running_var = asarray(self.running_var, dtype=dtype, backend=backend, device=device)
        self._cache = None
        return self

    def __repr__(self) -> str:
        return f"BatchNorm1d({self.num_features}, eps={self.eps}, momentum={self.momentum})"
