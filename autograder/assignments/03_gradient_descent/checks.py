"""Hidden tests of assignment 03_gradient_descent: batch, stochastic and minibatch
gradient descent loops; learning rates on a quadratic and the curvature.

The student's loops receive the grader's gradient function: a spy that
computes the least-squares gradient, checks its arguments and records which
examples each step used, so a wrong loop is told which step took which
examples.  The reference loops below follow the notebook's rules exactly,
with the same seeded generator.
"""

from __future__ import annotations

import numpy as np

from autograder.checks import assert_close, assert_equal, call, describe, named, to_array, to_scalar
from autograder.parts import Parts

PARTS = Parts()


class Spy:
    """The least-squares gradient X_bᵀ(X_b θ − y_b)/m, recording the rows of each batch."""

    def __init__(self, X, y):
        self.X, self.y = X, y
        self.rows = {X[i].tobytes(): i for i in range(X.shape[0])}
        self.batches: list[tuple] = []

    def __call__(self, theta, X_batch, y_batch):
        p = self.X.shape[1]
        if type(X_batch) is not np.ndarray or X_batch.ndim != 2 or X_batch.shape[1] != p:
            raise ValueError(f"grad_fn needs X_batch of shape (m, {p}), got {np.shape(X_batch)}: index X with a "
                             "slice or an array of indices (X[[i]], not X[i]) to keep two dimensions")
        if np.shape(y_batch) != (X_batch.shape[0],):
            raise ValueError(f"grad_fn needs y_batch of shape ({X_batch.shape[0]},) to match X_batch, "
                             f"got {np.shape(y_batch)}")
        if np.shape(theta) != (p,):
            raise ValueError(f"grad_fn needs theta of shape ({p},), got {np.shape(theta)}")
        self.batches.append(tuple(self.rows.get(row.tobytes(), -1) for row in np.asarray(X_batch, float)))
        theta = np.asarray(theta, dtype=np.float64)
        return X_batch.T @ (X_batch @ theta - y_batch) / X_batch.shape[0]


def _problem(seed: int, n: int = 23, p: int = 3):
    rng = np.random.default_rng(500 + seed)
    X = rng.standard_normal((n, p))
    y = X @ rng.standard_normal(p) + 0.1 * rng.standard_normal(n)
    return X, y, rng.standard_normal(p)


def plan(n: int, epochs: int, batch_size: int | None, seed: int | None, mode: str = "right") -> list[tuple]:
    """The batches a loop must visit: all rows (batch GD), or ``batch_size`` rows at a time in the
    order of a fresh ``rng.permutation(n)`` per epoch, the last batch possibly smaller.

    ``mode`` gives the common mistakes: "unshuffled", "same_order", "drop_last", "with_replacement".
    """
    if batch_size is None:
        return [tuple(range(n))] * epochs
    rng = np.random.default_rng(seed)
    batches, fixed = [], None
    for _ in range(epochs):
        if mode == "unshuffled":
            order = np.arange(n)
        elif mode == "same_order":
            fixed = rng.permutation(n) if fixed is None else fixed
            order = fixed
        elif mode == "with_replacement":
            order = rng.integers(0, n, n)
        else:
            order = rng.permutation(n)
        for start in range(0, n, batch_size):
            chunk = tuple(int(i) for i in order[start:start + batch_size])
            if mode != "drop_last" or len(chunk) == batch_size:
                batches.append(chunk)
    return batches


def follow(X, y, theta0, lr, batches, per_epoch, sign=1.0) -> np.ndarray:
    """θ after each epoch, stepping θ ← θ − lr·∇ on the given batches; row 0 is θ₀."""
    theta, history = np.array(theta0, dtype=np.float64), [np.array(theta0, dtype=np.float64)]
    spy = Spy(X, y)
    for k, batch in enumerate(batches, start=1):
        index = list(batch)
        theta = theta - sign * lr * spy(theta, X[index], y[index])
        if k % per_epoch == 0:
            history.append(theta)
    return np.array(history)


def _steps_per_epoch(n, batch_size, mode="right"):
    if batch_size is None:
        return 1
    return n // batch_size if mode == "drop_last" else -(-n // batch_size)


def _check_loop(fn, name, batch_size, seeds):
    for seed in seeds:
        X, y, theta0 = _problem(seed)
        n, lr, epochs = X.shape[0], 0.05, 3
        arguments = {"theta0": theta0, "grad_fn": None, "X": X, "y": y, "lr": lr, "epochs": epochs}
        if batch_size is not None and batch_size > 1:
            arguments["batch_size"] = batch_size
        if batch_size is not None:
            arguments["rng"] = np.random.default_rng(seed)
        spy = Spy(X, y)
        arguments["grad_fn"] = spy
        signature = f"{name}({', '.join(arguments)})"
        thetas = to_array(call(fn, signature, **arguments), f"the thetas returned by {name}")
        case = describe(X=X, y=y, theta0=theta0) + f", lr {lr}, epochs {epochs}" + (
            f", batch_size {batch_size}" if batch_size else "")
        expected_batches = plan(n, epochs, batch_size, seed)
        _check_batches(spy.batches, expected_batches, n, epochs, batch_size, seed, name, case)
        per_epoch = _steps_per_epoch(n, batch_size)
        right = follow(X, y, theta0, lr, expected_batches, per_epoch)
        mistakes = {
            "the learning rate is ignored": follow(X, y, theta0, 1.0, expected_batches, per_epoch),
            named("sign_flipped",
                  "gradient ascent: the step must go against the gradient"): follow(X, y, theta0, lr, expected_batches,
                                                                              per_epoch, sign=-1.0),
            named("in_place", "every row holds the final θ: you stored one array and kept updating it in place"):
                np.tile(right[-1], (epochs + 1, 1)),
        }
        assert_close(thetas, right, f"the thetas returned by {name}", case=case, mistakes=mistakes)


def _check_batches(got, expected, n, epochs, batch_size, seed, name, case):
    if got == expected:
        return
    hints = []
    for mode, text in (("unshuffled", "the examples are visited in their original order: draw "
                                      "order = rng.permutation(n) at the start of every epoch"),
                       ("same_order", "every epoch uses the same order: draw a new permutation each epoch"),
                       ("drop_last", "the last, smaller batch of each epoch is dropped: keep it"),
                       ("with_replacement", "examples are drawn with replacement: use a permutation")):
        if batch_size is not None and got == plan(n, epochs, batch_size, seed, mode):
            hints.append(text)
    if len(got) != len(expected):
        summary = f"{name} called grad_fn {len(got)} times, expected {len(expected)} ({case})"
    else:
        step = next(k for k, (a, b) in enumerate(zip(got, expected)) if a != b)
        where = list(got[step]) if -1 not in got[step] else "rows that are not rows of X"
        summary = f"{name} took step {step + 1} on examples {where}, expected {list(expected[step])} ({case})"
    raise AssertionError(summary + (". This matches a common mistake: " + "; or ".join(hints) if hints else "") + ".")


@PARTS.add("test_batch_gd", points=2, uses=("batch_gd",))
def check_batch_gd(batch_gd):
    """One step per epoch on the whole data set; returns θ₀ and θ after each epoch."""
    _check_loop(batch_gd, "batch_gd", None, (0, 1))


@PARTS.add("test_sgd", points=2, uses=("sgd",))
def check_sgd(sgd):
    """One example per step, in the order of a fresh permutation every epoch."""
    _check_loop(sgd, "sgd", 1, (2, 3))


@PARTS.add("test_minibatch_sgd", points=3, uses=("minibatch_sgd",))
def check_minibatch_sgd(minibatch_sgd):
    """``batch_size`` examples per step; 23 examples in batches of 5 leave a last batch of 3."""
    _check_loop(minibatch_sgd, "minibatch_sgd", 5, (4, 5))


def _quadratics():
    out = []
    for seed in range(3):
        rng = np.random.default_rng(600 + seed)
        p = 3 + seed
        Q, _ = np.linalg.qr(rng.standard_normal((p, p)))
        eigenvalues = np.sort(rng.uniform(0.2, 5.0, p))
        eigenvalues[-1] += 2.0  # a clear largest curvature
        out.append((Q @ np.diag(eigenvalues) @ Q.T, eigenvalues))
    out.append((np.diag([0.5, 4.0, 1.0]), np.array([0.5, 1.0, 4.0])))
    return out


@PARTS.add("test_critical_lr", points=2, uses=("critical_learning_rate",))
def check_critical_lr(critical_learning_rate):
    """2 / λ_max(A): the largest learning rate for which GD converges on ½θᵀAθ from every start."""
    for A, eigenvalues in _quadratics():
        A = (A + A.T) / 2
        got = to_scalar(call(critical_learning_rate, "critical_learning_rate(A)", A=A), "critical_learning_rate(A)")
        lam_max, lam_min = eigenvalues[-1], eigenvalues[0]
        assert_close(got, 2 / lam_max, "critical_learning_rate(A)",
                     case=f"A of shape {A.shape} with eigenvalues {np.round(eigenvalues, 3).tolist()}",
                     mistakes={"1/λ_max: gradient descent still converges up to 2/λ_max": 1 / lam_max,
                               "2/λ_min: the largest curvature, not the smallest, limits the step": 2 / lam_min,
                               "2/max(diag A): the diagonal of A is not its eigenvalues unless A is diagonal":
                                   2 / np.max(np.diag(A)),
                               "2/trace(A): the trace sums all the eigenvalues": 2 / np.trace(A),
                               "2/‖A‖_F: the Frobenius norm is not the largest eigenvalue": 2 / np.linalg.norm(A)})


@PARTS.add("test_classify_lr", points=2, uses=("classify_learning_rates", "critical_learning_rate"))
def check_classify_lr(classify_learning_rates):
    """True where GD on ½θᵀAθ converges (lr < 2/λ_max), False where it does not: near the boundary, and
    exactly on it for the diagonal A, whose 2/λ_max is exact in floating point (there the most curved
    component keeps its size and flips sign every step: no convergence)."""
    for A, eigenvalues in _quadratics():
        exact = np.count_nonzero(A - np.diag(np.diag(A))) == 0
        factors = np.array([0.05, 0.5, 0.9, 0.97, 1.03, 1.2, 2.5, 0.7, 1.5] + ([1.0] if exact else []))
        A = (A + A.T) / 2
        lrs = factors * 2 / eigenvalues[-1]
        got = to_array(call(classify_learning_rates, "classify_learning_rates(A, lrs)", A=A, lrs=lrs),
                       "classify_learning_rates(A, lrs)")
        labels = [f"lr = {lr:.4g} ({f:g} × 2/λ_max)" for lr, f in zip(lrs, factors)]
        assert_equal(got, (lrs < 2 / eigenvalues[-1]).astype(float), "classify_learning_rates(A, lrs)",
                     case=f"A with eigenvalues {np.round(eigenvalues, 3).tolist()}", labels=labels,
                     mistakes={"the threshold 1/λ_max instead of 2/λ_max": (lrs < 1 / eigenvalues[-1]).astype(float),
                               "the threshold 2/λ_min: the largest curvature limits the step":
                                   (lrs < 2 / eigenvalues[0]).astype(float),
                               named("boundary", "lr ≤ 2/λ_max: at exactly 2/λ_max gradient descent oscillates "
                                                 "forever, it does not converge"):
                                   (lrs <= 2 / eigenvalues[-1]).astype(float)})
