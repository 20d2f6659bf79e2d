"""From linear discriminant analysis to logistic regression.

LDA models each class as a Gaussian with its own mean and a shared
covariance Σ.  Bayes' rule then gives a posterior of logistic form,

    P(y = 1 | x) = σ(wᵀx + b),  w = Σ⁻¹(μ₁ − μ₀),
    b = −½ μ₁ᵀΣ⁻¹μ₁ + ½ μ₀ᵀΣ⁻¹μ₀ + log(π₁ / π₀).

Logistic regression keeps σ(wᵀx + b) and drops the Gaussian assumption:
w and b are fitted by maximum likelihood, which has no closed form and is
solved by gradient descent.
"""

from __future__ import annotations

from .activations.smooth import sigmoid
from .backend import device_of
from .losses import BCEWithLogits, LogisticLoss
from .validation import check_array, check_positive


def _check_labels(xp, X, y, values):
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},) to match X, got {tuple(y.shape)}")
    ok = xp.zeros(y.shape, dtype=xp.bool, device=device_of(y))
    for v in values:
        ok = ok | (y == v)
    if not bool(xp.all(ok)):
        raise ValueError(f"y must hold labels in {set(values)}")


class LinearClassifier:
    """What LDA and logistic regression share once fitted: P(y = 1 | x) = σ(wᵀx + b)."""

    def decision_function(self, X):
        """The logit wᵀx + b.  Shapes: X (n, d) → (n,)."""
        if getattr(self, "w", None) is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted yet: call fit(X, y) first")
        check_array(X, "X", shape=(None, self.w.shape[0]))
        return X @ self.w + self.b

    def predict_proba(self, X):
        """P(y = 1 | x) = σ(wᵀx + b).  Shapes: X (n, d) → (n,)."""
        xp = check_array(X, "X", ndim=2)
        return sigmoid(xp, self.decision_function(X))


class LDA(LinearClassifier):
    """Two-class LDA with a pooled covariance.  Shapes: X (n, d), y (n,) in {0, 1}.

    After ``fit``: ``means`` (2, d), ``covariance`` (d, d), ``priors`` (2,),
    ``w`` (d,), ``b`` (scalar array).
    """

    def fit(self, X, y):
        xp = check_array(X, "X", ndim=2, finite=True)
        _check_labels(xp, X, y, (0, 1))
        rows = [X[y == k] for k in (0, 1)]
        if min(r.shape[0] for r in rows) < 1 or X.shape[0] < 3:
            raise ValueError("LDA needs at least one sample of each class and three samples in all")
        self.means = xp.stack([xp.mean(r, axis=0) for r in rows])
        centred = xp.concat([r - m for r, m in zip(rows, self.means)])
        self.covariance = centred.T @ centred / (X.shape[0] - 2)
        self.priors = xp.asarray([r.shape[0] / X.shape[0] for r in rows], dtype=X.dtype, device=device_of(X))
        mu0, mu1 = self.means[0], self.means[1]
        self.w = xp.linalg.solve(self.covariance, mu1 - mu0)
        precision_mu = xp.linalg.solve(self.covariance, xp.stack([mu0, mu1]).T)
        self.b = (-0.5 * xp.sum(mu1 * precision_mu[:, 1]) + 0.5 * xp.sum(mu0 * precision_mu[:, 0])
                  + xp.log(self.priors[1] / self.priors[0]))
        return self



class LogisticRegression(LinearClassifier):
    """σ(wᵀx + b) fitted by maximum likelihood with batch gradient descent.

    ``labels="01"`` uses the cross-entropy, ``labels="pm1"`` the logistic
    loss log(1 + e^(−y(wᵀx + b))); both are the same negative log-likelihood.
    """

    def __init__(self, labels: str = "01", lr: float = 0.5, epochs: int = 500):
        if labels not in ("01", "pm1"):
            raise ValueError(f"labels must be '01' or 'pm1', got {labels!r}")
        check_positive(lr, "lr")
        self.labels, self.lr, self.epochs = labels, float(lr), int(epochs)
        self.loss_history: list[float] = []

    def fit(self, X, y):
        xp = check_array(X, "X", ndim=2, finite=True)
        _check_labels(xp, X, y, (0, 1) if self.labels == "01" else (-1, 1))
        loss = BCEWithLogits() if self.labels == "01" else LogisticLoss()
        y = xp.astype(y, X.dtype)
        self.w = xp.zeros(X.shape[1], dtype=X.dtype, device=device_of(X))
        self.b = xp.zeros((), dtype=X.dtype, device=device_of(X))
        for _ in range(self.epochs):
            self.loss_history.append(float(loss(X @ self.w + self.b, y)))
            grad_u = loss.backward()
            self.w = self.w - self.lr * (grad_u @ X)
            self.b = self.b - self.lr * xp.sum(grad_u)
        return self
