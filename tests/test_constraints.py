"""Clipping and the weight-norm projections, with the lectures' bounds checked."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import split, to_backend, to_np64

from nnref import constraints
from nnref.activations import ReLU, Tanh
from nnref.layers import Dense, Sequential


def test_clip_by_value(backend):
    g = {"W": to_backend([[3.0, -0.5], [-7.0, 0.1]], backend)}
    out = to_np64(constraints.clip_by_value(g, 1.0)["W"])
    np.testing.assert_array_equal(out, [[1.0, -0.5], [-1.0, 0.1]])


def test_clip_by_norm_keeps_direction(backend):
    g = {"W": to_backend([[3.0, 0.0]], backend), "b": to_backend([4.0], backend)}
    clipped, norm = constraints.clip_by_norm(g, 1.0)
    assert float(norm) == pytest.approx(5.0)
    np.testing.assert_allclose(to_np64(clipped["W"]), [[0.6, 0.0]])
    np.testing.assert_allclose(to_np64(clipped["b"]), [0.8])
    small, _ = constraints.clip_by_norm(g, 10.0)
    np.testing.assert_allclose(to_np64(small["b"]), [4.0])


@pytest.mark.parametrize("shape", [(4, 7), (7, 4)])
def test_projections_land_in_their_balls(backend, shape):
    W = to_backend(3 * np.random.default_rng(0).standard_normal(shape), backend)
    spectral = to_np64(constraints.project_spectral(W))
    assert np.linalg.norm(spectral, 2) == pytest.approx(1.0, rel=1e-10)
    frob = to_np64(constraints.project_frobenius(W))
    assert np.linalg.norm(frob) == pytest.approx(1.0, rel=1e-12)
    elem = to_np64(constraints.project_elementwise(W))
    assert np.abs(elem).max() <= 1 / np.sqrt(shape[0] * shape[1]) + 1e-15
    assert np.linalg.norm(elem, 2) <= 1 + 1e-12


def test_spectral_projection_is_nearest():
    """Clipping singular values is the Frobenius-nearest point of the ball:
    no random feasible matrix is closer."""
    rng = np.random.default_rng(1)
    W = 2 * rng.standard_normal((3, 3))
    P = constraints.project_spectral(W)
    for _ in range(200):
        Q = constraints.project_spectral(P + 0.3 * rng.standard_normal((3, 3)))
        assert np.linalg.norm(W - P) <= np.linalg.norm(W - Q) + 1e-12


def test_inside_the_ball_nothing_changes():
    W = np.array([[0.1, 0.2], [0.0, 0.3]])
    np.testing.assert_allclose(constraints.project_spectral(W), W, atol=1e-15)
    np.testing.assert_array_equal(constraints.project_frobenius(W), W)


@pytest.mark.parametrize("activation", [ReLU, Tanh])
def test_constrained_network_obeys_forward_and_backward_bounds(backend, activation):
    """With ‖Wⱼ‖₂ ≤ 1, ‖bⱼ‖ ≤ d and a 1-Lipschitz σ, σ(0) = 0:
    ‖zⱼ₊₁‖ ≤ ‖zⱼ‖ + d and ‖δⱼ‖ ≤ ‖δⱼ₊₁‖ (per sample)."""
    name, device = split(backend)
    rng = np.random.default_rng(2)
    d = 0.5
    layers = []
    for _ in range(6):
        layer = Dense(8, 8, init="spectral", rng=rng, backend=name, device=device)
        b = rng.standard_normal(8)
        layer.set_parameters({"b": to_backend(d * b / np.linalg.norm(b), backend)})
        layers.append(layer)
    net = Sequential(*[m for layer in layers for m in (layer, activation())])
    z = to_backend(rng.standard_normal((1, 8)), backend)
    norms = [np.linalg.norm(to_np64(z))]
    for module in net.modules:
        z = module(z)
        if not isinstance(module, Dense):
            norms.append(np.linalg.norm(to_np64(z)))
    for before, after in zip(norms, norms[1:]):
        assert after <= before + d + 1e-12
    delta = to_backend(rng.standard_normal((1, 8)), backend)
    deltas = [np.linalg.norm(to_np64(delta))]
    for module in reversed(net.modules):
        delta = module.backward(delta)
        if isinstance(module, Dense):
            deltas.append(np.linalg.norm(to_np64(delta)))
    for later, earlier in zip(deltas, deltas[1:]):
        assert earlier <= later * (1 + 1e-12)


def test_project_weights_touches_only_weights():
    net = Sequential(Dense(3, 4, rng=0, bias=5.0), ReLU(), Dense(4, 2, rng=1))
    net.set_parameters({"0.W": 10 * net.parameters()["0.W"]})
    constraints.project_weights(net, "frobenius")
    assert np.linalg.norm(net.parameters()["0.W"]) == pytest.approx(1.0)
    np.testing.assert_array_equal(net.parameters()["0.b"], 5.0)
    with pytest.raises(ValueError, match="unknown projection"):
        constraints.project_weights(net, "nuclear")


def test_bad_arguments():
    with pytest.raises(ValueError, match="max_norm must be > 0"):
        constraints.clip_by_norm({"W": np.ones(2)}, 0)
    with pytest.raises(ValueError, match="W must have 2 dimensions"):
        constraints.project_spectral(np.ones(3))
