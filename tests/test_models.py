"""The MLP against torch.autograd, on both backends and both dtypes."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import TOL, assert_close, assert_on, split, to_backend, torch64

from autograder.assignments.shared import TORCH_ACTIVATIONS, torch_activation
from nnref.models import MLP

torch = pytest.importorskip("torch")
F = torch.nn.functional

TORCH_ACT = {name: torch_activation(name) for name in TORCH_ACTIVATIONS}  # with nnref's default arguments


def _oracle(model, X, y, output):
    """The same network in torch with autograd: loss and gradients in float64."""
    params = {k: torch64(v, requires_grad=True) for k, v in model.parameters().items()}
    z = torch64(X)
    dense = [k[: -len(".W")] for k in params if k.endswith(".W")]
    acts = [m.name for m in model.modules if not hasattr(m, "shape")]
    for j, prefix in enumerate(dense):
        z = z @ params[f"{prefix}.W"].T + params[f"{prefix}.b"]
        if j < len(acts):
            z = TORCH_ACT[acts[j]](z)
    target = torch64(y)
    if output == "linear":
        loss = 0.5 * ((z - target) ** 2).sum() / z.shape[0]
    elif output == "sigmoid":
        loss = F.binary_cross_entropy_with_logits(z, target, reduction="sum") / z.shape[0]
    else:
        loss = F.cross_entropy(z, target.long())
    loss.backward()
    return loss.detach(), {k: p.grad for k, p in params.items()}


@pytest.mark.parametrize("output", ["linear", "sigmoid", "softmax"])
@pytest.mark.parametrize("activation", ["relu", "tanh", ["sigmoid", "elu"]])
@pytest.mark.parametrize("n", [1, 7])
def test_mlp_backward_matches_autograd(backend, dtype, output, activation, n):
    name, device = split(backend)
    rng = np.random.default_rng(3)
    sizes = [3, 5, 4, 2 if output != "sigmoid" else 1]
    model = MLP(sizes, activation=activation, output=output, bias=0.1, rng=1, dtype=dtype, backend=name, device=device)
    X = rng.standard_normal((n, 3))
    if output == "softmax":
        y_np = rng.integers(0, sizes[-1], n)
        y = to_backend(y_np, backend).long() if name == "torch" else y_np
    else:
        y_np = rng.random((n, sizes[-1])) if output == "linear" else rng.integers(0, 2, (n, 1)).astype(float)
        y = to_backend(y_np, backend, dtype)
    Xb = to_backend(X, backend, dtype)
    loss = model.default_loss()
    value = loss(model(Xb), y)
    model.zero_grad()
    grad_X = model.backward(loss.backward())
    assert_on(grad_X, backend, dtype, "dL/dX")
    # the oracle sees the same (dtype-rounded) inputs and parameters
    expected_loss, expected = _oracle(model, Xb, y_np, output)
    assert_close(value, expected_loss, dtype, "loss")
    grads = model.gradients()
    assert set(grads) == set(expected)
    for key in expected:
        assert_on(grads[key], backend, dtype, key)
        assert_close(grads[key], expected[key], dtype, f"dL/d{key}", **_loose(dtype))


def _loose(dtype):
    # gradients accumulate over layers: float32 gets 10x its elementwise tolerance
    tol = TOL[dtype]
    return {"rtol": tol["rtol"] * (10 if dtype == "float32" else 1), "atol": tol["atol"] * 10}


@pytest.mark.parametrize("n", [1, 6])
def test_mlp_with_prelu_keeps_its_slopes_on_the_model_backend_and_dtype(backend, dtype, n):
    """PReLU's slopes are parameters: they follow the model's backend, device and dtype, and the network
    matches its torch twin (F.prelu with the same slopes) by autograd, dL/da included."""
    name, device = split(backend)
    rng = np.random.default_rng(4)
    model = MLP([3, 5, 4, 2], activation="prelu", bias=0.1, rng=1, dtype=dtype, backend=name, device=device)
    for key, value in model.parameters().items():
        assert_on(value, backend, dtype, f"MLP parameter {key}")
    X = to_backend(rng.standard_normal((n, 3)), backend, dtype)
    grad_out = to_backend(rng.standard_normal((n, 2)), backend, dtype)
    out = model(X)
    model.zero_grad()
    model.backward(grad_out)

    p = {k: torch64(v, requires_grad=True) for k, v in model.parameters().items()}
    z = torch64(X)
    z = F.prelu(z @ p["0.W"].T + p["0.b"], p["1.a"])
    z = F.prelu(z @ p["2.W"].T + p["2.b"], p["3.a"])
    z = z @ p["4.W"].T + p["4.b"]
    z.backward(torch64(grad_out))
    assert_close(out, z, dtype, "MLP prelu (X)")
    grads = model.gradients()
    assert set(grads) == set(p) == {"0.W", "0.b", "1.a", "2.W", "2.b", "3.a", "4.W", "4.b"}
    for key, leaf in p.items():
        assert_on(grads[key], backend, dtype, f"MLP gradient {key}")
        assert_close(grads[key], leaf.grad, dtype, f"MLP prelu: dL/d{key}", **_loose(dtype))


def test_predict_applies_the_output_function():
    model = MLP([2, 3, 4], output="softmax", rng=0)
    X = np.random.default_rng(0).standard_normal((5, 2))
    p = model.predict(X)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    assert (p > 0).all()


def test_mlp_rejects_bad_configuration():
    with pytest.raises(ValueError, match="output must be one of"):
        MLP([2, 3, 1], output="tanh")
    with pytest.raises(ValueError, match="2 hidden layers"):
        MLP([2, 3, 3, 1], activation=["relu"])
    with pytest.raises(ValueError, match="sizes"):
        MLP([2])
    with pytest.raises(ValueError, match="unknown activation"):
        MLP([2, 3, 1], activation="swish")


def test_mlp_rejects_bad_input():
    model = MLP([2, 3, 1], rng=0)
    with pytest.raises(ValueError, match=r"X must have shape \(any, 2\)"):
        model(np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"X must have shape \(any, 2\), got numpy array of shape \(2,\)"):
        model(np.ones(2))
    with pytest.raises(ValueError, match="X contains NaN"):
        model(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="X contains NaN or infinite"):
        model(np.array([[1.0, 2.0], [-np.inf, 0.0]]))
    with pytest.raises(TypeError, match="X has dtype float32"):
        model(np.ones((4, 2), dtype=np.float32))
    with pytest.raises(TypeError, match="X must be a NumPy array"):
        model([[1.0, 2.0]])


def test_mlp_with_dropout_is_stochastic_in_training_and_deterministic_in_eval():
    from nnref.layers import Dropout

    model = MLP([4, 32, 32, 1], dropout=0.5, rng=0)
    assert sum(isinstance(m, Dropout) for m in model.modules) == 2
    X = np.random.default_rng(0).standard_normal((8, 4))
    assert not np.array_equal(model(X), model(X))
    model.eval()
    np.testing.assert_array_equal(model(X), model(X))
    reference = MLP([4, 32, 32, 1], rng=0)
    np.testing.assert_allclose(model(X), reference(X), rtol=1e-12)


def test_an_activation_instance_is_copied_per_layer():
    """Each hidden layer needs its own forward cache; sharing one instance
    would back-propagate through the wrong inputs."""
    from nnref.activations import ReLU

    X = np.random.default_rng(0).standard_normal((5, 2))
    shared = MLP([2, 3, 3, 1], activation=ReLU(), rng=0)
    named = MLP([2, 3, 3, 1], activation="relu", rng=0)
    for model in (shared, named):
        model.backward(np.ones_like(model(X)))
    for key, grad in named.gradients().items():
        np.testing.assert_allclose(shared.gradients()[key], grad, rtol=1e-12, err_msg=key)
