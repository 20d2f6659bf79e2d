"""Hidden tests of assignment 06_relu: forward and backward passes of Leaky ReLU, PReLU (with the
gradient of its slopes), ELU, SELU, CReLU and maxout, and the fraction of dead ReLU units.

Oracles: torch.autograd in float64 (``torch.nn.functional``).  Inputs stay at least 0.05 away from
every kink (and the pieces of a maxout group at least 0.05 apart), shapes are never square, and
batches of one example are included.
"""

from __future__ import annotations

import numpy as np

from autograder import oracles
from autograder.assignments.shared import torch_activation
from autograder.checks import assert_close, call, describe, to_array, to_scalar, unpack
from autograder.parts import Parts
from nnref.activations import SELU

PARTS = Parts()
SHAPES = ((1, 4), (5, 3), (7, 6))
SELU_ALPHA, SELU_SCALE = SELU.ALPHA, SELU.SCALE


def _away(v, gap=0.05):
    return np.where(np.abs(v) < gap, v + 2 * gap * np.sign(v + 1e-12), v)


def _cases(seed0, width=None):
    out = []
    for i, shape in enumerate(SHAPES):
        rng = np.random.default_rng(seed0 + i)
        shape = shape if width is None else (shape[0], width * (i + 1))
        v = _away(2.0 * rng.standard_normal(shape))
        out.append((v, rng.standard_normal(shape)))
    return out


@oracles.cached
def act_oracle(name, v, grad_out, **kwargs):
    """nnref activation ``name`` built with ``kwargs``, computed by torch: its value and ⟨grad_out, ·⟩'s gradient."""
    act = torch_activation(name, **kwargs)
    return oracles.value_and_grad(lambda v: act(v), {"v": v}, wrt=("v",), grad_out=grad_out)


def _out_grad(name, v, k, rng):
    width = 2 * v.shape[1] if name == "crelu" else v.shape[1] // k if name == "maxout" else v.shape[1]
    return rng.standard_normal((v.shape[0], width))


def _check(fn, signature, name, cases, which, extra=None, mistakes=None, **kwargs):
    """The student's ``fn`` (given ``extra`` arguments) against nnref activation ``name`` built with ``kwargs``."""
    for i, (v, _) in enumerate(cases):
        g = _out_grad(name, v, kwargs.get("k", 0), np.random.default_rng(1 + i))
        args = {"v": v, **(extra or {})} if which == "forward" else {"grad_out": g, "v": v, **(extra or {})}
        got = to_array(call(fn, signature, **args), signature)
        ref = act_oracle(name, v, g, **kwargs)
        expected = ref["value"] if which == "forward" else ref["dv"]
        assert_close(got, expected, signature, case=describe(**{a: b for a, b in args.items()
                                                                 if isinstance(b, np.ndarray)}) +
                     "".join(f", {a} = {b}" for a, b in (extra or {}).items()),
                     mistakes=mistakes(v, g) if mistakes else None)


ALPHA = 0.1


@PARTS.add("test_leaky_relu_forward", points=1, uses=("leaky_relu",))
def check_leaky_relu_forward(leaky_relu_forward):
    _check(leaky_relu_forward, "leaky_relu_forward(v, alpha)", "leaky_relu", _cases(600), "forward", {"alpha": ALPHA},
           lambda v, g: {"max(v, 0): the negative side is not scaled by alpha": np.maximum(v, 0),
                         "alpha applied on the positive side": np.where(v > 0, ALPHA * v, v)}, negative_slope=ALPHA)


@PARTS.add("test_leaky_relu_backward", points=1, uses=("leaky_relu",))
def check_leaky_relu_backward(leaky_relu_backward):
    _check(leaky_relu_backward, "leaky_relu_backward(grad_out, v, alpha)", "leaky_relu", _cases(610), "backward",
           {"alpha": ALPHA},
           lambda v, g: {"the plain ReLU derivative: alpha is missing on the negative side": g * (v > 0),
                         "the derivative alone: multiply it by grad_out": np.where(v > 0, 1.0, ALPHA),
                         "the forward value instead of the derivative": g * np.where(v > 0, v, ALPHA * v)},
           negative_slope=ALPHA)


def _prelu_case(i):
    rng = np.random.default_rng(620 + i)
    n, k = SHAPES[i]
    return _away(2.0 * rng.standard_normal((n, k))), rng.uniform(0.05, 0.5, k), rng.standard_normal((n, k))


@oracles.cached
def prelu_oracle(v, a, grad_out):
    t = oracles.torch()
    return oracles.value_and_grad(lambda v, a: t.nn.functional.prelu(v, a), {"v": v, "a": a}, wrt=("v", "a"),
                                  grad_out=grad_out)


@PARTS.add("test_prelu_forward", points=1, uses=("prelu",))
def check_prelu_forward(prelu_forward):
    """max(v, 0) + a · min(v, 0) with one slope a per feature (column)."""
    for i in range(len(SHAPES)):
        v, a, g = _prelu_case(i)
        got = to_array(call(prelu_forward, "prelu_forward(v, a)", v=v, a=a), "prelu_forward(v, a)")
        assert_close(got, prelu_oracle(v, a, g)["value"], "prelu_forward(v, a)", case=describe(v=v, a=a),
                     mistakes={"the slope a is applied on the positive side": np.where(v > 0, a * v, v)})


def _prelu_backward(prelu_backward, i, component):
    v, a, g = _prelu_case(i)
    out = call(prelu_backward, "prelu_backward(grad_out, v, a)", grad_out=g, v=v, a=a)
    dv, da = unpack(out, "prelu_backward(grad_out, v, a)", ("dv", "da"))
    got = to_array(dv if component == "dv" else da, f"{component} from prelu_backward")
    return v, a, g, got, prelu_oracle(v, a, g), describe(grad_out=g, v=v, a=a)


@PARTS.add("test_prelu_dv", points=1, uses=("prelu",))
def check_prelu_dv(prelu_backward):
    """∂L/∂v = grad_out where v > 0, a · grad_out where v < 0."""
    for i in range(len(SHAPES)):
        v, a, g, got, ref, case = _prelu_backward(prelu_backward, i, "dv")
        assert_close(got, ref["dv"], "dv from prelu_backward", case=case,
                     mistakes={"the slope a is missing on the negative side": g * (v > 0)})


@PARTS.add("test_prelu_da", points=2, uses=("prelu",))
def check_prelu_da(prelu_backward):
    """∂L/∂aⱼ = Σᵢ grad_outᵢⱼ · min(vᵢⱼ, 0): summed over the batch, shape (k,) like a."""
    for i in range(len(SHAPES)):
        v, a, g, got, ref, case = _prelu_backward(prelu_backward, i, "da")
        neg = g * np.minimum(v, 0)
        assert_close(got, ref["da"], "da from prelu_backward", case=case, batch_size=v.shape[0],
                     mistakes={"the positive side is included: Σ grad_out · v instead of Σ grad_out · min(v, 0)":
                               np.sum(g * v, axis=0),
                               "grad_out is left out: Σ min(v, 0)": np.sum(np.minimum(v, 0), axis=0),
                               "da ∝ a: the slope instead of the input multiplies grad_out":
                                   np.sum(g * (v < 0), axis=0) * a, "a single shared slope: everything summed":
                                   np.full_like(a, neg.sum())})


ELU_ALPHA = 1.3


@PARTS.add("test_elu_forward", points=1, uses=("elu",))
def check_elu_forward(elu_forward):
    _check(elu_forward, "elu_forward(v, alpha)", "elu", _cases(630), "forward", {"alpha": ELU_ALPHA},
           lambda v, g: {"alpha is missing: eᵛ − 1 on the negative side": np.where(v > 0, v, np.expm1(v)),
                         "alpha·eᵛ without the − 1": np.where(v > 0, v, ELU_ALPHA * np.exp(v))}, alpha=ELU_ALPHA)


@PARTS.add("test_elu_backward", points=1, uses=("elu",))
def check_elu_backward(elu_backward):
    _check(elu_backward, "elu_backward(grad_out, v, alpha)", "elu", _cases(640), "backward", {"alpha": ELU_ALPHA},
           lambda v, g: {"the derivative α(eᵛ − 1) taken as the forward value on the negative side":
                         g * np.where(v > 0, 1.0, ELU_ALPHA * np.expm1(v)),
                         "alpha is missing: eᵛ on the negative side": g * np.where(v > 0, 1.0, np.exp(v))},
           alpha=ELU_ALPHA)


@PARTS.add("test_selu_forward", points=1, uses=("selu",))
def check_selu_forward(selu_forward):
    _check(selu_forward, "selu_forward(v)", "selu", _cases(650), "forward", None,
           lambda v, g: {"λ applied on the negative side only": np.where(v > 0, v,
                                                                         SELU_SCALE * SELU_ALPHA * np.expm1(v)),
                         "λ is missing": np.where(v > 0, v, SELU_ALPHA * np.expm1(v))})


@PARTS.add("test_selu_backward", points=1, uses=("selu",))
def check_selu_backward(selu_backward):
    _check(selu_backward, "selu_backward(grad_out, v)", "selu", _cases(660), "backward", None,
           lambda v, g: {"λ is missing on the positive side": g * np.where(v > 0, 1.0,
                                                                           SELU_SCALE * SELU_ALPHA * np.exp(v)),
                         "λ is missing": g * np.where(v > 0, 1.0, SELU_ALPHA * np.exp(v))})


@PARTS.add("test_crelu_forward", points=1, uses=("crelu",))
def check_crelu_forward(crelu_forward):
    _check(crelu_forward, "crelu_forward(v)", "crelu", _cases(670), "forward", None,
           lambda v, g: {"[max(v, 0), min(v, 0)]: the negative half must be max(−v, 0) ≥ 0":
                         np.concatenate([np.maximum(v, 0), np.minimum(v, 0)], axis=1)})


@PARTS.add("test_crelu_backward", points=1, uses=("crelu",))
def check_crelu_backward(crelu_backward):
    def wrong(v, g):
        d = v.shape[1]
        return {"the second half's gradient is added instead of subtracted (d max(−v, 0)/dv = −1 for v < 0)":
                g[:, :d] * (v > 0) + g[:, d:] * (v < 0),
                "only the first half of grad_out is used": g[:, :d] * (v > 0)}
    _check(crelu_backward, "crelu_backward(grad_out, v)", "crelu", _cases(680), "backward", None, wrong)


K = 3


def _maxout_cases(seed0):
    cases = []
    for i, (n, m) in enumerate(((1, 2), (5, 1), (4, 3))):
        rng = np.random.default_rng(seed0 + i)
        # the k pieces of a group are a random permutation of well-separated values
        base = np.sort(rng.standard_normal((n, m, 1)), axis=1) + 0.2 * np.arange(K)
        v = rng.permuted(base + rng.standard_normal((n, m, 1)), axis=2).reshape(n, m * K)
        cases.append((v, None))
    return cases


@PARTS.add("test_maxout_forward", points=1, uses=("maxout",))
def check_maxout_forward(maxout_forward):
    _check(maxout_forward, "maxout_forward(v, k)", "maxout", _maxout_cases(690), "forward", {"k": K},
           lambda v, g: {"groups taken as strided columns (every k-th feature) instead of k consecutive features":
                         v.reshape(v.shape[0], K, -1).max(axis=1)}, k=K)


@PARTS.add("test_maxout_backward", points=1, uses=("maxout",))
def check_maxout_backward(maxout_backward):
    def wrong(v, g):
        grouped = v.reshape(v.shape[0], -1, K)
        share = np.repeat(g / K, K, axis=1)
        mask = (grouped == grouped.max(axis=2, keepdims=True)).reshape(v.shape)
        return {"grad_out shared equally among the pieces instead of going to the winner": share,
                "the mask alone: multiply it by grad_out": mask.astype(float)}
    _check(maxout_backward, "maxout_backward(grad_out, v, k)", "maxout", _maxout_cases(695), "backward", {"k": K},
           wrong, k=K)


def _dead_case(i):
    rng = np.random.default_rng(700 + i)
    n, n_in, n_out = ((1, 3, 5), (6, 4, 7), (9, 5, 8))[i]
    X, W = rng.standard_normal((n, n_in)), rng.standard_normal((n_out, n_in))
    b = rng.standard_normal(n_out)
    b[: n_out // 2] = -20.0  # these units never fire
    V = X @ W.T + b
    b = b + np.where(np.abs(V).min(axis=0) < 0.05, 0.2, 0.0)  # keep every pre-activation off 0
    return X, W, b


@PARTS.add("test_dead_fraction", points=2, uses=("dead_fraction",))
def check_dead_fraction(dead_fraction):
    """The fraction of hidden units whose pre-activation is ≤ 0 for every example of X."""
    for i in range(3):
        X, W, b = _dead_case(i)
        got = to_scalar(call(dead_fraction, "dead_fraction(X, W, b)", X=X, W=W, b=b), "dead_fraction(X, W, b)")
        V = X @ W.T + b
        dead = np.all(V <= 0, axis=0)
        assert_close(np.array([got]), np.array([dead.mean()]), "dead_fraction(X, W, b)", case=describe(X=X, W=W, b=b),
                     mistakes={"the fraction of zero entries of H, not of units that are zero for every example":
                               [np.mean(V <= 0)],
                               "units that are zero for at least one example, not for all": [np.mean(np.any(V <= 0,
                                                                                                            axis=0))],
                               "the number of dead units instead of their fraction": [dead.sum()],
                               "the fraction of examples whose every unit is zero (the wrong axis)":
                                   [np.mean(np.all(V <= 0, axis=1))]})
