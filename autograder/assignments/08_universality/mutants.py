"""Mutants of assignment 08_universality (see ``autograder/mutation/__init__.py``)."""

from autograder.mutation import bug, variant

FEATURES = [
    bug("relu_features", "reversed", "max(t − x, 0)", replace=[("x[:, None] - knots[None, :]",
                                                                "knots[None, :] - x[:, None]")], mistake="named"),
    bug("relu_features", "no_relu", "x − t without the ReLU", replace=[("np.maximum(x[:, None] - knots[None, :], 0.0)",
                                                                      "x[:, None] - knots[None, :]")], mistake="named"),
    bug("relu_features", "transposed", "shape (K, n)", replace=[("x[:, None] - knots[None, :]",
                                                                 "x[None, :] - knots[:, None]")], mistake="transposed"),
    bug("relu_features", "step", "the step 1[x > t] instead of the ramp",
        replace=[("np.maximum(x[:, None] - knots[None, :], 0.0)", "(x[:, None] > knots[None, :]).astype(float)")],
        mistake="constant_factor"),
    bug("relu_features", "abs", "|x − t| instead of max(x − t, 0)",
        replace=[("np.maximum(x[:, None] - knots[None, :], 0.0)", "np.abs(x[:, None] - knots[None, :])")],
        mistake="other"),
    variant("relu_features", "loops_outer", "np.subtract.outer and np.clip",
            replace=[("np.maximum(x[:, None] - knots[None, :], 0.0)",
                      "np.clip(np.subtract.outer(x, knots), 0, None)")]),
]

COEFFS = [
    bug("interpolating_coeffs", "slopes", "the slopes instead of their changes",
        replace=[("coeffs = np.concatenate([slopes[:1], np.diff(slopes)])", "coeffs = slopes")], mistake="named"),
    bug("interpolating_coeffs", "no_spacing", "differences of the values, not divided by the spacing",
        replace=[("slopes = np.diff(values) / np.diff(knots)", "slopes = np.diff(values)")], mistake="named"),
    bug("interpolating_coeffs", "last_intercept", "the intercept from the last value",
        replace=[("return values[0], coeffs", "return values[-1], coeffs")], mistake="named"),
    bug("interpolating_coeffs", "first_coeff_dropped", "c₀ = 0: the first slope is missing",
        replace=[("np.concatenate([slopes[:1], np.diff(slopes)])", "np.concatenate([[0.0], np.diff(slopes)])")],
        mistake="other"),
    bug("interpolating_coeffs", "slope_change_sign", "cₖ = sₖ₋₁ − sₖ",
        replace=[("np.concatenate([slopes[:1], np.diff(slopes)])", "np.concatenate([slopes[:1], -np.diff(slopes)])")],
        mistake="wrong_rows"),
    bug("interpolating_coeffs", "one_too_many", "a coefficient for the last knot too",
        replace=[("np.concatenate([slopes[:1], np.diff(slopes)])",
                  "np.concatenate([slopes[:1], np.diff(slopes), [0.0]])")], mistake="broadcast"),
    variant("interpolating_coeffs", "least_squares", "solves the interpolation conditions by least squares", source='''
def interpolating_coeffs(knots, values):
    Phi = np.maximum(knots[:, None] - knots[None, :-1], 0.0)
    A = np.hstack([np.ones((len(knots), 1)), Phi])
    solution = np.linalg.lstsq(A, values, rcond=None)[0]
    return solution[0], solution[1:]
'''),
    variant("interpolating_coeffs", "loop", "a loop over the segments", source='''
def interpolating_coeffs(knots, values):
    coeffs, previous = [], 0.0
    for k in range(len(knots) - 1):
        slope = (values[k + 1] - values[k]) / (knots[k + 1] - knots[k])
        coeffs.append(slope - previous)
        previous = slope
    return float(values[0]), np.array(coeffs)
'''),
]

FIT = [
    bug("fit_relu_sum", "too_many_units", "always 4096 units", replace=[("    K = 1\n", "    K = 4096\n")],
        mistake="other"),
    bug("fit_relu_sum", "error_at_knots_only", "measures the error at the knots only (always 0)",
        replace=[("error = np.max(np.abs(intercept + relu_features(grid, knots[:-1]) @ coeffs - f(grid)))",
                  "error = np.max(np.abs(intercept + relu_features(knots, knots[:-1]) @ coeffs - f(knots)))")],
                  mistake="other"),
    bug("fit_relu_sum", "all_knots", "returns all K + 1 knots", replace=[("return knots[:-1], intercept, coeffs",
                                                                        "return knots, intercept, coeffs")],
                                                                        mistake="wrong_shape"),
    bug("fit_relu_sum", "wrong_interval", "knots on [0, 1] whatever a and b",
        replace=[("knots = np.linspace(a, b, K + 1)", "knots = np.linspace(0.0, 1.0, K + 1)")], mistake="crashed"),
    bug("fit_relu_sum", "intercept_dropped", "returns intercept 0",
        replace=[("return knots[:-1], intercept, coeffs", "return knots[:-1], 0.0, coeffs")], mistake="other"),
    bug("fit_relu_sum", "grows_too_fast", "multiplies K by 16 at each step", replace=[("K *= 2", "K *= 16")],
        mistake="other"),
    variant("fit_relu_sum", "increment", "one unit at a time, the interpolant computed inline", source='''
def fit_relu_sum(f, a, b, tol):
    grid = np.linspace(a, b, 1001)
    for K in range(1, 100000):
        t = np.linspace(a, b, K + 1)
        v = f(t)
        s = np.diff(v) / np.diff(t)
        c = np.r_[s[0], np.diff(s)]
        g = v[0] + np.maximum(grid[:, None] - t[:-1], 0) @ c
        if np.max(np.abs(g - f(grid))) <= tol:
            return t[:-1], v[0], c
'''),
]

PATTERNS = [
    bug("activation_patterns", "no_relu_between", "feeds v, not ReLU(v), to the next layer",
        replace=[("        h = np.maximum(v, 0)\n", "        h = v\n")], mistake="named"),
    bug("activation_patterns", "first_layer_only", "the first layer's pattern only",
        replace=[("return np.concatenate(patterns, axis=1)", "return patterns[0]")], mistake="wrong_shape"),
    bug("activation_patterns", "inactive", "marks the inactive units", replace=[("patterns.append(v > 0)",
                                                                               "patterns.append(v <= 0)")],
                                                                               mistake="sign_flipped"),
    bug("activation_patterns", "last_layer_first", "the last layer's units first",
        replace=[("return np.concatenate(patterns, axis=1)", "return np.concatenate(patterns[::-1], axis=1)")],
        mistake="other"),
    bug("activation_patterns", "outputs_not_pattern", "returns the ReLU outputs",
        replace=[("patterns.append(v > 0)", "patterns.append(np.maximum(v, 0))")], mistake="other"),
    bug("activation_patterns", "stacked_rows", "stacks the layers along the rows",
        replace=[("return np.concatenate(patterns, axis=1)", "return np.concatenate(patterns, axis=0)")],
        mistake="crashed"),
    variant("activation_patterns", "sign", "np.sign and hstack of ints", source='''
def activation_patterns(X, params):
    columns = []
    h = X
    for W, b in params:
        v = np.einsum("nk,mk->nm", h, W) + b
        columns.append((np.sign(v) > 0).astype(int))
        h = v * (v > 0)
    return np.hstack(columns)
'''),
]

COUNT = [
    bug("count_linear_regions", "unique_values", "np.unique without axis=0",
        replace=[("np.unique(np.concatenate(patterns, axis=1), axis=0)",
                  "np.unique(np.concatenate(patterns, axis=1))")], mistake="other"),
    bug("count_linear_regions", "first_layer", "counts the first layer's patterns only",
        replace=[("np.concatenate(patterns, axis=1), axis=0)", "patterns[0], axis=0)")], mistake="other"),
    bug("count_linear_regions", "active_count", "the number of active units",
        replace=[("return len(np.unique(np.concatenate(patterns, axis=1), axis=0))",
                  "return int(np.concatenate(patterns, axis=1).sum())")], mistake="other"),
    bug("count_linear_regions", "by_number_active", "patterns compared by their number of active units",
        replace=[("return len(np.unique(np.concatenate(patterns, axis=1), axis=0))",
                  "return len(np.unique(np.concatenate(patterns, axis=1).sum(axis=1)))")], mistake="other"),
    bug("count_linear_regions", "no_relu_between", "feeds v, not ReLU(v), to the next layer",
        replace=[("        h = np.maximum(v, 0)\n", "        h = v\n")], mistake="other"),
    bug("count_linear_regions", "changes_along_rows", "counts changes between consecutive grid points, plus one",
        replace=[("return len(np.unique(np.concatenate(patterns, axis=1), axis=0))",
                  "P = np.concatenate(patterns, axis=1)\n    return 1 + int(np.any(P[1:] != P[:-1], axis=1).sum())")],
                  mistake="other"),
    variant("count_linear_regions", "set_of_bytes", "a set of pattern strings", source='''
def count_linear_regions(X, params):
    h, columns = X, []
    for W, b in params:
        v = h @ W.T + b
        columns.append(v > 0)
        h = np.maximum(v, 0)
    P = np.hstack(columns)
    return len({row.tobytes() for row in P})
'''),
]

MUTANTS = FEATURES + COEFFS + FIT + PATTERNS + COUNT
