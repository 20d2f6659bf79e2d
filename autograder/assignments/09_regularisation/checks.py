"""Hidden tests of assignment 09_regularisation: inverted dropout (training and evaluation modes,
forward and backward) and the backward pass of a residual block h = x + F(x).

The dropout mask is decided by uniform numbers ``u`` the grader draws and hands over (a unit is kept
where u ≥ p), so the expected output is known exactly.  The residual block's gradients come from
torch.autograd in float64; its ReLU pre-activations stay at least 0.02 away from 0; shapes are never
square and batches of one example are included.
"""

from __future__ import annotations

import numpy as np

from autograder import oracles
from autograder.checks import assert_close, call, describe, to_array, unpack
from autograder.parts import Parts

PARTS = Parts()


def _dropout_case(seed):
    rng = np.random.default_rng(900 + seed)
    shape, p = (((1, 5), 0.5), ((6, 3), 0.2), ((4, 7), 0.7))[seed]
    return rng.standard_normal(shape), p, rng.uniform(size=shape)


def _dropout_mistakes(X, p, u):
    keep = u >= p
    return {"the kept units are not scaled by 1/(1 − p)": X * keep,
            "the mask is inverted: units are kept where u < p": X * (u < p) / (1 - p),
            "scaled by 1/p instead of 1/(1 − p)": X * keep / p,
            "scaled by (1 − p) instead of divided by it": X * keep * (1 - p)}


@PARTS.add("test_dropout_train", points=2, uses=("dropout",))
def check_dropout_train(dropout_forward):
    """Training: X · 1[u ≥ p] / (1 − p)."""
    for seed in range(3):
        X, p, u = _dropout_case(seed)
        got = to_array(call(dropout_forward, "dropout_forward(X, p, train=True, u)", X=X, p=p, train=True, u=u),
                       "dropout_forward(X, p, train=True, u)")
        assert_close(got, X * (u >= p) / (1 - p), "dropout_forward in training mode", case=describe(X=X, u=u) +
                     f", p = {p}", mistakes=_dropout_mistakes(X, p, u))


@PARTS.add("test_dropout_eval", points=1, uses=("dropout",))
def check_dropout_eval(dropout_forward):
    """Evaluation: the identity (inverted dropout already scaled in training)."""
    for seed in range(3):
        X, p, u = _dropout_case(seed)
        got = to_array(call(dropout_forward, "dropout_forward(X, p, train=False, u)", X=X, p=p, train=False, u=u),
                       "dropout_forward(X, p, train=False, u)")
        assert_close(got, X, "dropout_forward in evaluation mode", case=describe(X=X, u=u) + f", p = {p}",
                     mistakes={"dropout applied in evaluation mode too: at test time every unit is kept and "
                               "nothing is rescaled": X * (u >= p) / (1 - p),
                               "scaled by (1 − p) at test time: that is the rule for dropout without the "
                               "1/(1 − p) in training": X * (1 - p)})


@PARTS.add("test_dropout_backward", points=2, uses=("dropout",))
def check_dropout_backward(dropout_backward):
    """∂L/∂X = grad_out · 1[u ≥ p] / (1 − p): the same mask and scale as the forward pass."""
    for seed in range(3):
        X, p, u = _dropout_case(seed)
        g = np.random.default_rng(950 + seed).standard_normal(X.shape)
        got = to_array(call(dropout_backward, "dropout_backward(grad_out, p, u)", grad_out=g, p=p, u=u),
                       "dropout_backward(grad_out, p, u)")
        assert_close(got, g * (u >= p) / (1 - p), "dropout_backward(grad_out, p, u)",
                     case=describe(grad_out=g, u=u) + f", p = {p}", mistakes=_dropout_mistakes(g, p, u))


RES_SHAPES = ((1, 4, 3), (5, 3, 6), (6, 5, 2))  # (n, d, m)


def _res_case(seed):
    n, d, m = RES_SHAPES[seed]
    rng = np.random.default_rng(960 + seed)
    while True:
        X, W1, b1 = rng.standard_normal((n, d)), rng.standard_normal((m, d)), rng.standard_normal(m)
        if np.min(np.abs(X @ W1.T + b1)) >= 0.02:  # away from the kink of ReLU
            break
    return {"X": X, "W1": W1, "b1": b1, "W2": rng.standard_normal((d, m)), "b2": rng.standard_normal(d),
            "grad_out": rng.standard_normal((n, d))}


@oracles.cached
def residual_oracle(X, W1, b1, W2, b2, grad_out):
    t = oracles.torch()
    return oracles.value_and_grad(lambda X, W1, b1, W2, b2: X + t.relu(X @ W1.T + b1) @ W2.T + b2,
                                  {"X": X, "W1": W1, "b1": b1, "W2": W2, "b2": b2},
                                  wrt=("X", "W1", "b1", "W2", "b2"), grad_out=grad_out)


def _params(c):
    return {k: c[k] for k in ("X", "W1", "b1", "W2", "b2")}


@PARTS.add("test_residual_forward", points=1, uses=("residual_block",))
def check_residual_forward(residual_forward):
    """h = X + ReLU(X W1ᵀ + b1) W2ᵀ + b2."""
    for seed in range(len(RES_SHAPES)):
        c = _res_case(seed)
        got = to_array(call(residual_forward, "residual_forward(X, W1, b1, W2, b2)", **_params(c)),
                       "residual_forward(X, W1, b1, W2, b2)")
        F = np.maximum(c["X"] @ c["W1"].T + c["b1"], 0) @ c["W2"].T + c["b2"]
        assert_close(got, residual_oracle(**c)["value"], "residual_forward(X, W1, b1, W2, b2)",
                     case=describe(**_params(c)), mistakes={"the skip connection is missing: F(X) without + X": F})


def _residual(residual_backward, seed, name):
    c = _res_case(seed)
    out = call(residual_backward, "residual_backward(grad_out, X, W1, b1, W2, b2)", grad_out=c["grad_out"],
               **_params(c))
    grads = dict(zip(("dX", "dW1", "db1", "dW2", "db2"),
                     unpack(out, "residual_backward(...)", ("dX", "dW1", "db1", "dW2", "db2"))))
    return c, to_array(grads[name], f"{name} from residual_backward"), residual_oracle(**c), describe(
        grad_out=c["grad_out"], **_params(c))


@PARTS.add("test_residual_dX", points=2, uses=("residual_block",))
def check_residual_dX(residual_backward):
    """∂L/∂X = grad_out (the skip path) + the gradient through F."""
    for seed in range(len(RES_SHAPES)):
        c, got, ref, case = _residual(residual_backward, seed, "dX")
        g = c["grad_out"]
        assert_close(got, ref["dX"], "dX from residual_backward", case=case, batch_size=len(g),
                     mistakes={"the skip path is missing: only the gradient through F": ref["dX"] - g,
                               "only the skip path: the gradient through F is missing": g,
                               "ReLU's derivative is missing in the path through F":
                                   g + g @ c["W2"] @ c["W1"]})


@PARTS.add("test_residual_dW1_db1", points=2, uses=("residual_block",))
def check_residual_dW1_db1(residual_backward):
    """The first layer's gradients, through ReLU."""
    for seed in range(len(RES_SHAPES)):
        for name in ("dW1", "db1"):
            c, got, ref, case = _residual(residual_backward, seed, name)
            assert_close(got, ref[name], f"{name} from residual_backward", case=case, batch_size=len(c["X"]))


@PARTS.add("test_residual_dW2_db2", points=1, uses=("residual_block",))
def check_residual_dW2_db2(residual_backward):
    """The second layer's gradients: dW2 = grad_outᵀ ReLU(X W1ᵀ + b1), db2 = Σ grad_out."""
    for seed in range(len(RES_SHAPES)):
        for name in ("dW2", "db2"):
            c, got, ref, case = _residual(residual_backward, seed, name)
            assert_close(got, ref[name], f"{name} from residual_backward", case=case, batch_size=len(c["X"]))
