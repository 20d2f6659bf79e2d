"""Hidden tests of assignment 08_universality: a sum of ReLUs that interpolates a 1-D function, fitted
to a target error, and the linear regions of a small ReLU network counted on a grid.

The answers here are exact constructions, so the oracles are the grader's own NumPy formulas: the
ReLU features max(x − tₖ, 0), the slopes of the piecewise-linear interpolant and their differences, the
activation patterns of the hidden units.  Knot counts never equal sample counts; grids and networks
come from several seeds.
"""

from __future__ import annotations

import numpy as np

from autograder.checks import assert_close, assert_equal, call, describe, fail, to_array, to_scalar, unpack
from autograder.parts import Parts

PARTS = Parts()
GRID_POINTS = 1001


@PARTS.add("test_relu_features", points=1, uses=("relu_features",))
def check_relu_features(relu_features):
    """Φ[i, k] = max(xᵢ − tₖ, 0), shape (n, K)."""
    for seed, (n, K) in enumerate(((1, 3), (7, 4), (5, 9))):
        rng = np.random.default_rng(800 + seed)
        x, knots = rng.uniform(-2, 2, n), np.sort(rng.uniform(-2, 2, K))
        got = to_array(call(relu_features, "relu_features(x, knots)", x=x, knots=knots), "relu_features(x, knots)")
        D = x[:, None] - knots[None, :]
        assert_close(got, np.maximum(D, 0), "relu_features(x, knots)", case=describe(x=x, knots=knots),
                     mistakes={"max(tₖ − xᵢ, 0): the difference is the wrong way round": np.maximum(-D, 0),
                               "the ReLU is missing: x − t without max(·, 0)": D})


def reference_coeffs(knots, values):
    slopes = np.diff(values) / np.diff(knots)
    return values[0], np.concatenate([slopes[:1], np.diff(slopes)])


@PARTS.add("test_interpolating_coeffs", points=3, uses=("interpolating_coeffs",))
def check_interpolating_coeffs(interpolating_coeffs):
    """intercept f(t₀); c₀ = s₀ and cₖ = sₖ − sₖ₋₁, the changes of slope of the interpolant."""
    for seed, K in enumerate((1, 4, 7)):
        rng = np.random.default_rng(820 + seed)
        knots = np.sort(rng.uniform(-3, 3, K + 1))
        values = rng.standard_normal(K + 1)
        out = call(interpolating_coeffs, "interpolating_coeffs(knots, values)", knots=knots, values=values)
        intercept, coeffs = unpack(out, "interpolating_coeffs(knots, values)", ("intercept", "coeffs"))
        ref_b, ref_c = reference_coeffs(knots, values)
        slopes = np.diff(values) / np.diff(knots)
        case = describe(knots=knots, values=values)
        assert_close(np.array([to_scalar(intercept, "intercept")]), np.array([ref_b]), "the intercept", case=case,
                     mistakes={"the intercept is the last value instead of the first": [values[-1]]})
        assert_close(to_array(coeffs, "coeffs"), ref_c, "coeffs from interpolating_coeffs", case=case,
                     mistakes={"the slopes themselves instead of their changes": slopes,
                               "differences of the values, not divided by the knot spacing (slopes)":
                                   np.concatenate([np.diff(values)[:1], np.diff(np.diff(values))])})


CASES = (("sin(3x) on [-2, 2]", lambda x: np.sin(3 * x), -2.0, 2.0, 1e-2),
         ("x² on [0, 1]", lambda x: x**2, 0.0, 1.0, 1e-3),
         ("exp(x) on [-1, 1.5]", np.exp, -1.0, 1.5, 5e-3),
         ("tanh(4x) on [-1, 1]", lambda x: np.tanh(4 * x), -1.0, 1.0, 2e-2))


class _Function:
    """The grader's f: accepts a 1-D array of points and returns their values."""

    def __init__(self, f):
        self.f = f

    def __call__(self, x):
        if type(x) is not np.ndarray or x.ndim != 1:
            raise ValueError(f"f must be called with a 1-D NumPy array of points, got {type(x).__name__} "
                             f"of shape {np.shape(x)}")
        return self.f(np.array(x, dtype=np.float64))


def _error(f, a, b, K):
    knots = np.linspace(a, b, K + 1)
    b0, c = reference_coeffs(knots, f(knots))
    grid = np.linspace(a, b, GRID_POINTS)
    return np.max(np.abs(b0 + np.maximum(grid[:, None] - knots[None, :-1], 0) @ c - f(grid)))


def minimal_units(f, a, b, tol) -> int:
    """The fewest equally spaced units whose interpolant meets the tolerance on the grid."""
    K = 1
    while _error(f, a, b, K) > tol:
        K += 1
    return K


@PARTS.add("test_fit_relu_sum", points=2, uses=("fit_relu_sum", "interpolating_coeffs", "relu_features"))
def check_fit_relu_sum(fit_relu_sum):
    """max over the grid of |g(x) − f(x)| ≤ tol, with at most 4 × the fewest equally spaced units needed."""
    for name, f, a, b, tol in CASES:
        out = call(fit_relu_sum, "fit_relu_sum(f, a, b, tol)", f=_Function(f), a=a, b=b, tol=tol)
        knots, intercept, coeffs = unpack(out, "fit_relu_sum(f, a, b, tol)", ("knots", "intercept", "coeffs"))
        knots, coeffs = to_array(knots, "knots"), to_array(coeffs, "coeffs")
        intercept = to_scalar(intercept, "intercept")
        if knots.ndim != 1 or knots.shape != coeffs.shape:
            fail(f"fit_relu_sum for {name}: knots {knots.shape} and coeffs {coeffs.shape} must be "
                                 "1-D arrays of the same length, one knot and one coefficient per unit", "wrong_shape")
        grid = np.linspace(a, b, GRID_POINTS)
        error = np.abs(intercept + np.maximum(grid[:, None] - knots[None, :], 0) @ coeffs - f(grid))
        worst = int(np.argmax(error))
        if error[worst] > tol:
            raise AssertionError(f"fit_relu_sum for {name} with tol = {tol:g}: the largest error on the grid of "
                                 f"{GRID_POINTS} points is {error[worst]:.3g} at x = {grid[worst]:.4g}, above the "
                                 f"tolerance (with {len(knots)} units): add units until the error is below tol")
        budget = 4 * minimal_units(f, a, b, tol)
        if len(knots) > budget:
            raise AssertionError(f"fit_relu_sum for {name} with tol = {tol:g} used {len(knots)} units; "
                                 f"{budget // 4} equally spaced units meet the tolerance, and at most {budget} "
                                 "are accepted: stop as soon as the error is below tol")


def _network(seed):
    rng = np.random.default_rng(840 + seed)
    sizes = ((2, 5), (2, 4, 3), (2, 6, 4))[seed]
    params = [(rng.standard_normal((m, k)), rng.standard_normal(m)) for k, m in zip(sizes[:-1], sizes[1:])]
    side = (17, 23, 31)[seed]
    g = np.linspace(-3, 3, side)
    X = np.stack(np.meshgrid(g, g[: side - 4]), axis=-1).reshape(-1, 2)  # a grid that is not square
    return X, params


def reference_patterns(X, params):
    h, out = X, []
    for W, b in params:
        v = h @ W.T + b
        out.append(v > 0)
        h = np.maximum(v, 0)
    return np.concatenate(out, axis=1)


@PARTS.add("test_activation_patterns", points=2, uses=("activation_patterns",))
def check_activation_patterns(activation_patterns):
    """P[i, u] = 1 where hidden unit u (all layers, first layer first) is active at Xᵢ."""
    for seed in range(3):
        X, params = _network(seed)
        got = to_array(call(activation_patterns, "activation_patterns(X, params)", X=X, params=params),
                       "activation_patterns(X, params)")
        expected = reference_patterns(X, params).astype(float)
        first = (X @ params[0][0].T + params[0][1] > 0).astype(float)
        wrong = {"the later layers use the pre-activations v instead of ReLU(v) as their input":
                 _patterns_without_relu(X, params)}
        if len(params) > 1:
            wrong["only the first hidden layer's units"] = first
        assert_equal(got, expected, "activation_patterns(X, params)",
                     case=describe(X=X) + f", layer sizes {[2] + [W.shape[0] for W, _ in params]}", mistakes=wrong)


def _patterns_without_relu(X, params):
    h, out = X, []
    for W, b in params:
        h = h @ W.T + b
        out.append(h > 0)
    return np.concatenate(out, axis=1).astype(float)


@PARTS.add("test_count_linear_regions", points=2, uses=("count_linear_regions", "activation_patterns"))
def check_count_linear_regions(count_linear_regions):
    """The number of distinct activation patterns among the grid points."""
    for seed in range(3):
        X, params = _network(seed)
        patterns = reference_patterns(X, params)
        got = to_scalar(call(count_linear_regions, "count_linear_regions(X, params)", X=X, params=params),
                        "count_linear_regions(X, params)")
        expected = len(np.unique(patterns, axis=0))
        first = len(np.unique(patterns[:, : params[0][0].shape[0]], axis=0))
        hints = {len(np.unique(patterns)): "the distinct values of the pattern matrix, not its distinct rows",
                 patterns.sum(): "the number of active units, not of distinct patterns",
                 len(np.unique(patterns.sum(axis=1))): "patterns compared by their number of active units only"}
        if len(params) > 1:
            hints.setdefault(first, "only the first hidden layer's patterns")
        if got != expected:
            hint = hints.get(int(got), "") if int(got) != expected else ""
            raise AssertionError(f"count_linear_regions(X, params) returned {got:g} for a grid of {len(X)} points "
                                 f"and layer sizes {[2] + [W.shape[0] for W, _ in params]}; expected {expected}."
                                 + (f" This matches a common mistake: {hint}." if hint else ""))
