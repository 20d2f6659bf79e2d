"""Gradient descent and its stochastic variants, with early stopping.

The update is θ ← θ − γ ∇L(θ): the minimiser of the first-order model of L
around θ plus the penalty ‖θ' − θ‖² / (2γ).  ``fit`` runs it three ways:

* ``"batch"``: the gradient of the whole training set, one step per epoch;
* ``"sgd"``: one example per step, in a fresh random order every epoch;
* ``"minibatch"``: ``batch_size`` examples per step.

The sampled gradients are unbiased estimates of the batch gradient.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from .backend import is_torch, make_rng, no_grad
from .constraints import clip_by_norm, clip_by_value, project_weights
from .losses import get_loss
from .validation import all_finite, check_array, check_positive

METHODS = ("batch", "sgd", "minibatch")


class SGD:
    """θ ← θ − lr·(∇L + λ·θ) for every parameter of a module (PyTorch's verbs).

    ``weight_decay`` λ adds the gradient of the penalty (λ/2)‖W‖² for the
    weight matrices (names ending in ``W``); biases are not decayed.

    Each step puts new arrays into the model, so an array taken from it
    keeps its values.  ``in_place=True`` writes the same numbers into the
    parameter arrays themselves instead (no new arrays per step); ``fit``
    does that, on copies of the parameters it makes when it starts.
    """

    def __init__(self, model, lr: float, weight_decay: float = 0.0, *, in_place: bool = False):
        check_positive(lr, "lr")
        check_positive(weight_decay, "weight_decay", allow_zero=True)
        self.model, self.lr, self.weight_decay = model, float(lr), float(weight_decay)
        self.in_place = bool(in_place)

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
        if self.in_place:
            _update_in_place(self.model, params, grads, self.lr)
        else:
            self.model.set_parameters({k: params[k] - self.lr * grads[k] for k in params})


def _update_in_place(model, params, grads, lr) -> None:
    """θ ← θ − lr·g written into each parameter array, where that gives exactly the
    numbers of a new array (lr·g is rounded first either way); elsewhere a new array."""
    replaced = {}
    for k, p in params.items():
        if _can_update_in_place(p, grads[k]):
            p -= lr * grads[k]
        else:
            replaced[k] = p - lr * grads[k]
    if replaced:
        model.set_parameters(replaced)


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


# type(model) -> whether its backward takes input_grad=; asked on every step, answered once per class
_TAKES_INPUT_GRAD: dict[type, bool] = {}


def _takes_input_grad(model) -> bool:
    if "backward" in vars(model):  # a backward set on the instance itself: ask it
        return "input_grad" in inspect.signature(model.backward).parameters
    cls = type(model)
    if cls not in _TAKES_INPUT_GRAD:
        _TAKES_INPUT_GRAD[cls] = "input_grad" in inspect.signature(cls.backward).parameters
    return _TAKES_INPUT_GRAD[cls]


@no_grad  # one switch for the whole pass, instead of one in every module's forward and backward
def loss_and_grad(model, loss, X, y):
    """One forward and backward pass; returns the loss as a float.

    X is data, so nobody needs ∂L/∂X: where the model's ``backward`` takes
    ``input_grad`` (Dense, Sequential, MLP) it is asked not to compute it,
    which spares the first layer's largest product.  The parameter gradients
    are the same either way.
    """
    value = float(loss(_finite_output(model, X), y))
    if not math.isfinite(value):
        raise Diverged(f"the loss is {value}")
    model.zero_grad()
    if _takes_input_grad(model):
        model.backward(loss.backward(), input_grad=False)
    else:
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
    # fit trains copies of the parameters, made once here: every step can then
    # update them in place, and an array the caller holds is never overwritten
    model.set_parameters({k: _own_copy(v) for k, v in model.parameters().items()})
    optimiser, rng, history = SGD(model, lr, weight_decay, in_place=True), make_rng(rng), History()
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
                # copies: the steps that follow update the parameter arrays in place
                best, waited = history.val_loss[-1], 0
                best_params = {k: _snapshot(v) for k, v in model.parameters().items()}
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


