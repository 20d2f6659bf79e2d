"""Behaviour the lectures state, reproduced by the reference implementation."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import split, to_backend, to_np64

from nnref import data, graph, neurons
from nnref.activations import ReLU, Sigmoid
from nnref.layers import Dense, Sequential
from nnref.lda import LDA, LogisticRegression
from nnref.models import MLP
from nnref.optim import fit


@pytest.mark.parametrize(
    "unit, function",
    [(neurons.and_unit, "and"), (neurons.or_unit, "or"), (neurons.nand_unit, "nand")],
)
def test_tlu_gates_match_their_truth_tables(unit, function, backend):
    X, y = data.truth_table(function)
    np.testing.assert_array_equal(to_np64(unit()(to_backend(X, backend))), y)


def test_not_unit():
    np.testing.assert_array_equal(neurons.not_unit()(np.array([[0.0], [1.0]])), [1.0, 0.0])


def test_lecture_weights():
    assert (neurons.or_unit().w.tolist(), neurons.or_unit().b) == ([1.0, 1.0], -0.5)
    assert (neurons.and_unit().w.tolist(), neurons.and_unit().b) == ([1.0, 1.0], -1.5)
    assert (neurons.not_unit().w.tolist(), neurons.not_unit().b) == ([-1.0], 0.5)


def test_xor_from_threshold_units():
    X, y = data.truth_table("xor")
    np.testing.assert_array_equal(neurons.xor(X), y)


@pytest.mark.parametrize("seed", range(5))
def test_any_boolean_function_from_two_layers_of_units(seed):
    rng = np.random.default_rng(seed)
    X, _ = data.truth_table("and", 3)
    outputs = rng.integers(0, 2, len(X))
    net = neurons.BooleanNetwork({tuple(int(b) for b in row): int(o) for row, o in zip(X, outputs)})
    np.testing.assert_array_equal(net(X), outputs)


def test_perceptron_converges_on_separable_data():
    X, y = data.two_gaussians(200, mean0=(-3, -3), mean1=(3, 3), rng=0)
    p = neurons.Perceptron(2)
    assert p.fit(X, 2 * y - 1, max_epochs=100, rng=0)
    np.testing.assert_array_equal(p.predict(X), 2 * y - 1)


def test_perceptron_cannot_fit_xor():
    X, y = data.truth_table("xor")
    p = neurons.Perceptron(2)
    assert not p.fit(X, 2 * y - 1, max_epochs=200, rng=0)
    assert (p.predict(X) != 2 * y - 1).any()


def test_lecture_xor_network(backend):
    """W = [[1,1],[1,1]], c = [0, −1], w = [1, −2], b = 0 with ReLU gives XOR."""
    name, device = split(backend)
    hidden = Dense(2, 2, backend=name, device=device)
    out = Dense(2, 1, backend=name, device=device)
    hidden.set_parameters({"W": to_backend([[1.0, 1.0], [1.0, 1.0]], backend), "b": to_backend([0.0, -1.0], backend)})
    out.set_parameters({"W": to_backend([[1.0, -2.0]], backend), "b": to_backend([0.0], backend)})
    X, y = data.truth_table("xor")
    net = Sequential(hidden, ReLU(), out)
    np.testing.assert_array_equal(to_np64(net(to_backend(X, backend)))[:, 0], [0.0, 1.0, 1.0, 0.0])


def test_trained_mlp_solves_xor():
    X, y = data.truth_table("xor")
    model = MLP([2, 8, 1], activation="tanh", output="sigmoid", rng=0)
    fit(model, X, y[:, None], method="batch", lr=1.0, epochs=500, progress=False)
    np.testing.assert_array_equal((model.predict(X)[:, 0] > 0.5).astype(float), y)


def _gaussian_density(X, mean, cov):
    d = X - mean
    inv = np.linalg.inv(cov)
    return np.exp(-0.5 * np.einsum("ni,ij,nj->n", d, inv, d)) / np.sqrt((2 * np.pi) ** 2 * np.linalg.det(cov))


def test_lda_posterior_is_bayes_rule():
    X, y = data.two_gaussians(400, mean0=(0, 1), mean1=(1.5, -0.5), cov=((1.0, 0.4), (0.4, 0.8)), prior1=0.3, rng=0)
    model = LDA().fit(X, y)
    grid = np.random.default_rng(1).uniform(-3, 3, (50, 2))
    p1 = model.priors[1] * _gaussian_density(grid, model.means[1], model.covariance)
    p0 = model.priors[0] * _gaussian_density(grid, model.means[0], model.covariance)
    np.testing.assert_allclose(model.predict_proba(grid), p1 / (p0 + p1), rtol=1e-10)


def test_lda_fitted_quantities():
    X, y = data.two_gaussians(300, rng=2)
    model = LDA().fit(X, y)
    np.testing.assert_allclose(model.means[1], X[y == 1].mean(axis=0))
    centred = np.concatenate([X[y == 0] - X[y == 0].mean(0), X[y == 1] - X[y == 1].mean(0)])
    np.testing.assert_allclose(model.covariance, centred.T @ centred / (len(X) - 2))
    np.testing.assert_allclose(model.w, np.linalg.solve(model.covariance, model.means[1] - model.means[0]))
    assert model.priors.sum() == pytest.approx(1.0)


def test_logistic_regression_labels_agree():
    """Cross-entropy on {0,1} and the logistic loss on {±1} are one likelihood."""
    X, y = data.two_gaussians(200, rng=3)
    a = LogisticRegression("01", epochs=300).fit(X, y)
    b = LogisticRegression("pm1", epochs=300).fit(X, 2 * y - 1)
    np.testing.assert_allclose(a.w, b.w, rtol=1e-10)
    assert a.loss_history[-1] < a.loss_history[0]


def test_computational_graph_example():
    values = graph.forward(2.0, 3.0)
    assert values == {"w1": 2.0, "w2": 3.0, "a": 8.0, "b": 24.0, "c": 6.0, "g": 30.0}
    assert graph.gradient(2.0, 3.0) == (39.0, 8.0)
    steps = graph.backward_steps(values)
    assert steps[-1][1]["w1"] == 39.0 and [s[0] for s in steps][0] == "g"


def _chain_grad_norm(activation, depth, rng, init):
    """‖∂L/∂x‖ for a chain of `depth` width-20 layers."""
    layers = []
    for _ in range(depth):
        layers += [Dense(20, 20, init=init, rng=rng), activation()]
    net = Sequential(*layers)
    X = np.random.default_rng(0).standard_normal((32, 20))
    out = net(X)
    return float(np.linalg.norm(net.backward(np.ones_like(out) / out.size)))


def test_sigmoid_gradients_vanish_with_depth_relu_do_not():
    rng = np.random.default_rng(0)
    # each activation with the initialisation designed for it
    sig = [_chain_grad_norm(Sigmoid, d, rng, "glorot") for d in (2, 6, 12)]
    relu = [_chain_grad_norm(ReLU, d, rng, "he") for d in (2, 6, 12)]
    assert sig[0] > 10 * sig[1] > 100 * sig[2], sig
    assert relu[2] > relu[0] / 10, relu


def test_sigmoid_chain_bound():
    """‖δⱼ‖ ≤ 0.25 ‖δⱼ₊₁‖ when ‖Wⱼ‖₂ ≤ 1 (the lectures' bound)."""
    from nnref.constraints import project_spectral

    rng = np.random.default_rng(0)
    layers = [Dense(10, 10, rng=rng) for _ in range(5)]
    for layer in layers:
        layer.set_parameters({"W": project_spectral(3 * layer.params["W"])})
    net = Sequential(*[m for layer in layers for m in (layer, Sigmoid())])
    X = rng.standard_normal((1, 10))
    out = net(X)
    delta = rng.standard_normal(out.shape)
    norms = [np.linalg.norm(delta)]
    for module in reversed(net.modules):
        delta = module.backward(delta)
        if isinstance(module, Dense):
            norms.append(np.linalg.norm(delta))
    for later, earlier in zip(norms, norms[1:]):
        assert earlier <= 0.25 * later * (1 + 1e-12)
