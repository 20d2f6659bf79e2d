"""Gradient descent and its stochastic variants, with early stopping.

The update is θ ← θ − γ ∇L(θ): the minimiser of the first-order model of L
around θ plus the penalty ‖θ' − θ‖² / (2γ).  ``fit`` runs it three ways:

* ``"batch"``: the gradient of the whole training set, one step per epoch;
* ``"sgd"``: one example per step, in a fresh random order every epoch;
* ``"minibatch"``: ``batch_size`` examples per step.

The sampled gradients are unbiased estimates of the batch gradient.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from .backend import make_rng, namespace
from .constraints import clip_by_norm, clip_by_value, project_weights
from .losses import get_loss
from .validation import check_array, check_positive

METHODS = ("batch", "sgd", "minibatch")


class SGD:
    """θ ← θ − lr·(∇L + λ·θ) for every parameter of a module (PyTorch's verbs).

    ``weight_decay`` λ adds the gradient of the penalty (λ/2)‖W‖² for the
    weight matrices (names ending in ``W``); biases are not decayed.
    """

    def __init__(self, model, lr: float, weight_decay: float = 0.0):
        check_positive(lr, "lr")
        check_positive(weight_decay, "weight_decay", allow_zero=True)
        self.model, self.lr, self.weight_decay = model, float(lr), float(weight_decay)

    def zero_grad(self) -> None:
        self.model.zero_grad()

    def step(self, grads: dict | None = None) -> None:
        grads = self.model.gradients() if grads is None else grads
        params = self.model.parameters()
        missing = sorted(set(params) - set(grads))
        if missing:
            raise RuntimeError(f"no gradient for {missing}: call backward before step")
        if self.weight_decay:
            grads = {k: g + self.weight_decay * params[k] if k.split(".")[-1] == "W" else g for k, g in grads.items()}
        self.model.set_parameters({k: params[k] - self.lr * grads[k] for k in params})


@dataclass
class History:
    """What ``fit`` saw: losses per epoch, and where early stopping stopped."""

    train_loss: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False
    diverged: bool = False


class Diverged(ArithmeticError):
    """The model's output or loss stopped being finite."""


def _finite_output(model, X):
    out = model(X)
    xp = namespace(out)
    if not bool(xp.all(xp.isfinite(out))):
        raise Diverged("the model's output is no longer finite")
    return out


def loss_and_grad(model, loss, X, y):
    """One forward and backward pass; returns the loss as a float."""
    value = float(loss(_finite_output(model, X), y))
    if not math.isfinite(value):
        raise Diverged(f"the loss is {value}")
    model.zero_grad()
    model.backward(loss.backward())
    return value


def evaluate(model, loss, X, y) -> float:
    """The loss on (X, y) in evaluation mode."""
    was_training = model.training
    model.eval()
    try:
        return float(loss(_finite_output(model, X), y))
    finally:
        model.train(was_training)


def minibatches(n, method, batch_size, rng):
    """The row indices of each step of one epoch: all rows at once ("batch"),
    one row ("sgd") or ``batch_size`` rows ("minibatch"), in a fresh random order."""
    if method == "batch":
        yield slice(None)
        return
    size = 1 if method == "sgd" else batch_size
    order = rng.permutation(n)
    for start in range(0, n, size):
        yield order[start:start + size]


def fit(model, X, y, *, loss=None, method="minibatch", lr=0.1, epochs=100, batch_size=32,
        X_val=None, y_val=None, patience=None, clip_norm=None, clip_value=None,
        constraint=None, weight_decay=0.0, rng=None, progress=True) -> History:
    """Train ``model`` in place and return its :class:`History`.

    ``loss`` defaults to the model's own (``model.default_loss()``).  With a
    validation set and ``patience``, training stops after ``patience`` epochs
    without improvement and the best parameters are restored (early stopping).
    ``weight_decay`` adds λ·W to the weight gradients (an L2 penalty).
    ``clip_norm`` / ``clip_value`` clip gradients; ``constraint`` ("spectral",
    "frobenius", "elementwise") projects the weights after every step.
    Training stops, with ``history.diverged`` set, if the loss becomes NaN or inf.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    check_positive(epochs, "epochs")
    check_positive(batch_size, "batch_size")
    check_array(X, "X", ndim=2, finite=True)
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but y has {y.shape[0]}")
    if (X_val is None) != (y_val is None):
        raise ValueError("give both X_val and y_val, or neither")
    if patience is not None and X_val is None:
        raise ValueError("early stopping (patience) needs a validation set X_val, y_val")
    loss = get_loss(loss) if loss is not None else model.default_loss()
    optimiser, rng, history = SGD(model, lr, weight_decay), make_rng(rng), History()
    model.train()
    bar = tqdm(range(epochs), desc=f"{method} GD", disable=not progress, leave=False)
    with np.errstate(over="ignore", invalid="ignore"):
        try:
            _train(model, loss, X, y, X_val, y_val, method, batch_size, optimiser, rng, history, bar,
                   patience, clip_norm, clip_value, constraint)
        except Diverged:
            history.diverged = True
    return history


def _train(model, loss, X, y, X_val, y_val, method, batch_size, optimiser, rng, history, bar,
           patience, clip_norm, clip_value, constraint):
    best, best_params, waited = math.inf, None, 0
    for epoch in bar:
        for idx in minibatches(X.shape[0], method, int(batch_size), rng):
            rows = idx if isinstance(idx, slice) else _index(X, idx)
            loss_and_grad(model, loss, X[rows], y[rows])
            grads = model.gradients()
            if clip_value is not None:
                grads = clip_by_value(grads, clip_value)
            if clip_norm is not None:
                grads, _ = clip_by_norm(grads, clip_norm)
            optimiser.step(grads)
            if constraint is not None:
                project_weights(model, constraint)
        history.train_loss.append(evaluate(model, loss, X, y))
        postfix = {"loss": f"{history.train_loss[-1]:.4g}"}
        if X_val is not None:
            history.val_loss.append(evaluate(model, loss, X_val, y_val))
            postfix["val"] = f"{history.val_loss[-1]:.4g}"
            if history.val_loss[-1] < best:
                best, best_params, waited = history.val_loss[-1], dict(model.parameters()), 0
                history.best_epoch = epoch
            else:
                waited += 1
                if patience is not None and waited >= patience:
                    history.stopped_early = True
                    break
        bar.set_postfix(postfix)
    if patience is not None and best_params is not None:
        model.set_parameters(best_params)


def _index(X, idx):
    from .backend import asarray, backend_of

    return asarray(idx, backend=backend_of(X)) if backend_of(X).name == "torch" else idx


