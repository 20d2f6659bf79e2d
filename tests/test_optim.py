"""Gradient descent, SGD and minibatch SGD; early stopping; progress."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import split, to_backend

from nnref import data
from nnref.layers import Dense
from nnref.losses import SquaredError
from nnref.models import MLP
from nnref.optim import SGD, fit, loss_and_grad


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
