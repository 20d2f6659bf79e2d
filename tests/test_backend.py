"""Backend selection: explicit arguments, the context manager, the environment."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import HAS_CUDA, assert_on, split, to_backend

import nnref
from nnref.backend import Backend, backend_of, resolve
from nnref.layers import Dense

torch = pytest.importorskip("torch")


def test_default_is_numpy(monkeypatch):
    monkeypatch.delenv("NNREF_BACKEND", raising=False)
    assert resolve() == Backend("numpy")
    assert isinstance(Dense(3, 2).params["W"], np.ndarray)


def test_torch_defaults_to_cuda_when_available(monkeypatch):
    monkeypatch.delenv("NNREF_DEVICE", raising=False)
    assert resolve("torch").device == ("cuda" if HAS_CUDA else "cpu")


def test_environment_variables_choose_backend_and_device(monkeypatch):
    monkeypatch.setenv("NNREF_BACKEND", "torch")
    monkeypatch.setenv("NNREF_DEVICE", "cpu")
    W = Dense(3, 2).params["W"]
    assert isinstance(W, torch.Tensor) and W.device.type == "cpu"


def test_context_manager_switches_inside_one_process(monkeypatch):
    monkeypatch.delenv("NNREF_BACKEND", raising=False)
    with nnref.use_backend("torch", device="cpu") as active:
        assert active == Backend("torch", "cpu")
        inner = Dense(3, 2, rng=0)
        with nnref.use_backend("numpy"):
            innermost = Dense(3, 2, rng=0)
    outer = Dense(3, 2, rng=0)
    assert isinstance(inner.params["W"], torch.Tensor)
    assert isinstance(innermost.params["W"], np.ndarray)
    assert isinstance(outer.params["W"], np.ndarray)
    # the same seed gives the same weights on both backends
    np.testing.assert_allclose(inner.params["W"].numpy(), outer.params["W"], rtol=0, atol=1e-15)


def test_explicit_argument_beats_context():
    with nnref.use_backend("torch", device="cpu"):
        assert isinstance(Dense(3, 2, backend="numpy").params["W"], np.ndarray)


def test_unknown_backend_is_rejected():
    with pytest.raises(ValueError, match="backend must be one of"):
        resolve("jax")
    with pytest.raises(ValueError, match="CPU only"):
        resolve("numpy", device="cuda")


def test_asarray_moves_and_keeps_dtype(backend, dtype):
    x = to_backend(np.arange(6.0).reshape(2, 3), backend, dtype)
    assert_on(x, backend, dtype, "x")
    back = nnref.asarray(x, backend="numpy")
    assert back.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back, np.arange(6.0).reshape(2, 3))


def test_module_to_moves_every_parameter(backend):
    name, device = split(backend)
    model = nnref.Sequential(Dense(3, 4, rng=0), nnref.get_activation("relu"), Dense(4, 2, rng=1))
    model.to(name, device)
    for key, value in model.parameters().items():
        assert backend_of(value).name == name, key


def test_namespace_refuses_mixed_backends():
    with pytest.raises(TypeError, match="different backends"):
        nnref.namespace(np.ones(2), torch.ones(2))


def test_backward_builds_no_autograd_graph():
    """torch is an array library here: even inputs that require grad produce
    outputs without a graph, because forward and backward run under no_grad."""
    layer = Dense(3, 2, backend="torch", device="cpu", rng=0)
    X = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    out = layer(X)
    assert not out.requires_grad and out.grad_fn is None
    grad = layer.backward(torch.ones(4, 2, dtype=torch.float64))
    assert grad.grad_fn is None and layer.grads["W"].grad_fn is None


def test_random_draws_happen_on_the_backend():
    drop = nnref.Dropout(0.5, rng=0)
    x = torch.ones(1000, dtype=torch.float32)
    out = drop(x)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
