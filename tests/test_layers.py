"""Dense, Dropout, Residual and Sequential: forward and backward against torch.

Shapes are non-square on purpose (a transposed W would still run on a square
one), and batch size 1 is included (a squeezed axis would still run on n > 1).
"""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest
from helpers import assert_close, assert_on, split, to_backend, to_np64, torch64

import nnref
from nnref import Dense, Dropout, Residual, Sequential
from nnref.layers import backward_for_training

torch = pytest.importorskip("torch")
F = torch.nn.functional

SHAPES = [(5, 3, 4), (1, 3, 4), (6, 7, 2), (2, 4, 1)]  # (n, n_in, n_out)


def dense(n_in, n_out, backend, dtype, seed=0):
    """A Dense layer on the test backend with a random (nonzero) bias."""
    layer = Dense(n_in, n_out, rng=seed, dtype=dtype, backend=split(backend)[0], device=split(backend)[1])
    b = np.random.default_rng(seed + 100).standard_normal(n_out)
    layer.set_parameters({"b": to_backend(b, backend, dtype)})
    return layer


def params64(module):
    """The module's parameters as float64 CPU leaf tensors, keyed like parameters()."""
    return {k: torch64(v, requires_grad=True) for k, v in module.parameters().items()}


@pytest.mark.parametrize("n, n_in, n_out", SHAPES)
def test_dense_forward_matches_linear(n, n_in, n_out, backend, dtype):
    layer = dense(n_in, n_out, backend, dtype)
    X = to_backend(np.random.default_rng(1).standard_normal((n, n_in)), backend, dtype)
    v = layer.forward(X)
    p = params64(layer)
    assert_close(v, F.linear(torch64(X), p["W"], p["b"]), dtype, "Dense(X)")
    assert_on(v, backend, dtype, "Dense output")


@pytest.mark.parametrize("path", ["backward", "backward_for_training"])
def test_dense_weight_gradient_of_one_sample_is_the_exact_outer_product(backend, dtype, path):
    """With one sample, each entry of gᵀX is one product, rounded once: the result must equal the
    products taken in float64 (exact for float32 inputs) and rounded to the dtype, bit for bit,
    both from the printed backward and from the one fit runs (BLAS on NumPy)."""
    rng = np.random.default_rng(5)
    layer = dense(300, 200, backend, dtype)
    X = to_backend(rng.standard_normal((1, 300)), backend, dtype)
    grad_out = to_backend(rng.standard_normal((1, 200)), backend, dtype)
    layer.forward(X)
    if path == "backward":
        layer.backward(grad_out)
    else:
        backward_for_training(layer, grad_out)
    g, x = to_np64(grad_out), to_np64(X)
    expected = np.multiply.outer(g[0], x[0]).astype(dtype)
    np.testing.assert_array_equal(to_np64(layer.grads["W"]).astype(dtype), expected)


def test_the_printed_dense_backward_has_no_speed_path():
    """Chapter 4 prints Dense.backward: the textbook gᵀX, Σg, gW, one formula for every batch size
    and backend; the BLAS route for one sample lives in backward_for_training, which fit uses."""
    source = inspect.getsource(Dense.backward)
    assert "grad_out.T @ X" in source and "grad_out @ W" in source, source
    assert "np." not in source and "shape[0] != 1" not in source, source


@pytest.mark.parametrize("n", [1, 5])
def test_backward_for_training_stores_bit_for_bit_the_gradients_of_backward(n, backend, dtype):
    """fit's backward (no dL/dX of the data, BLAS for one sample on NumPy) against the printed
    Sequential.backward and Dense.backward, through dense layers, an activation and dropout."""
    rng = np.random.default_rng(11)
    X = to_backend(rng.standard_normal((n, 3)), backend, dtype)
    grad_out = to_backend(rng.standard_normal((n, 2)), backend, dtype)
    runs = []
    for training in (False, True):
        model = Sequential(dense(3, 6, backend, dtype, 0), nnref.get_activation("tanh"), Dropout(0.3, rng=4),
                           dense(6, 2, backend, dtype, 1))
        model.forward(X)
        if training:
            assert backward_for_training(model, grad_out) is None
        else:
            model.backward(grad_out)
        runs.append(model.gradients())
    plain, fast = runs
    assert set(fast) == set(plain) == {"0.W", "0.b", "3.W", "3.b"}
    for key, value in plain.items():
        assert_on(fast[key], backend, dtype, f"backward_for_training: {key}")
        np.testing.assert_array_equal(to_np64(fast[key]), to_np64(value), err_msg=key)


@pytest.mark.parametrize("n, n_in, n_out", SHAPES)
def test_dense_backward_matches_autograd(n, n_in, n_out, backend, dtype):
    rng = np.random.default_rng(2)
    layer = dense(n_in, n_out, backend, dtype)
    X = to_backend(rng.standard_normal((n, n_in)), backend, dtype)
    grad_out = to_backend(rng.standard_normal((n, n_out)), backend, dtype)
    layer.forward(X)
    grad_X = layer.backward(grad_out)

    X64, p = torch64(X, requires_grad=True), params64(layer)
    F.linear(X64, p["W"], p["b"]).backward(torch64(grad_out))
    assert_close(grad_X, X64.grad, dtype, "Dense: dL/dX")
    assert_close(layer.grads["W"], p["W"].grad, dtype, "Dense: dL/dW")
    assert_close(layer.grads["b"], p["b"].grad, dtype, "Dense: dL/db")
    for name, value in [("dL/dX", grad_X), *layer.gradients().items()]:
        assert_on(value, backend, dtype, f"Dense {name}")


def test_dense_parameter_and_gradient_names():
    layer = Dense(3, 4, rng=0, backend="numpy")
    assert set(layer.parameters()) == {"W", "b"}
    assert layer.shape == (4, 3) and tuple(layer.params["b"].shape) == (4,), "W is (n_out, n_in), b is (n_out,)"
    layer.forward(np.ones((2, 3)))
    layer.backward(np.ones((2, 4)))
    assert set(layer.gradients()) == {"W", "b"}


def test_dense_numpy_layer_rejects_a_torch_input():
    layer = Dense(3, 4, rng=0, backend="numpy")
    with pytest.raises(TypeError) as info:
        layer.forward(to_backend(np.ones((2, 3)), "torch-cpu"))
    assert re.search(r"\bX\b", str(info.value)), f"the message should name X: {info.value}"


def test_dense_torch_layer_rejects_a_numpy_input():
    layer = Dense(3, 4, rng=0, backend="torch", device="cpu")
    with pytest.raises(TypeError) as info:
        layer.forward(np.ones((2, 3)))
    assert re.search(r"\bX\b", str(info.value)), f"the message should name X: {info.value}"


def test_dense_wrong_input_width_names_x_and_the_expected_shape(backend):
    layer = dense(3, 4, backend, "float64")
    with pytest.raises(ValueError) as info:
        layer.forward(to_backend(np.ones((5, 4)), backend, "float64"))
    message = str(info.value)
    assert re.search(r"\bX\b", message), f"the message should name X: {message}"
    assert re.search(r"\((any|None|n), 3\)", message), f"the message should give the expected shape (n, 3): {message}"
    assert "(5, 4)" in message, f"the message should give the shape received: {message}"


def test_to_moves_parameters_to_torch():
    layer = Dense(3, 4, rng=0, backend="numpy")
    before = {k: v.copy() for k, v in layer.parameters().items()}
    assert layer.to("torch", "cpu") is layer
    for name, value in layer.parameters().items():
        assert_on(value, "torch-cpu", "float64", f"Dense.params[{name!r}] after .to('torch', 'cpu')")
        assert_close(value, before[name], "float64", f"Dense.params[{name!r}] after .to")
    X = to_backend(np.ones((2, 3)), "torch-cpu")
    assert_on(layer.forward(X), "torch-cpu", "float64", "Dense output after .to")


def test_to_moves_the_parameters_of_children():
    model = Sequential(
        Dense(3, 4, rng=0, backend="numpy"), nnref.get_activation("prelu"), Dense(4, 2, rng=1, backend="numpy")
    )
    model.to("torch", "cpu", "float32")
    assert set(model.parameters()) == {"0.W", "0.b", "1.a", "2.W", "2.b"}
    for name, value in model.parameters().items():
        assert_on(value, "torch-cpu", "float32", f"Sequential parameter {name}")


# --- Dropout ---------------------------------------------------------------------------------------------------


def test_dropout_in_evaluation_is_the_identity(backend, dtype):
    drop = Dropout(0.5, rng=0).eval()
    x_np = np.random.default_rng(0).standard_normal((4, 6))
    y = drop.forward(to_backend(x_np, backend, dtype))
    assert_close(y, to_np64(to_backend(x_np, backend, dtype)), dtype, "Dropout.eval()(x)")
    g = to_backend(np.arange(24.0).reshape(4, 6), backend, dtype)
    assert_close(drop.backward(g), to_np64(g), dtype, "Dropout.eval() backward")


@pytest.mark.parametrize("p", [0.3, 0.5])
def test_dropout_zeroes_about_p_and_scales_the_survivors(p, backend, dtype):
    drop = Dropout(p, rng=0).train()
    x_np = np.random.default_rng(1).uniform(0.5, 1.5, (200, 100))  # no zeros of its own
    x = to_backend(x_np, backend, dtype)
    y = drop.forward(x)
    assert_on(y, backend, dtype, "Dropout output")
    y_np, x_np = to_np64(y), to_np64(x)
    dropped = y_np == 0
    # the fraction of zeros is Binomial(N, p) / N: allow 5 standard deviations
    sd = np.sqrt(p * (1 - p) / dropped.size)
    assert abs(dropped.mean() - p) < 5 * sd, f"dropped fraction {dropped.mean():.4f}, expected {p} ± {5 * sd:.4f}"
    assert_close(y_np[~dropped], x_np[~dropped] / (1 - p), dtype, "Dropout survivors vs x / (1 - p)")


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_dropout_preserves_the_mean(p, backend):
    drop = Dropout(p, rng=3).train()
    N = 20_000
    y = to_np64(drop.forward(to_backend(np.ones((N // 100, 100)), backend, "float64")))
    # each output is 0 or 1/(1-p), mean 1, variance p/(1-p); unscaled dropout would give mean 1 - p
    sd = np.sqrt(p / (1 - p) / N)
    assert abs(y.mean() - 1.0) < 5 * sd, f"mean of dropout(1) is {y.mean():.4f}, expected 1 ± {5 * sd:.4f}"


def test_dropout_mask_is_the_same_in_float32_and_float64(backend):
    """One seed, one mask: the uniform draws are made in float64 whatever the dtype of x, and
    compared with p in float64 (a float32 draw, or a float64 one rounded to float32 before the
    comparison, would keep or drop different units)."""
    masks = []
    for dtype in ("float32", "float64"):
        y = Dropout(0.5, rng=0).train().forward(to_backend(np.ones((40, 50)), backend, dtype))
        masks.append(to_np64(y) != 0)
    assert masks[0].any() and not masks[0].all()
    np.testing.assert_array_equal(masks[0], masks[1])


def test_dropout_backward_uses_the_forward_mask(backend, dtype):
    p = 0.4
    drop = Dropout(p, rng=5).train()
    rng = np.random.default_rng(6)
    x = to_backend(rng.uniform(0.5, 1.5, (30, 20)), backend, dtype)
    y = drop.forward(x)
    g = to_backend(rng.standard_normal((30, 20)), backend, dtype)
    grad_x = drop.backward(g)
    assert_on(grad_x, backend, dtype, "Dropout backward output")
    mask = to_np64(y) / to_np64(x)  # 0 or 1 / (1 - p), as forward drew it
    assert_close(grad_x, to_np64(g) * mask, dtype, "Dropout: dL/dx vs g * forward mask")
    assert_close(drop.backward(g), grad_x, dtype, "Dropout: a second backward reuses the same mask")


# --- Residual ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bias", [0.0, -0.5])
def test_residual_with_zero_weights_and_nonpositive_bias_is_the_identity(bias, backend, dtype):
    name, device = split(backend)
    block = Residual(4, "relu", bias=bias, rng=0, dtype=dtype, backend=name, device=device)
    block.set_parameters({"dense.W": to_backend(np.zeros((4, 4)), backend, dtype)})
    z = to_backend(np.random.default_rng(0).standard_normal((5, 4)), backend, dtype)
    out = block.forward(z)
    assert_on(out, backend, dtype, "Residual output")
    assert_close(out, to_np64(z), dtype, "Residual(W=0, b<=0)(z)")
    g = to_backend(np.random.default_rng(1).standard_normal((5, 4)), backend, dtype)
    assert_close(block.backward(g), to_np64(g), dtype, "Residual(W=0, b<=0): dL/dz")


@pytest.mark.parametrize("n", [1, 5])
def test_residual_with_prelu_keeps_its_slope_on_the_block_backend_and_dtype(n, backend, dtype):
    """PReLU's slope is a parameter: it follows the block's backend, device and dtype, and the block
    matches z + prelu(Wz + b) by autograd, including dL/da."""
    name, device = split(backend)
    rng = np.random.default_rng(12)
    block = Residual(4, "prelu", rng=1, dtype=dtype, backend=name, device=device)
    for key, value in block.parameters().items():
        assert_on(value, backend, dtype, f"Residual parameter {key}")
    z = to_backend(rng.standard_normal((n, 4)), backend, dtype)
    grad_out = to_backend(rng.standard_normal((n, 4)), backend, dtype)
    out = block.forward(z)
    grad_z = block.backward(grad_out)

    z64, p = torch64(z, requires_grad=True), params64(block)
    out64 = z64 + F.prelu(F.linear(z64, p["dense.W"], p["dense.b"]), p["activation.a"])
    out64.backward(torch64(grad_out))
    assert_close(out, out64, dtype, "Residual prelu (z)")
    assert_close(grad_z, z64.grad, dtype, "Residual prelu: dL/dz")
    for key in ("dense.W", "dense.b", "activation.a"):
        assert_on(block.gradients()[key], backend, dtype, f"Residual gradient {key}")
        assert_close(block.gradients()[key], p[key].grad, dtype, f"Residual prelu: dL/d{key}")


def test_residual_with_positive_bias_is_not_the_identity():
    block = Residual(4, "relu", bias=0.5, rng=0, backend="numpy")
    block.set_parameters({"dense.W": np.zeros((4, 4))})
    z = np.zeros((2, 4))
    assert_close(block.forward(z), np.full((2, 4), 0.5), "float64", "Residual(W=0, b=0.5)(0)")


@pytest.mark.parametrize("n", [5, 1])
def test_residual_backward_matches_autograd(n, backend, dtype):
    rng = np.random.default_rng(7)
    name, device = split(backend)
    block = Residual(4, "relu", rng=1, dtype=dtype, backend=name, device=device)
    block.set_parameters({"dense.b": to_backend(rng.standard_normal(4), backend, dtype)})
    W, b = (to_np64(block.parameters()[k]) for k in ("dense.W", "dense.b"))
    z_np = rng.standard_normal((n, 4))
    for _ in range(100):  # keep the pre-activations away from the ReLU kink
        near = np.abs(z_np @ W.T + b) < 1e-2
        if not near.any():
            break
        z_np[near.any(axis=1)] = rng.standard_normal((int(near.any(axis=1).sum()), 4))
    z = to_backend(z_np, backend, dtype)
    grad_out = to_backend(rng.standard_normal((n, 4)), backend, dtype)
    out = block.forward(z)
    grad_z = block.backward(grad_out)

    z64, p = torch64(z, requires_grad=True), params64(block)
    out64 = z64 + F.relu(F.linear(z64, p["dense.W"], p["dense.b"]))
    out64.backward(torch64(grad_out))
    assert_close(out, out64, dtype, "Residual(z)")
    assert_close(grad_z, z64.grad, dtype, "Residual: dL/dz")
    grads = block.gradients()
    assert set(grads) == {"dense.W", "dense.b"}, f"gradient names {sorted(grads)}"
    for key in ("dense.W", "dense.b"):
        assert_close(grads[key], p[key].grad, dtype, f"Residual: dL/d{key}")


# --- Sequential --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [5, 1])
def test_sequential_forward_and_backward_match_autograd(n, backend, dtype):
    rng = np.random.default_rng(8)
    model = Sequential(dense(3, 4, backend, dtype, 0), nnref.get_activation("tanh"), dense(4, 2, backend, dtype, 1))
    assert len(model) == 3 and model[1].name == "tanh"
    X = to_backend(rng.standard_normal((n, 3)), backend, dtype)
    grad_out = to_backend(rng.standard_normal((n, 2)), backend, dtype)
    out = model.forward(X)
    grad_X = model.backward(grad_out)

    X64, p = torch64(X, requires_grad=True), params64(model)
    out64 = F.linear(torch.tanh(F.linear(X64, p["0.W"], p["0.b"])), p["2.W"], p["2.b"])
    out64.backward(torch64(grad_out))
    assert_close(out, out64, dtype, "Sequential(X)")
    assert_close(grad_X, X64.grad, dtype, "Sequential: dL/dX")
    grads = model.gradients()
    assert set(grads) == set(p) == {"0.W", "0.b", "2.W", "2.b"}, f"names {sorted(grads)}, {sorted(p)}"
    for key, leaf in p.items():
        assert_close(grads[key], leaf.grad, dtype, f"Sequential: dL/d{key}")
        assert_on(grads[key], backend, dtype, f"Sequential gradient {key}")


@pytest.mark.parametrize("n", [5, 1])
def test_backward_without_input_grad_returns_none_and_the_same_parameter_gradients(n, backend, dtype):
    """input_grad=False skips dL/dX of a dense first module (the data needs none): the
    parameter gradients are exactly those of the full backward pass."""
    rng = np.random.default_rng(9)
    X = to_backend(rng.standard_normal((n, 3)), backend, dtype)
    grad_out = to_backend(rng.standard_normal((n, 2)), backend, dtype)
    runs = []
    for input_grad in (True, False):
        model = Sequential(dense(3, 4, backend, dtype, 0), nnref.get_activation("tanh"), dense(4, 2, backend, dtype, 1))
        model.forward(X)
        runs.append((model.backward(grad_out, input_grad=input_grad), model.gradients()))
    (grad_X, full), (nothing, skipped) = runs
    assert grad_X is not None and nothing is None
    assert set(skipped) == set(full) == {"0.W", "0.b", "2.W", "2.b"}
    for key, value in full.items():
        np.testing.assert_array_equal(to_np64(skipped[key]), to_np64(value), err_msg=key)


def test_sequential_zero_grad_forgets_every_gradient():
    model = Sequential(
        Dense(3, 4, rng=0, backend="numpy"), nnref.get_activation("relu"), Dense(4, 2, rng=1, backend="numpy")
    )
    model.forward(np.ones((2, 3)))
    model.backward(np.ones((2, 2)))
    assert set(model.gradients()) == {"0.W", "0.b", "2.W", "2.b"}
    model.zero_grad()
    assert model.gradients() == {}


@pytest.mark.parametrize(
    "make, width",
    [(lambda: Dense(3, 4, rng=0, backend="numpy"), 4), (lambda: Residual(3, rng=0, backend="numpy"), 3)],
    ids=["Dense", "Residual"],
)
def test_backward_before_forward_raises(make, width):
    with pytest.raises(RuntimeError, match="before forward"):
        make().backward(np.ones((2, width)))
