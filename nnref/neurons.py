"""The first neurons: McCulloch & Pitts' threshold logic unit and Rosenblatt's perceptron.

A threshold logic unit (TLU) outputs f(x) = 1 if wᵀx + b ≥ 0 and 0 otherwise.
With the weights of the lectures it computes

* or(a, b)  = 1{a + b − 0.5 ≥ 0}
* and(a, b) = 1{a + b − 1.5 ≥ 0}
* not(a)    = 1{−a + 0.5 ≥ 0}
* nand(a, b) = 1{−a − b + 1.5 ≥ 0}

and since {and, or, not} (or nand alone) is functionally complete, layers of
TLUs compute any Boolean function.  The step has derivative 0 almost
everywhere, so TLUs are not trained by gradients; the perceptron rule below
is the first learning algorithm.
"""

from __future__ import annotations

import numpy as np

from .backend import asarray, backend_of, device_of, dtype_name, make_rng
from .validation import check_array


class TLU:
    """Threshold logic unit 1{X w + b ≥ 0}.  Shapes: X (n, d), w (d,) → (n,)."""

    def __init__(self, w, b: float):
        self.w = asarray(w, dtype="float64", backend="numpy")
        if self.w.ndim != 1:
            raise ValueError(f"w must be a vector, got shape {self.w.shape}")
        self.b = float(b)

    def __call__(self, X):
        xp = check_array(X, "X", shape=(None, self.w.shape[0]), floating=False)
        if not xp.isdtype(X.dtype, "real floating"):
            X = xp.astype(X, xp.float64)
        w = asarray(self.w, dtype=dtype_name(X), backend=backend_of(X))
        return xp.astype(X @ w + self.b >= 0, X.dtype)

    def __repr__(self) -> str:
        return f"TLU(w={self.w.tolist()}, b={self.b})"


def and_unit() -> TLU:
    return TLU([1, 1], -1.5)


def or_unit() -> TLU:
    return TLU([1, 1], -0.5)


def not_unit() -> TLU:
    return TLU([-1], 0.5)


def nand_unit() -> TLU:
    return TLU([-1, -1], 1.5)


def xor(X):
    """XOR from TLUs: and(or(a, b), nand(a, b)).  X (n, 2) of 0/1 → (n,)."""
    xp = check_array(X, "X", shape=(None, 2), floating=False)
    hidden = xp.stack([or_unit()(X), nand_unit()(X)], axis=1)
    return and_unit()(hidden)


class BooleanNetwork:
    """Any Boolean function of d inputs as two layers of TLUs (disjunctive normal form).

    One hidden unit fires on exactly one input row where the function is 1
    (weights +1 on the ones, −1 on the zeros, bias 0.5 − #ones); the output
    unit is an OR of the hidden units.
    """

    def __init__(self, truth: dict):
        rows = list(truth)
        if not rows:
            raise ValueError("truth table is empty")
        d = len(rows[0])
        self.d = d
        self.hidden = [TLU([1 if bit else -1 for bit in row], 0.5 - sum(row)) for row, out in truth.items() if out]
        self.output = TLU([1] * len(self.hidden), -0.5) if self.hidden else None

    def __call__(self, X):
        xp = check_array(X, "X", shape=(None, self.d), floating=False)
        if self.output is None:
            return xp.zeros(X.shape[0], dtype=xp.float64, device=device_of(X))
        hidden = xp.stack([unit(X) for unit in self.hidden], axis=1)
        return self.output(hidden)


class Perceptron:
    """Rosenblatt's perceptron: ŷ = sign(wᵀx + b) for labels y ∈ {−1, +1}.

    Learning rule: on a misclassified (x, y), w ← w + lr·y·x and b ← b + lr·y.
    On linearly separable data it stops after finitely many updates
    (Novikoff); on XOR it never does.
    """

    def __init__(self, n_features: int, lr: float = 1.0):
        self.w = np.zeros(int(n_features))
        self.b = 0.0
        self.lr = float(lr)
        self.history: list[tuple[np.ndarray, float]] = []

    def decision_function(self, X):
        check_array(X, "X", shape=(None, self.w.shape[0]), floating=False)
        return np.asarray(X, dtype=np.float64) @ self.w + self.b

    def predict(self, X):
        """sign with sign(0) = +1, so every point gets a class."""
        return np.where(self.decision_function(X) >= 0, 1.0, -1.0)

    def update(self, x, y) -> bool:
        """One step of the rule on one example; True when it changed the weights."""
        if y not in (-1, 1):
            raise ValueError(f"perceptron labels must be -1 or +1, got {y!r}")
        if y * (float(np.dot(self.w, x)) + self.b) > 0:
            return False
        self.w = self.w + self.lr * y * np.asarray(x, dtype=np.float64)
        self.b = self.b + self.lr * y
        self.history.append((self.w.copy(), self.b))
        return True

    def fit(self, X, y, max_epochs: int = 100, rng=None) -> bool:
        """Cycle through the data until an epoch makes no update (returns True)
        or ``max_epochs`` pass (returns False: not separated)."""
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if X.ndim != 2 or y.shape != (X.shape[0],):
            raise ValueError(f"need X (n, d) and y (n,), got {X.shape} and {y.shape}")
        if not np.all(np.isin(y, (-1.0, 1.0))):
            raise ValueError("perceptron labels y must be -1 or +1")
        rng = make_rng(rng)
        for _ in range(int(max_epochs)):
            changed = False
            for i in rng.permutation(X.shape[0]):
                changed |= self.update(X[i], y[i])
            if not changed:
                return True
        return False

