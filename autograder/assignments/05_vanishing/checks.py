"""Hidden tests of assignment 05_vanishing: per-layer gradient norms of a deep sigmoid network,
gradient clipping by norm and by value, and the projection onto the spectral-norm ball.

Oracles: torch.autograd in float64 for the gradients, ``nnref.constraints`` for the
projection and the clipping rules.  Shapes are never square; batches of one example are
included; clipping cases hold gradients both above and below the threshold.
"""

from __future__ import annotations

import numpy as np

from autograder.assignments.shared import mlp_by_hand, mlp_oracle
from autograder.checks import assert_close, call, describe, fail, named, to_array
from autograder.parts import Parts
from nnref import constraints

PARTS = Parts()
NET_CASES = ((5, (3, 6, 4, 5, 4, 2)), (1, (4, 5, 3, 6, 2)), (7, (2, 4, 6, 5, 3, 4, 3)))  # (n, layer sizes)


def _net_case(seed):
    n, sizes = NET_CASES[seed]
    rng = np.random.default_rng(500 + seed)
    params = [(1.5 * rng.standard_normal((m, k)) / np.sqrt(k), 0.3 * rng.standard_normal(m))
              for k, m in zip(sizes[:-1], sizes[1:])]
    return rng.standard_normal((n, sizes[0])), rng.standard_normal((n, sizes[-1])), params


def norms_with(X, y, params, derivative="right"):
    """Per-layer ‖∂L/∂Wⱼ‖_F by hand, with σ' right, left out ("none") or taken at σ(v) ("output")."""
    return np.array([np.linalg.norm(dW) for dW, _ in mlp_by_hand(X, y, params, "sigmoid", derivative)])


@PARTS.add("test_layer_gradient_norms", points=3, uses=("layer_gradient_norms",))
def check_layer_gradient_norms(layer_gradient_norms):
    """‖∂L/∂Wⱼ‖_F for every layer j, first layer first."""
    for seed in range(len(NET_CASES)):
        X, y, params = _net_case(seed)
        got = to_array(call(layer_gradient_norms, "layer_gradient_norms(X, y, params)", X=X, y=y, params=params),
                       "layer_gradient_norms(X, y, params)")
        ref = mlp_oracle(X, y, [W for W, _ in params], [b for _, b in params], "sigmoid")
        expected = np.array([np.linalg.norm(ref[f"dW{j}"]) for j in range(len(params))])
        case = f"X {X.shape}, layer sizes {[X.shape[1]] + [W.shape[0] for W, _ in params]}, sigmoid hidden"
        assert_close(got, expected, "the gradient norms from layer_gradient_norms", case=case,
                     batch_size=X.shape[0], mistakes={
                         named("missing_derivative",
                               "missing activation derivative: σ'(v) is left out"): norms_with(X, y, params, "none"),
                         named("output_derivative",
                               "derivative at the output: σ'(σ(v)) instead of σ'(v)"):
                             norms_with(X, y, params, "output"),
                         "the norms are listed last layer first": expected[::-1],
                         "squared norms ‖dW‖² instead of ‖dW‖": expected**2,
                         "the norms of the weights W instead of their gradients": [np.linalg.norm(W)
                                                                                     for W, _ in params]})


def _grads_case(seed):
    rng = np.random.default_rng(520 + seed)
    shapes = (((3, 4), (3,), (2, 3)), ((1, 5), (5,)), ((4, 2), (4,), (3, 4), (3,)))[seed % 3]
    return [(1.0 + seed) * rng.standard_normal(s) for s in shapes]


def _call_on_list(fn, what, grads, threshold):
    """Call fn(grads, threshold) on a copy and refuse a function that modifies the arrays it gets."""
    work = [g.copy() for g in grads]
    out = call(lambda: fn(work, threshold), what)
    for i, (before, after) in enumerate(zip(grads, work)):
        if not np.array_equal(before, after):
            fail(f"{what} modified grads[{i}] in place; return new arrays "
                                 "(e.g. g * scale instead of g *= scale)", "in_place")
    if type(out) not in (list, tuple) or len(out) != len(grads):
        got = f"a {type(out).__name__}" + (f" of length {len(out)}" if type(out) in (list, tuple) else "")
        fail(f"{what} must return a list of {len(grads)} arrays, one per gradient; got {got}", "wrong_type")
    return [to_array(g, f"{what}[{i}]") for i, g in enumerate(out)]


@PARTS.add("test_clip_by_norm", points=3, uses=("clip_by_norm",))
def check_clip_by_norm(clip_by_norm):
    """All gradients rescaled together so that their global norm is at most max_norm."""
    for seed in range(6):
        grads = _grads_case(seed)
        total = float(np.sqrt(sum(np.sum(g * g) for g in grads)))
        max_norm = total * (0.3, 2.0, 0.7)[seed % 3]  # clipped, left alone, clipped
        got = _call_on_list(clip_by_norm, "clip_by_norm(grads, max_norm)", grads, max_norm)
        expected = constraints.clip_by_norm({str(i): g for i, g in enumerate(grads)}, max_norm)[0]
        scale_each = [g * min(1.0, max_norm / np.linalg.norm(g)) for g in grads]
        for i, g in enumerate(got):
            assert_close(g, expected[str(i)], f"clip_by_norm(grads, max_norm)[{i}]",
                         case=f"{describe(**{f'grads[{k}]': a for k, a in enumerate(grads)})}, global norm "
                              f"{total:.4g}, max_norm {max_norm:.4g}",
                         mistakes={"each gradient clipped by its own norm: the global norm over all of them "
                                   "is needed": scale_each[i],
                                   "rescaled to max_norm even though the norm was already below it":
                                       grads[i] * max_norm / total,
                                   "scaled by norm / max_norm instead of max_norm / norm": grads[i] * total / max_norm})


@PARTS.add("test_clip_by_value", points=2, uses=("clip_by_value",))
def check_clip_by_value(clip_by_value):
    """Every entry clamped to [−c, c]."""
    for seed in range(4):
        grads = _grads_case(seed)
        c = (0.5, 1.2, 0.8, 100.0)[seed]
        got = _call_on_list(clip_by_value, "clip_by_value(grads, clip_value)", grads, c)
        expected = constraints.clip_by_value({str(i): g for i, g in enumerate(grads)}, c)
        for i, g in enumerate(got):
            assert_close(g, expected[str(i)], f"clip_by_value(grads, clip_value)[{i}]",
                         case=f"grads[{i}] {grads[i].shape}, clip_value {c}",
                         mistakes={"only the upper bound c is applied, not −c": np.minimum(grads[i], c),
                                   "negative entries are clipped to [0, c], losing their sign":
                                       np.clip(np.abs(grads[i]), 0, c),
                                   "the gradient is rescaled by its norm instead of clamped entry by entry":
                                       grads[i] * min(1.0, c / np.linalg.norm(grads[i]))})


def _project_case(seed):
    rng = np.random.default_rng(540 + seed)
    shape = ((5, 3), (2, 6), (4, 7), (1, 4))[seed]
    return (2.0 if seed != 3 else 0.1) * rng.standard_normal(shape), (1.0, 1.5, 0.8, 1.0)[seed]


@PARTS.add("test_project_spectral", points=2, uses=("project_spectral",))
def check_project_spectral(project_spectral):
    """The nearest matrix with ‖W‖₂ ≤ max_norm: singular values clipped at max_norm."""
    for seed in range(4):
        W, c = _project_case(seed)
        got = to_array(call(project_spectral, "project_spectral(W, max_norm)", W=W, max_norm=c),
                       "project_spectral(W, max_norm)")
        U, S, Vt = np.linalg.svd(W, full_matrices=False)
        assert_close(got, constraints.project_spectral(W, c), "project_spectral(W, max_norm)",
                     case=f"W {W.shape} with singular values {np.round(S, 3).tolist()}, max_norm {c}",
                     mistakes={"the whole matrix rescaled by max_norm / ‖W‖₂: that is not the nearest matrix":
                               W * min(1.0, c / S[0]),
                               "rescaled by the Frobenius norm instead of clipping singular values":
                                   W * min(1.0, c / np.linalg.norm(W)),
                               "every singular value set to max_norm, the small ones too": c * U @ Vt,
                               "the entries clipped to [−max_norm, max_norm] instead of the singular values":
                                   np.clip(W, -c, c)})

