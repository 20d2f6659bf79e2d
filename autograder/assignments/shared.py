"""What several assignments' checks share: one torch table of activations and one MLP oracle.

* :data:`TORCH_ACTIVATIONS`: how torch computes each activation of
  ``nnref.ACTIVATIONS``, with nnref's keyword arguments, so the grader and
  the nnref tests compare with the same torch function;
  :func:`torch_activation` builds one (nnref's defaults for the arguments not
  given).
* :func:`mlp_oracle`: loss and gradients of a small MLP by torch.autograd in
  float64; :func:`mlp_by_hand` is the same backward pass by hand, right or
  with a common mistake, for the diagnostics.

Formulas the grader needs in NumPy (sigmoid, softplus) are nnref's own:
``nnref.activations.sigmoid(np, x)``.  torch is imported on first use only.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

from autograder import oracles
from nnref import ACTIVATIONS, get_activation


@dataclass(frozen=True)
class TorchActivation:
    """``fn(torch, x, **kwargs)``: torch's version of one nnref activation; ``fn`` names the nnref keyword
    arguments it honours.  ``example`` holds values other than nnref's defaults, so that a test passing
    them to both sides sees each argument honoured."""

    fn: Callable
    example: dict = field(default_factory=dict)


def _maxout(t, x, k):
    return x.reshape(*x.shape[:-1], x.shape[-1] // k, k).amax(dim=-1)


TORCH_ACTIVATIONS = {
    "identity": TorchActivation(lambda t, x: x),
    "sigmoid": TorchActivation(lambda t, x: t.sigmoid(x)),
    "tanh": TorchActivation(lambda t, x: t.tanh(x)),
    "hardtanh": TorchActivation(lambda t, x: t.nn.functional.hardtanh(x)),
    "softplus": TorchActivation(lambda t, x, beta, threshold: t.nn.functional.softplus(x, beta, threshold),
                                {"beta": 2.0, "threshold": 15.0}),
    "softmax": TorchActivation(lambda t, x: t.softmax(x, dim=-1)),
    "relu": TorchActivation(lambda t, x: t.relu(x)),
    "leaky_relu": TorchActivation(lambda t, x, negative_slope: t.nn.functional.leaky_relu(x, negative_slope),
                                  {"negative_slope": 0.1}),
    "prelu": TorchActivation(lambda t, x, num_parameters, init: t.nn.functional.prelu(
        x, t.full((num_parameters,), init, dtype=x.dtype, device=x.device)), {"init": 0.2}),
    # evaluation mode: a leaky ReLU with the mean slope (training draws random slopes)
    "rrelu": TorchActivation(lambda t, x, lower, upper: t.nn.functional.rrelu(x, lower, upper, training=False),
                             {"lower": 0.1, "upper": 0.3, "rng": 0}),
    "elu": TorchActivation(lambda t, x, alpha: t.nn.functional.elu(x, alpha), {"alpha": 0.7}),
    "selu": TorchActivation(lambda t, x: t.selu(x)),
    "crelu": TorchActivation(lambda t, x: t.cat([t.relu(x), t.relu(-x)], dim=-1)),
    "abs": TorchActivation(lambda t, x: t.abs(x)),
    "maxout": TorchActivation(_maxout, {"k": 3}),
}


def torch_activation(name: str, **kwargs) -> Callable:
    """torch's version of ``nnref.get_activation(name, **kwargs)``: a function of a tensor.

    Arguments not given take nnref's defaults; those torch has no use for
    (``rng`` in evaluation mode) are accepted and ignored.
    """
    if name not in TORCH_ACTIVATIONS or name not in ACTIVATIONS:
        known = sorted(set(TORCH_ACTIVATIONS) & set(ACTIVATIONS))
        raise ValueError(f"activation {name!r} has no torch version here; known: {', '.join(known)}")
    defaults = {k: p.default for k, p in inspect.signature(ACTIVATIONS[name]).parameters.items()
                if p.default is not p.empty}
    unknown = sorted(set(kwargs) - set(defaults))
    if unknown:
        raise TypeError(f"activation {name!r} takes the keyword arguments {sorted(defaults)}, got {unknown}")
    fn = TORCH_ACTIVATIONS[name].fn
    honoured = list(inspect.signature(fn).parameters)[2:]
    if set(honoured) - set(defaults):
        raise TypeError(f"the torch version of {name!r} takes {sorted(set(honoured) - set(defaults))}, which "
                        f"nnref's {ACTIVATIONS[name].__name__} does not: update TORCH_ACTIVATIONS")
    arguments = {k: kwargs.get(k, defaults[k]) for k in honoured}

    def forward(x):
        import torch

        return fn(torch, x, **arguments)

    return forward


@oracles.cached
def mlp_oracle(X, y, Ws, bs, activation: str):
    """L = (1/n) Σᵢ ½‖uᵢ − yᵢ‖² of an MLP with ``activation`` on the hidden layers and a linear output u;
    ``{"value", "dW0", "db0", ...}`` by torch.autograd in float64.  Ws[j] (n_out, n_in), bs[j] (n_out,)."""
    act = torch_activation(activation)

    def loss(X, y, **p):
        h = X
        for j in range(len(Ws)):
            v = h @ p[f"W{j}"].T + p[f"b{j}"]
            h = act(v) if j < len(Ws) - 1 else v
        return 0.5 * ((h - y) ** 2).sum(dim=1).mean()

    inputs = {"X": X, "y": y, **{f"W{j}": W for j, W in enumerate(Ws)}, **{f"b{j}": b for j, b in enumerate(bs)}}
    return oracles.value_and_grad(loss, inputs, wrt=tuple(f"W{j}" for j in range(len(Ws))) +
                                  tuple(f"b{j}" for j in range(len(bs))))


HIDDEN_DERIVATIVES = ("right", "none", "output")


def mlp_by_hand(X, y, params, activation: str, derivative: str = "right") -> list:
    """The gradients of :func:`mlp_oracle` by hand with nnref's activation, ``[(dW, db), ...]`` per layer.

    ``derivative`` says how the hidden layers' σ' enters the backward pass: ``"right"`` (σ'(v)),
    ``"none"`` (left out) or ``"output"`` (taken at the output, σ'(σ(v))): the two common mistakes.
    """
    if derivative not in HIDDEN_DERIVATIVES:
        raise ValueError(f"derivative must be one of {HIDDEN_DERIVATIVES}, got {derivative!r}")
    act = get_activation(activation)
    hs, vs = [X], []
    for j, (W, b) in enumerate(params):
        vs.append(hs[-1] @ W.T + b)
        hs.append(act(vs[-1]) if j < len(params) - 1 else vs[-1])
    delta, grads = (hs[-1] - y) / X.shape[0], []
    for j in reversed(range(len(params))):
        grads.insert(0, (delta.T @ hs[j], delta.sum(axis=0)))
        if j > 0:
            delta = delta @ params[j][0]
            if derivative != "none":
                delta = delta * act.derivative(vs[j - 1] if derivative == "right" else hs[j])
    return grads
