"""BatchNorm1d: forward and running statistics against torch.nn.BatchNorm1d, backward against
torch.autograd in float64 and central differences, in training and evaluation mode."""

from __future__ import annotations

import re

import numpy as np
import pytest
from helpers import FD, TOL, assert_close, assert_on, central_difference, split, to_backend, to_np64, torch64
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from strategies import MAX_EXAMPLES, arrays, floats

import nnref
from nnref import BatchNorm1d, Dense, Sequential

torch = pytest.importorskip("torch")
F = torch.nn.functional

SETTINGS = settings(deadline=None, max_examples=MAX_EXAMPLES)
EPS64 = np.finfo(np.float64).eps
SHAPES = [(6, 3), (2, 4), (17, 1)]  # (n, C): the smallest batch training accepts, and a single feature


def layer_on(C, backend, dtype, momentum=0.1, eps=1e-5, seed=0):
    """A BatchNorm1d on the test backend with random γ (away from 1) and β (away from 0)."""
    name, device = split(backend)
    layer = BatchNorm1d(C, eps=eps, momentum=momentum, dtype=dtype, backend=name, device=device)
    rng = np.random.default_rng(seed)
    layer.set_parameters({"gamma": to_backend(rng.uniform(0.5, 2.0, C), backend, dtype),
                          "beta": to_backend(rng.standard_normal(C), backend, dtype)})
    return layer


def torch_layer(layer):
    """torch.nn.BatchNorm1d in float64 with the same γ, β, running statistics, ε and momentum."""
    reference = torch.nn.BatchNorm1d(layer.num_features, eps=layer.eps, momentum=layer.momentum,
                                     dtype=torch.float64)
    with torch.no_grad():
        reference.weight.copy_(torch64(layer.params["gamma"]))
        reference.bias.copy_(torch64(layer.params["beta"]))
        reference.running_mean.copy_(torch64(layer.running_mean))
        reference.running_var.copy_(torch64(layer.running_var))
    return reference


def batches(n, C, count, seed=1):
    """Batches with a different mean and spread per feature, so the statistics are not 0 and 1."""
    rng = np.random.default_rng(seed)
    return [rng.uniform(-3, 3, C) + rng.uniform(0.5, 4, C) * rng.standard_normal((n, C)) for _ in range(count)]


@pytest.mark.parametrize("momentum", [0.1, 0.35])
@pytest.mark.parametrize("n, C", SHAPES)
def test_training_output_and_running_statistics_match_torch(n, C, momentum, backend, dtype):
    layer = layer_on(C, backend, dtype, momentum=momentum)
    reference = torch_layer(layer).train()
    for step, X_np in enumerate(batches(n, C, 5), start=1):
        X = to_backend(X_np, backend, dtype)
        y = layer.forward(X)
        assert_on(y, backend, dtype, "BatchNorm1d output")
        with torch.no_grad():
            want = reference(torch64(X))
        assert_close(y, want, dtype, f"BatchNorm1d(X) in training, batch {step}")
        assert_close(layer.running_mean, reference.running_mean, dtype, f"running_mean after batch {step}")
        assert_close(layer.running_var, reference.running_var, dtype, f"running_var after batch {step}")
    assert_on(layer.running_mean, backend, dtype, "running_mean")
    assert_on(layer.running_var, backend, dtype, "running_var")


@pytest.mark.parametrize("n, C", [(6, 3), (1, 4)])
def test_evaluation_uses_the_running_statistics_and_leaves_them_alone(n, C, backend, dtype):
    layer = layer_on(C, backend, dtype, momentum=0.3)
    reference = torch_layer(layer).train()
    for X_np in batches(8, C, 4):
        layer.forward(to_backend(X_np, backend, dtype))
        with torch.no_grad():
            reference(torch64(to_backend(X_np, backend, dtype)))
    layer.eval()
    reference.eval()
    mean, var = to_np64(layer.running_mean), to_np64(layer.running_var)
    for step, X_np in enumerate(batches(n, C, 3, seed=7), start=1):
        X = to_backend(X_np, backend, dtype)
        with torch.no_grad():
            want = reference(torch64(X))
        assert_close(layer.forward(X), want, dtype, f"BatchNorm1d(X) in evaluation, batch {step}")
        assert_close(layer.running_mean, mean, dtype, f"running_mean after evaluation batch {step}", rtol=0, atol=0)
        assert_close(layer.running_var, var, dtype, f"running_var after evaluation batch {step}", rtol=0, atol=0)


@pytest.mark.parametrize("training", [True, False], ids=["training", "evaluation"])
@pytest.mark.parametrize("n, C", SHAPES)
def test_backward_matches_autograd(n, C, training, backend, dtype):
    rng = np.random.default_rng(2)
    layer = layer_on(C, backend, dtype, momentum=0.2)
    if not training:
        layer.forward(to_backend(batches(8, C, 1, seed=5)[0], backend, dtype))
        layer.eval()
    running_mean, running_var = torch64(layer.running_mean), torch64(layer.running_var)
    X = to_backend(batches(n, C, 1, seed=3)[0], backend, dtype)
    grad_out = to_backend(rng.standard_normal((n, C)), backend, dtype)
    layer.forward(X)
    grad_X = layer.backward(grad_out)

    X64 = torch64(X, requires_grad=True)
    gamma, beta = torch64(layer.params["gamma"], True), torch64(layer.params["beta"], True)
    F.batch_norm(X64, running_mean, running_var, gamma, beta, training=training, momentum=0.2,
                 eps=layer.eps).backward(torch64(grad_out))
    mode = "training" if training else "evaluation"
    # In training dL/dX = γ/(nσ̃)·(n g − Σg − x̂ Σ g x̂) is a difference of terms of size γ|g|/σ̃ that
    # nearly cancel (exactly, but for ε, when n = 2 and x̂ = ±1): its round-off is relative to
    # those terms, not to dL/dX, so the absolute tolerance is scaled by their size.
    var = to_np64(X).var(axis=0) if training else to_np64(running_var)
    terms = np.max(to_np64(layer.params["gamma"]) / np.sqrt(var + layer.eps)) * np.abs(to_np64(grad_out)).max()
    assert_close(grad_X, X64.grad, dtype, f"BatchNorm1d ({mode}): dL/dX",
                 rtol=TOL[dtype]["rtol"], atol=TOL[dtype]["atol"] * max(1.0, terms))
    assert_close(layer.grads["gamma"], gamma.grad, dtype, f"BatchNorm1d ({mode}): dL/dgamma")
    assert_close(layer.grads["beta"], beta.grad, dtype, f"BatchNorm1d ({mode}): dL/dbeta")
    for name, value in [("dL/dX", grad_X), *layer.gradients().items()]:
        assert_on(value, backend, dtype, f"BatchNorm1d {name}")


@pytest.mark.parametrize("training", [True, False], ids=["training", "evaluation"])
def test_backward_matches_central_differences(training, backend):
    """L = Σ G ⊙ BN(X) for a fixed G, differentiated numerically in X, γ and β (float64)."""
    rng = np.random.default_rng(4)
    n, C = 5, 3
    layer = layer_on(C, backend, "float64")
    if not training:
        layer.forward(to_backend(batches(8, C, 1, seed=5)[0], backend, "float64"))
        layer.eval()
    X = to_backend(batches(n, C, 1, seed=6)[0], backend, "float64")
    G = to_backend(rng.standard_normal((n, C)), backend, "float64")

    def loss_of(name):
        def loss(value):
            # a fresh layer per evaluation: in training the running statistics would move
            probe = layer_on(C, backend, "float64")
            probe.running_mean, probe.running_var, probe.training = layer.running_mean, layer.running_var, training
            probe.set_parameters({k: v for k, v in layer.parameters().items() if k != name})
            if name != "X":
                probe.set_parameters({name: value})
            return float((G * probe.forward(value if name == "X" else X)).sum())
        return loss

    layer.forward(X)
    grad_X = layer.backward(G)
    mode = "training" if training else "evaluation"
    assert_close(grad_X, central_difference(loss_of("X"), X), "float64", f"{mode}: dL/dX vs FD", **FD)
    for name in ("gamma", "beta"):
        numeric = central_difference(loss_of(name), layer.params[name])
        assert_close(layer.grads[name], numeric, "float64", f"{mode}: dL/d{name} vs FD", **FD)


def test_a_batch_of_one_in_training_is_an_error_that_says_what_to_do(backend):
    layer = layer_on(3, backend, "float64")
    with pytest.raises(ValueError) as info:
        layer.forward(to_backend(np.ones((1, 3)), backend, "float64"))
    message = str(info.value)
    assert re.search(r"\bX\b", message) and "(1, 3)" in message, f"the message should name X and its shape: {message}"
    assert "at least 2 rows" in message and ".eval()" in message, f"the message should say what is needed: {message}"
    assert_close(layer.running_mean, np.zeros(3), "float64", "running_mean after the rejected batch", rtol=0, atol=0)


def test_wrong_feature_count_names_x_and_both_shapes(backend):
    layer = layer_on(3, backend, "float64")
    for mode in (layer.train, layer.eval):
        mode()
        with pytest.raises(ValueError) as info:
            layer.forward(to_backend(np.ones((5, 4)), backend, "float64"))
        message = str(info.value)
        assert re.search(r"\bX\b", message), f"the message should name X: {message}"
        assert "(any, 3)" in message and "(5, 4)" in message, f"expected and received shapes: {message}"


def test_bad_inputs_and_arguments():
    layer = BatchNorm1d(3)
    with pytest.raises(ValueError, match=r"X must have 2 dimensions, got numpy array of shape \(3,\)"):
        layer.forward(np.ones(3))
    with pytest.raises(TypeError, match=r"X has dtype float32 but the layer's scale gamma has dtype float64"):
        layer.forward(np.ones((4, 3), dtype=np.float32))
    with pytest.raises(RuntimeError, match="backward called before forward"):
        BatchNorm1d(3).backward(np.ones((4, 3)))
    layer.forward(np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"grad_out must have shape \(4, 3\), got numpy array of shape \(4, 2\)"):
        layer.backward(np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"num_features must be a positive integer, got 0"):
        BatchNorm1d(0)
    with pytest.raises(ValueError, match=r"momentum must lie in \[0, 1\], got 1\.5"):
        BatchNorm1d(3, momentum=1.5)
    with pytest.raises(ValueError, match=r"eps must be > 0, got 0"):
        BatchNorm1d(3, eps=0)


def test_in_a_sequential_stack_like_torch(backend, dtype):
    """Dense → BatchNorm1d → ReLU → Dense against the same torch.nn.Sequential, in training and in
    evaluation: outputs, input gradient and every parameter gradient; .train()/.eval() reach the layer."""
    name, device = split(backend)
    model = Sequential(Dense(4, 5, rng=0, dtype=dtype, backend=name, device=device), layer_on(5, backend, dtype),
                       nnref.get_activation("relu"), Dense(5, 2, rng=1, dtype=dtype, backend=name, device=device))
    assert set(model.parameters()) == {"0.W", "0.b", "1.gamma", "1.beta", "3.W", "3.b"}
    p = {k: torch64(v, requires_grad=True) for k, v in model.parameters().items()}
    running = {"mean": torch64(model[1].running_mean), "var": torch64(model[1].running_var)}
    rng = np.random.default_rng(8)
    for training in (True, False):
        model.train(training)
        assert model[1].training is training
        X = to_backend(rng.standard_normal((7, 4)), backend, dtype)
        grad_out = to_backend(rng.standard_normal((7, 2)), backend, dtype)
        model.zero_grad()
        grad_X = model.backward(grad_out) if model.forward(X) is not None else None
        X64 = torch64(X, requires_grad=True)
        for v in p.values():
            v.grad = None
        hidden = F.batch_norm(F.linear(X64, p["0.W"], p["0.b"]), running["mean"], running["var"], p["1.gamma"],
                              p["1.beta"], training=training, momentum=0.1, eps=1e-5)
        F.linear(F.relu(hidden), p["3.W"], p["3.b"]).backward(torch64(grad_out))
        mode = "training" if training else "evaluation"
        assert_close(grad_X, X64.grad, dtype, f"Sequential with BatchNorm1d ({mode}): dL/dX")
        for k, g in model.gradients().items():
            assert_close(g, p[k].grad, dtype, f"Sequential with BatchNorm1d ({mode}): dL/d{k}")
        assert_close(model[1].running_mean, running["mean"], dtype, f"running_mean ({mode})")


def test_to_moves_the_running_statistics():
    layer = BatchNorm1d(3)
    layer.forward(np.arange(12.0).reshape(4, 3))
    layer.to("torch", "cpu", "float32")
    for value in (layer.running_mean, layer.running_var, *layer.parameters().values()):
        assert_on(value, "torch-cpu", "float32", "BatchNorm1d state after .to('torch', 'cpu', 'float32')")
    assert_close(layer.running_mean, [0.45, 0.55, 0.65], "float32", "running_mean after .to")


# --- properties ----------------------------------------------------------------------------------------------


@SETTINGS
@given(X=arrays(-50.0, 50.0, max_rows=8), eps=floats(1e-8, 1e-1))
def test_training_output_has_zero_mean_and_variance_var_over_var_plus_eps(backend, X, eps):
    """With γ = 1, β = 0 every feature of the output has mean 0 and variance σ²/(σ² + ε) ≈ 1."""
    assume(X.shape[0] >= 2)
    name, device = split(backend)
    y = to_np64(BatchNorm1d(X.shape[1], eps=eps, backend=name, device=device).forward(to_backend(X, backend)))
    var = X.var(axis=0)
    # the centred values x − μ carry a few ulps of |x|, amplified by 1/√(σ² + ε) (a constant feature: 1e4)
    err = 16 * EPS64 * (1 + np.abs(X).max(axis=0)) / np.sqrt(var + eps)
    mean_y, var_y, want = y.mean(axis=0), y.var(axis=0), var / (var + eps)
    assert np.all(np.abs(mean_y) <= err), f"per-feature mean of BN(X) is {mean_y}, expected 0 within {err}"
    assert np.all(np.abs(var_y - want) <= 1e-9 * want + 2 * err + err**2), \
        f"per-feature variance of BN(X) is {var_y}, expected σ²/(σ² + ε) = {want}"


@SETTINGS
@given(X=arrays(-50.0, 50.0, max_rows=8), data=st.data(), shift=floats(-10.0, 10.0))
def test_training_input_gradient_sums_to_zero_and_its_projection_on_x_hat_is_eps_sized(backend, X, data, shift):
    """BN(X + c) = BN(X), so each feature's dL/dX sums to zero (ignoring how μ depends on X breaks this);
    and Σᵢ (∂L/∂xᵢ) x̂ᵢ = γ (Σᵢ gᵢ x̂ᵢ) ε / (σ² + ε)^{3/2}, zero but for ε (scale invariance)."""
    assume(X.shape[0] >= 2)
    G = data.draw(hnp.arrays(np.float64, X.shape, elements=floats(-5.0, 5.0)), label="G")
    name, device = split(backend)
    layer = BatchNorm1d(X.shape[1], backend=name, device=device)
    X_hat = to_np64(layer.forward(to_backend(X + shift, backend)))
    grad_X = to_np64(layer.backward(to_backend(G, backend)))
    n, var, eps = X.shape[0], X.var(axis=0), layer.eps
    # each term γ gᵢ/σ̃ is rounded (ε₆₄) and multiplies an x̂ᵢ whose error is a few ulps of |x| over σ̃
    bound = 16 * EPS64 * n * np.abs(G).max() * (1 / np.sqrt(var + eps) + (1 + np.abs(X + shift).max()) / (var + eps))
    sums, projections = grad_X.sum(axis=0), (grad_X * X_hat).sum(axis=0)
    assert np.all(np.abs(sums) <= bound), f"Σᵢ dL/dxᵢ = {sums}, expected 0 within {bound}"
    want = (G * X_hat).sum(axis=0) * eps / (var + eps) ** 1.5
    assert np.all(np.abs(projections - want) <= bound + 1e-9 * np.abs(want)), \
        f"Σᵢ dL/dxᵢ x̂ᵢ = {projections}, expected γ Σ g x̂ ε/(σ² + ε)^(3/2) = {want}"
