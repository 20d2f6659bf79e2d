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

from .backend import is_torch, make_rng, no_grad
from .constraints import clip_by_norm, clip_by_value, project_weights
from .layers import backward_for_training
from .losses import get_loss
from .module import is_weight
from .validation import all_finite, check_array, check_positive

METHODS = ("batch", "sgd", "minibatch")


class SGD:
    """θ ← θ − lr·(∇L + λ·θ) for every parameter of a module (PyTorch's verbs).

    ``weight_decay`` λ adds the gradient of the penalty (λ/2)‖W‖² for the
    weight matrices (names ending in ``W``); biases are not decayed.  Each
    step puts new arrays into the model, so an array taken from it keeps
    its values.
    """

    def __init__(self, model, lr: float, weight_decay: float = 0.0):
        check_positive(lr, "lr")
        check_positive(weight_decay, "weight_decay", allow_zero=True)
        self.model, self.lr, self.weight_decay = model, float(lr), float(weight_decay)

    def zero_grad(self) -> None:
        self.model.zero_grad()

    def direction(self, grads: dict | None = None) -> dict:
        """∇L + λ·W for every parameter; ∇L is ``grads``, by default the model's own."""
        grads = self.model.gradients() if grads is None else grads
        params = self.model.parameters()
        missing = sorted(set(params) - set(grads))
        if missing:
            raise RuntimeError(f"no gradient for {missing}: call backward before step")
        if self.weight_decay:
            grads = {k: g + self.weight_decay * params[k] if is_weight(k) else g for k, g in grads.items()}
        return grads

    def step(self, grads: dict | None = None) -> None:
        params, d = self.model.parameters(), self.direction(grads)
        self.model.set_parameters({k: params[k] - self.lr * d[k] for k in params})


class InPlaceSGD(SGD):
    """``SGD`` that writes each step into the parameter arrays themselves, the optimiser
    ``fit`` runs (on copies of the parameters it makes when it starts).

    The numbers are those of ``SGD`` bit for bit (lr·g is rounded first either way, then
    the difference); the work is less, as no new arrays are made.  Where writing in place
    would not give exactly those numbers, a new array is made as ``SGD`` does.
    """

    def step(self, grads: dict | None = None) -> None:
        params, d = self.model.parameters(), self.direction(grads)
        replaced = {}
        for k, p in params.items():
            if _can_update_in_place(p, d[k]):
                p -= self.lr * d[k]
            else:
                replaced[k] = p - self.lr * d[k]
        if replaced:
            self.model.set_parameters(replaced)


def _can_update_in_place(p, g) -> bool:
    """Same array type, dtype and shape (a new array would not be cast or broadcast),
    both contiguous (it would have p's memory layout), p writeable and, on torch,
    outside autograd."""
    if type(p) is not type(g) or p.dtype != g.dtype or p.shape != g.shape:
        return False
    if type(p) is np.ndarray:
        return p.flags.writeable and p.flags.c_contiguous and g.flags.c_contiguous
    return (is_torch(p) and not p.requires_grad and p.device == g.device
            and p.is_contiguous() and g.is_contiguous())


def _own_copy(value):
    """A copy that ``fit`` may update in place; a non-contiguous array is kept as it
    is (``SGD`` replaces it out of place, as it always did)."""
    if type(value) is np.ndarray:
        return value.copy() if value.flags.c_contiguous else value
    if is_torch(value):
        return value.clone() if value.is_contiguous() else value
    return value


def _snapshot(value):
    """A copy with the same memory layout (early stopping's best parameters)."""
    return value.clone() if is_torch(value) else np.copy(value, order="K")


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
    if not all_finite(out):
        raise Diverged("the model's output is no longer finite")
    return out


@no_grad  # one switch for the whole pass, instead of one in every module's forward and backward
def loss_and_grad(model, loss, X, y):
    """One forward and backward pass; returns the loss as a float.

    The parameter gradients are stored in the model as ``model.backward`` stores
    them, by ``backward_for_training``: X is data, so nobody needs ∂L/∂X and it
    is not computed.
    """
    value = float(loss(_finite_output(model, X), y))
    if not math.isfinite(value):
        raise Diverged(f"the loss is {value}")
    model.zero_grad()
    backward_for_training(model, loss.backward())
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
    # fit trains copies of the parameters, made once here: every step can then
    # update them in place, and an array the caller holds is never overwritten
    model.set_parameters({k: _own_copy(v) for k, v in model.parameters().items()})
    training = _Training(model=model, loss=loss, optimiser=InPlaceSGD(model, lr, weight_decay), method=method,
                         batch_size=int(batch_size), rng=make_rng(rng), clip_norm=clip_norm, clip_value=clip_value,
                         constraint=constraint, patience=patience)
    history = History()
    model.train()
    bar = tqdm(range(epochs), desc=f"{method} GD", disable=not progress, leave=False)
    with np.errstate(over="ignore", invalid="ignore"):
        try:
            training.run(bar, X, y, X_val, y_val, history)
        except Diverged:
            history.diverged = True
    return history


@dataclass(kw_only=True)
class _Training:
    """What ``fit`` was asked to do, gathered once: the model, its loss, the optimiser,
    how to batch, and what to do to each step (clipping, a constraint) and to each epoch
    (early stopping after ``patience`` epochs without a better validation loss)."""

    model: object
    loss: object
    optimiser: SGD
    method: str
    batch_size: int
    rng: np.random.Generator
    clip_norm: float | None = None
    clip_value: float | None = None
    constraint: str | None = None
    patience: int | None = None

    def epoch(self, X, y) -> None:
        """One pass over the training set, one step per batch."""
        for idx in minibatches(X.shape[0], self.method, self.batch_size, self.rng):
            rows = idx if isinstance(idx, slice) else _index(X, idx)
            loss_and_grad(self.model, self.loss, X[rows], y[rows])
            grads = self.model.gradients()
            if self.clip_value is not None:
                grads = clip_by_value(grads, self.clip_value)
            if self.clip_norm is not None:
                grads, _ = clip_by_norm(grads, self.clip_norm)
            self.optimiser.step(grads)
            if self.constraint is not None:
                project_weights(self.model, self.constraint)

    def run(self, epochs, X, y, X_val, y_val, history: History) -> None:
        """Train for the epochs of ``epochs`` (a progress bar over them), recording ``history``."""
        best, best_params, waited = math.inf, None, 0
        for epoch in epochs:
            self.epoch(X, y)
            history.train_loss.append(evaluate(self.model, self.loss, X, y))
            postfix = {"loss": f"{history.train_loss[-1]:.4g}"}
            if X_val is not None:
                history.val_loss.append(evaluate(self.model, self.loss, X_val, y_val))
                postfix["val"] = f"{history.val_loss[-1]:.4g}"
                if history.val_loss[-1] < best:
                    # copies: the steps that follow update the parameter arrays in place
                    best, waited = history.val_loss[-1], 0
                    best_params = {k: _snapshot(v) for k, v in self.model.parameters().items()}
                    history.best_epoch = epoch
                else:
                    waited += 1
                    if self.patience is not None and waited >= self.patience:
                        history.stopped_early = True
                        break
            epochs.set_postfix(postfix)
        if self.patience is not None and best_params is not None:
            self.model.set_parameters(best_params)


def _index(X, idx):
    from .backend import asarray, backend_of

    return asarray(idx, backend=backend_of(X)) if backend_of(X).name == "torch" else idx


