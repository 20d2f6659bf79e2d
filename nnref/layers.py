"""Layers: dense, dropout, the residual block, and a sequential container.

Conventions of the lectures: a batch X has shape (n, n_in), one row per
sample; a dense layer holds W (n_out, n_in) and b (n_out,) and computes
v = X Wᵀ + b, the row-wise form of v = Wz + b.
"""

from __future__ import annotations

import copy
import inspect

import numpy as np

from .activations import get_activation
from .backend import asarray, backend_of, dtype_name, make_rng, random_uniform
from .init import get_init
from .module import Module
from .validation import check_array, check_compatible, check_probability


def activation_for(layer: Dense, spec):
    """The activation that follows ``layer``: built from a name, or a copy of an instance
    (each layer needs its own forward cache), with its parameters, if it has any (PReLU's
    slope), on the backend, device and dtype of the layer's weights."""
    act = get_activation(spec) if isinstance(spec, str) else copy.deepcopy(get_activation(spec))
    W = layer.params["W"]
    where = backend_of(W)
    return act.to(where.name, where.device, dtype_name(W))


def _cached(module, cache):
    if cache is None:
        raise RuntimeError(f"{type(module).__name__}.backward called before forward")
    return cache


class Dense(Module):
    """Affine layer v = X Wᵀ + b.

    Shapes: X (n, n_in) → v (n, n_out); backward takes ∂L/∂v (n, n_out) and
    returns ∂L/∂X = g W (n, n_in), storing ∂L/∂W = gᵀ X (n_out, n_in) and
    ∂L/∂b = Σᵢ gᵢ (n_out,).  ``backward(g, input_grad=False)`` stores the same
    gradients but skips ∂L/∂X and returns None: the first layer of a network,
    whose input is data, saves a third of its backward pass.
    """

    def __init__(self, n_in, n_out, init="glorot", bias=0.0, rng=None, dtype="float64", backend=None, device=None):
        super().__init__()
        W = get_init(init)(n_in, n_out, rng=make_rng(rng), dtype=dtype, backend=backend, device=device)
        self.params["W"] = W
        self.params["b"] = asarray([float(bias)] * int(n_out), dtype=dtype, backend=backend, device=device)
        self._cache = None

    @property
    def shape(self):
        """(n_out, n_in)."""
        return tuple(self.params["W"].shape)

    def forward(self, X):
        W, b = self.params["W"], self.params["b"]
        check_array(X, "X", shape=(None, W.shape[1]))
        check_compatible(X, "X", W, "the layer's weights W")
        self._cache = X
        return X @ W.T + b

    def backward(self, grad_out, input_grad: bool = True):
        X = _cached(self, self._cache)
        W = self.params["W"]
        check_array(grad_out, "grad_out", shape=(X.shape[0], W.shape[0]))
        check_compatible(grad_out, "grad_out", W, "the layer's weights W")
        self.grads["W"] = grad_out.T @ X
        self.grads["b"] = grad_out.sum(axis=0)
        return grad_out @ W if input_grad else None

    def __repr__(self) -> str:
        n_out, n_in = self.shape
        return f"Dense({n_in}, {n_out})"


class Dropout(Module):
    """Inverted dropout: in training, zero each entry with probability p and
    scale the survivors by 1/(1 − p); in evaluation, the identity.

    The scaling keeps E[output] equal to the input, so evaluation needs no
    correction.  Shapes: any; backward multiplies by the same mask.
    """

    def __init__(self, p: float = 0.5, rng=None):
        super().__init__()
        check_probability(p, "p")
        if p == 1:
            raise ValueError("p must be < 1: dropping every unit leaves nothing to scale")
        self.p = float(p)
        self.rng = make_rng(rng)
        self._mask = None

    def forward(self, x):
        xp = check_array(x, "x")
        if not self.training or self.p == 0:
            self._mask = None
            return x
        keep = random_uniform(tuple(x.shape), self.rng, like=x) >= self.p
        self._mask = xp.astype(keep, x.dtype) / (1.0 - self.p)
        return x * self._mask

    def backward(self, grad_out):
        check_array(grad_out, "grad_out")
        if self._mask is None:
            return grad_out
        if tuple(grad_out.shape) != tuple(self._mask.shape):
            raise ValueError(f"grad_out has shape {tuple(grad_out.shape)}, expected {tuple(self._mask.shape)}")
        return grad_out * self._mask

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"


class Residual(Module):
    """Residual block z ↦ z + σ(W z + b) with a square W (d, d).

    When W = 0 and σ(b) = 0 (ReLU, b ≤ 0) the block is the identity, which is
    why stacking such blocks cannot make a network worse at initialisation.
    Deep stacks want a small branch at the start (``init="normal"``, std
    0.01): with He's init each block roughly doubles the second moment.
    Backward: ∂L/∂z = g + (g ⊙ σ'(v)) W.
    """

    def __init__(self, dim, activation="relu", init="he", bias=0.0, rng=None, dtype="float64",
                 backend=None, device=None):
        super().__init__()
        self.dense = Dense(dim, dim, init, bias, rng, dtype, backend, device)
        self.activation = activation_for(self.dense, activation)

    def children(self):
        return {"dense": self.dense, "activation": self.activation}

    def forward(self, z):
        return z + self.activation(self.dense(z))

    def backward(self, grad_out):
        return grad_out + self.dense.backward(self.activation.backward(grad_out))

    def __repr__(self) -> str:
        return f"Residual({self.dense.shape[0]}, {self.activation!r})"


class Sequential(Module):
    """Modules applied in order; backward runs them in reverse."""

    def __init__(self, *modules: Module):
        super().__init__()
        for i, module in enumerate(modules):
            if not isinstance(module, Module):
                raise TypeError(f"Sequential item {i} must be a Module, got {type(module).__name__}")
        self.modules = list(modules)

    def children(self):
        return {str(i): m for i, m in enumerate(self.modules)}

    def forward(self, x):
        for module in self.modules:
            x = module(x)
        return x

    def backward(self, grad_out, input_grad: bool = True):
        """Back-propagate ``grad_out`` = ∂L/∂output; return ∂L/∂input.

        ``input_grad=False`` returns None instead, and a dense first module then
        skips computing ∂L/∂input (training needs only the parameter gradients).
        """
        for i in range(len(self.modules) - 1, -1, -1):
            module = self.modules[i]
            if i == 0 and not input_grad and isinstance(module, Dense):
                module.backward(grad_out, input_grad=False)
                return None
            grad_out = module.backward(grad_out)
        return grad_out if input_grad else None

    def __repr__(self) -> str:
        inner = ", ".join(repr(m) for m in self.modules)
        return f"{type(self).__name__}({inner})"

    def __len__(self):
        return len(self.modules)

    def __getitem__(self, index):
        return self.modules[index]


def backward_for_training(model, grad_out) -> None:
    """Store the parameter gradients of ``model.backward(grad_out)`` in the model, and
    nothing else: what ``fit`` needs, since ∂L/∂input of data is never used.

    The numbers are those of the plain ``backward`` bit for bit (tested); the work is less:
    a dense first module skips ∂L/∂X, the largest product of its backward pass, and on
    NumPy a dense layer's weight gradient of a single sample, the outer product gᵀX, goes
    through BLAS (np.dot), as NumPy's matmul runs an inner size of 1 through a loop five
    times slower.  Each entry of an outer product is a single product, rounded once, so the
    two ways agree exactly.
    """
    if _plain(model, Sequential):
        for i in range(len(model.modules) - 1, -1, -1):
            grad_out = _module_backward(model.modules[i], grad_out, input_grad=i > 0)
    else:
        _module_backward(model, grad_out, input_grad=False)


def _plain(module, cls) -> bool:
    """``module`` is a ``cls`` whose backward is ``cls.backward`` itself (not overridden anywhere)."""
    return isinstance(module, cls) and type(module).backward is cls.backward and "backward" not in vars(module)


# type(module) -> whether its backward takes input_grad=; answered once per class
_TAKES_INPUT_GRAD: dict[type, bool] = {}


def _takes_input_grad(module) -> bool:
    if "backward" in vars(module):  # a backward set on the instance itself: ask it
        return "input_grad" in inspect.signature(module.backward).parameters
    cls = type(module)
    if cls not in _TAKES_INPUT_GRAD:
        _TAKES_INPUT_GRAD[cls] = "input_grad" in inspect.signature(cls.backward).parameters
    return _TAKES_INPUT_GRAD[cls]


def _module_backward(module, grad_out, input_grad):
    if _plain(module, Dense) and _is_one_numpy_sample(module._cache, grad_out):
        return _dense_backward_one_sample(module, grad_out, input_grad)
    if not input_grad and _takes_input_grad(module):
        return module.backward(grad_out, input_grad=False)
    return module.backward(grad_out)


def _is_one_numpy_sample(X, grad_out) -> bool:
    return type(X) is np.ndarray and type(grad_out) is np.ndarray and X.shape[0] == 1


def _dense_backward_one_sample(layer, grad_out, input_grad):
    """``Dense.backward`` for one sample on NumPy, with gᵀX through BLAS."""
    X, W = layer._cache, layer.params["W"]
    check_array(grad_out, "grad_out", shape=(1, W.shape[0]))
    check_compatible(grad_out, "grad_out", W, "the layer's weights W")
    layer.grads["W"] = np.dot(grad_out.T, X)
    layer.grads["b"] = grad_out.sum(axis=0)
    return grad_out @ W if input_grad else None
