"""Gradient descent, SGD and minibatch SGD; early stopping; progress."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from helpers import split, to_backend, to_np64

import nnref
from nnref import data, optim
from nnref.layers import Dense
from nnref.losses import SquaredError
from nnref.models import MLP
from nnref.module import Module
from nnref.optim import SGD, InPlaceSGD, evaluate, fit, loss_and_grad, minibatches


def test_one_sgd_step_is_theta_minus_lr_grad():
    layer = Dense(3, 2, rng=0)
    X, y = np.ones((4, 3)), np.zeros((4, 2))
    before = dict(layer.parameters())
    loss_and_grad(layer, SquaredError(), X, y)
    grads = layer.gradients()
    SGD(layer, lr=0.1).step()
    for k in before:
        np.testing.assert_allclose(layer.parameters()[k], before[k] - 0.1 * grads[k])


def test_step_without_backward_is_an_error():
    with pytest.raises(RuntimeError, match="call backward before step"):
        SGD(Dense(2, 2), lr=0.1).step()


@pytest.mark.parametrize("method", ["batch", "sgd", "minibatch"])
def test_every_method_reduces_the_loss(backend, method):
    name, device = split(backend)
    X, y = data.regression_1d(64, noise=0.05, rng=0)
    model = MLP([1, 16, 1], activation="tanh", rng=0, backend=name, device=device)
    history = fit(model, to_backend(X, backend), to_backend(y[:, None], backend), method=method,
                  lr=0.05 if method == "sgd" else 0.3, epochs=300 if method == "batch" else 30, batch_size=8,
                  rng=0, progress=False)
    assert history.train_loss[-1] < 0.5 * history.train_loss[0]


def test_too_large_a_learning_rate_diverges():
    X, y = data.regression_1d(32, rng=0)
    model = MLP([1, 1], rng=0)
    history = fit(model, 10 * X, y[:, None], method="batch", lr=5.0, epochs=200, progress=False)
    assert history.diverged


def test_early_stopping_restores_the_best_parameters():
    rng = np.random.default_rng(0)
    X, y = data.regression_1d(40, noise=0.3, rng=1)
    X_val, y_val = data.regression_1d(40, noise=0.3, rng=2)
    model = MLP([1, 64, 64, 1], activation="relu", rng=rng)
    history = fit(model, X, y[:, None], X_val=X_val, y_val=y_val[:, None], method="batch", lr=0.1,
                  epochs=3000, patience=20, progress=False)
    assert history.stopped_early
    best = min(history.val_loss)
    assert history.val_loss[history.best_epoch] == best
    final = float(model.default_loss()(model(X_val), y_val[:, None]))
    assert final == pytest.approx(best, rel=1e-12)


def test_progress_bar_is_shown(capsys):
    X, y = data.regression_1d(16, rng=0)
    fit(MLP([1, 4, 1], rng=0), X, y[:, None], epochs=3, progress=True)
    assert "minibatch GD" in capsys.readouterr().err


def test_bad_arguments():
    X, y = data.regression_1d(16, rng=0)
    model = MLP([1, 4, 1], rng=0)
    with pytest.raises(ValueError, match="method must be one of"):
        fit(model, X, y[:, None], method="adam")
    with pytest.raises(ValueError, match="X has 16 rows but y has 15"):
        fit(model, X, y[:15, None])
    with pytest.raises(ValueError, match="needs a validation set"):
        fit(model, X, y[:, None], patience=3)
    with pytest.raises(ValueError, match="lr must be > 0"):
        fit(model, X, y[:, None], lr=0)


def test_weight_decay_adds_lambda_w_to_weights_only():
    layer = Dense(3, 2, rng=0, bias=0.5)
    X, y = np.ones((4, 3)), np.zeros((4, 2))
    before = dict(layer.parameters())
    loss_and_grad(layer, SquaredError(), X, y)
    grads = layer.gradients()
    SGD(layer, lr=0.1, weight_decay=0.01).step()
    np.testing.assert_allclose(layer.params["W"], before["W"] - 0.1 * (grads["W"] + 0.01 * before["W"]))
    np.testing.assert_allclose(layer.params["b"], before["b"] - 0.1 * grads["b"])


def test_weight_decay_shrinks_the_fitted_weights():
    X, y = data.regression_1d(32, rng=0)
    norms = []
    for decay in (0.0, 0.1):
        model = MLP([1, 16, 1], activation="tanh", rng=0)
        fit(model, X, y[:, None], method="batch", lr=0.2, epochs=200, weight_decay=decay, progress=False)
        norms.append(sum(float((w**2).sum()) for k, w in model.parameters().items() if k.endswith("W")))
    assert norms[1] < 0.8 * norms[0], norms


def _trained_pair(backend, dtype, weight_decay=0.0, steps=5):
    """The same model trained twice by hand, once with SGD and once with InPlaceSGD."""
    name, device = split(backend)
    X = to_backend(np.random.default_rng(1).standard_normal((7, 3)), backend, dtype)
    y = to_backend(np.eye(2)[np.random.default_rng(2).integers(2, size=7)], backend, dtype)
    models = []
    for kind in (SGD, InPlaceSGD):
        model = MLP([3, 5, 2], activation="tanh", output="softmax", rng=0, dtype=dtype, backend=name, device=device)
        optimiser, loss = kind(model, lr=0.3, weight_decay=weight_decay), model.default_loss()
        for _ in range(steps):
            loss_and_grad(model, loss, X, y)
            optimiser.step()
        models.append(model)
    return models


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_in_place_update_gives_exactly_the_numbers_of_new_arrays(backend, dtype, weight_decay):
    out_of_place, in_place = _trained_pair(backend, dtype, weight_decay)
    for k, value in out_of_place.parameters().items():
        np.testing.assert_array_equal(to_np64(in_place.parameters()[k]), to_np64(value), err_msg=k)


def test_in_place_update_writes_into_the_arrays_and_the_default_never_does():
    layer, X, y = Dense(3, 2, rng=0), np.ones((4, 3)), np.zeros((4, 2))
    held = layer.params["W"]
    kept = held.copy()
    loss_and_grad(layer, SquaredError(), X, y)
    SGD(layer, lr=0.1).step()
    assert layer.params["W"] is not held
    np.testing.assert_array_equal(held, kept)  # a caller's array is left alone
    held = layer.params["W"]
    loss_and_grad(layer, SquaredError(), X, y)
    InPlaceSGD(layer, lr=0.1).step()
    assert layer.params["W"] is held and not np.array_equal(held, kept)


@pytest.mark.parametrize("case", ["float32 gradient", "Fortran-ordered weights", "read-only weights"])
def test_in_place_update_falls_back_to_a_new_array_where_it_cannot_be_exact(case):
    """A gradient of another dtype, a parameter in another memory layout, a read-only
    parameter: writing in place would cast, change the layout or fail, so InPlaceSGD makes a
    new array, with exactly the numbers of the default update."""
    results = []
    for kind in (SGD, InPlaceSGD):
        layer = Dense(3, 2, rng=0)
        if case == "Fortran-ordered weights":
            layer.params["W"] = np.asfortranarray(layer.params["W"])
        elif case == "read-only weights":
            layer.params["W"].flags.writeable = False
        held = layer.params["W"]
        grads = {"W": np.full((2, 3), 0.5), "b": np.full(2, 0.25)}
        if case == "float32 gradient":
            grads["W"] = grads["W"].astype(np.float32)
        kind(layer, lr=0.1).step(grads)
        assert layer.params["W"] is not held, "W must be replaced, not written into"
        results.append(layer.params)
    for k in ("W", "b"):
        assert results[1][k].dtype == results[0][k].dtype, k
        np.testing.assert_array_equal(results[1][k], results[0][k], err_msg=k)


def _plain_step(model, loss, X, y, optimiser):
    """One step in the code the book prints: forward, the loss, ``model.backward``
    (Sequential.backward and Dense.backward), ``SGD.step``."""
    loss(model(X), y)
    model.zero_grad()
    model.backward(loss.backward())
    optimiser.step()


@pytest.mark.parametrize("method", ["sgd", "minibatch", "batch"])
def test_fit_gives_bit_for_bit_the_numbers_of_the_printed_code(backend, dtype, method):
    """fit takes speed paths the book does not print (no dL/dX of the data, a one-sample weight
    gradient through BLAS, updates written in place on copies it makes at the start): a loop
    written with the printed code (new arrays every step) reaches bit for bit the same
    parameters and losses, and the arrays the caller took from the model before fit are unchanged."""
    name, device = split(backend)
    X, y = data.regression_1d(12, noise=0.1, rng=0)
    X, y = to_backend(X, backend, dtype), to_backend(y[:, None], backend, dtype)

    def network():
        return MLP([1, 16, 8, 1], activation="relu", bias=0.1, rng=0, dtype=dtype, backend=name, device=device)

    model = network()
    held = dict(model.parameters())
    kept = {k: to_np64(v).copy() for k, v in held.items()}
    history = fit(model, X, y, method=method, batch_size=5, lr=0.05, epochs=3, weight_decay=0.01, rng=3,
                  progress=False)

    reference = network()
    loss, optimiser, rng = reference.default_loss(), SGD(reference, 0.05, weight_decay=0.01), np.random.default_rng(3)
    losses = []
    for _ in range(3):
        for idx in minibatches(12, method, 5, rng):
            rows = idx if isinstance(idx, slice) else nnref.asarray(idx, backend=name, device=device)
            _plain_step(reference, loss, X[rows], y[rows], optimiser)
        losses.append(evaluate(reference, loss, X, y))
    assert history.train_loss == losses
    for k, value in reference.parameters().items():
        np.testing.assert_array_equal(to_np64(model.parameters()[k]), to_np64(value), err_msg=k)
    for k, value in held.items():
        np.testing.assert_array_equal(to_np64(value), kept[k], err_msg=f"fit overwrote the caller's {k}")


def test_the_printed_sgd_is_the_plain_update():
    """Chapter 3 prints SGD: it makes new arrays, with no in-place path (that is InPlaceSGD, which fit runs)."""
    assert list(inspect.signature(SGD).parameters) == ["model", "lr", "weight_decay"]
    source = inspect.getsource(SGD)
    assert "in_place" not in source and "-=" not in source, source


def test_optim_functions_take_few_positional_arguments():
    """optim.py is read by students: a call with more than a handful of positional arguments cannot be read
    without the signature at hand, so beyond this many they are named (keyword-only, or gathered in an object)."""
    limit = 6
    for name, obj in vars(optim).items():
        if getattr(obj, "__module__", None) != optim.__name__:
            continue
        members = [(name, obj)]
        if inspect.isclass(obj):
            members = [(f"{name}.{k}", v) for k, v in vars(obj).items() if inspect.isfunction(v)]
        for label, fn in members:
            if not inspect.isfunction(fn):
                continue
            positional = [p for p in inspect.signature(fn).parameters.values()
                          if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "self"]
            assert len(positional) <= limit, f"optim.{label} takes {len(positional)} positional arguments"


class _PlainBackward(Module):
    """A hand-written module whose backward knows nothing of input_grad."""

    def __init__(self):
        super().__init__()
        self.params["w"] = np.array([2.0])

    def forward(self, x):
        self._x = x
        return x * self.params["w"]

    def backward(self, grad_out):
        self.grads["w"] = (grad_out * self._x).sum(axis=0)
        return grad_out * self.params["w"]


def test_loss_and_grad_asks_for_no_input_gradient_where_the_model_allows_it():
    model = MLP([3, 4, 2], activation="tanh", rng=0)
    X, y = np.random.default_rng(0).standard_normal((5, 3)), np.zeros((5, 2))
    loss = model.default_loss()
    first, calls = model.modules[0], []
    original = first.backward

    def spy(grad_out, input_grad=True):
        calls.append(input_grad)
        return original(grad_out, input_grad=input_grad)

    first.backward = spy
    loss_and_grad(model, loss, X, y)
    assert calls == [False], "the first layer's input is data: its gradient is not wanted"
    grads = model.gradients()
    loss(model(X), y)
    model.zero_grad()
    model.backward(loss.backward())
    for k, g in model.gradients().items():
        np.testing.assert_array_equal(grads[k], g, err_msg=k)

    plain = _PlainBackward()
    value = loss_and_grad(plain, SquaredError(), np.ones((3, 1)), np.zeros((3, 1)))
    assert value == pytest.approx(2.0) and plain.grads["w"] == pytest.approx([2.0])
