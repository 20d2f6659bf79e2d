"""The numerical claims of chapter 8 (universality and depth), checked with nnref.

Each test recomputes, with the reference package and the chapter's seeds, a
fact that the chapter's prose states, so that a change in nnref that
falsifies the text fails here before the book is rebuilt.  The chapter's
small helpers (the ReLU interpolant, the sawtooth and folding networks, the
activation-pattern count, the Radon split) are repeated here in a few lines,
since chapters cannot be imported.

Tolerances: identities that hold exactly in real arithmetic are compared at
1e-12 (float64 round-off over a few hundred terms); the interpolation bound
gets the same 1e-12 of slack; the measured log-log slope of the error must
lie within 0.1 of the theoretical −2; counts are compared exactly.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from helpers import HAS_TORCH

import nnref
from nnref.activations.base import Activation
from nnref.data import TARGETS, regression_1d, truth_table
from nnref.layers import Dense
from nnref.models import MLP
from nnref.neurons import TLU, Perceptron
from nnref.optim import fit

EXACT = 1e-12
X_FINE = np.linspace(-1, 1, 2001)[:, None]


def set_params(model, params):
    model.set_parameters({name: nnref.asarray(value) for name, value in params.items()})
    return model


# ----------------------------------------------------------------------------------------------
# Universality: polynomial activations, the ReLU interpolant, Barron's trade-off
# ----------------------------------------------------------------------------------------------

class Square(Activation):
    name = "square"

    def _forward(self, xp, x):
        return x * x

    def _backward(self, xp, x, y, grad_out):
        return 2 * x * grad_out


def random_features(q, activation, seed):
    rng = np.random.default_rng(seed)
    model = MLP([1, q, 1], activation=activation, init="he", rng=rng)
    return set_params(model, {"0.b": rng.uniform(-1, 1, q)})


def hidden(model, X):
    return model.modules[1](model.modules[0](X))


def fit_output_layer(model, X, y):
    H = nnref.to_numpy(hidden(model, X))
    A = np.hstack([H, np.ones((H.shape[0], 1))])
    coef = np.linalg.lstsq(A, nnref.to_numpy(y), rcond=None)[0]
    return set_params(model, {"2.W": coef[None, :-1], "2.b": coef[-1:]})


def max_error(model, f):
    return float(np.max(np.abs(nnref.to_numpy(model(X_FINE))[:, 0] - f(X_FINE[:, 0]))))


def test_square_activation_spans_only_quadratics_while_relu_keeps_improving():
    f = TARGETS["sin"]
    ranks, square_errors, relu_errors = [], [], []
    for q in [2, 4, 8, 16, 32, 64]:
        square = fit_output_layer(random_features(q, Square(), seed=q), X_FINE, f(X_FINE[:, 0]))
        relu = fit_output_layer(random_features(q, "relu", seed=q), X_FINE, f(X_FINE[:, 0]))
        ranks.append(np.linalg.matrix_rank(hidden(square, X_FINE)))
        square_errors.append(max_error(square, f))
        relu_errors.append(max_error(relu, f))
    assert max(ranks) == 3, f"u² features should span exactly 1, x, x² (rank 3), got ranks {ranks}"
    # q >= 4 units span all of 1, x, x², so the least-squares fit is the same quadratic
    assert np.allclose(square_errors[1:], square_errors[1], rtol=1e-6), (
        f"the u² network's error should not change with q once it spans the quadratics: {square_errors}"
    )
    assert min(square_errors) > 0.5, f"no quadratic comes close to sin(πx); got {min(square_errors)}"
    assert min(relu_errors) < min(square_errors) / 10, (
        f"ReLU features should beat the quadratic by far: {relu_errors} vs {square_errors}"
    )
    assert relu_errors[0] > 10 * min(relu_errors), f"the ReLU error should fall as units are added: {relu_errors}"


def relu_interpolant(f, q, low=-1.0, high=1.0):
    knots = np.linspace(low, high, q + 1)
    values = f(knots)
    slopes = np.diff(values) / np.diff(knots)
    c = np.diff(slopes, prepend=0.0)
    model = MLP([1, q, 1], activation="relu")
    return set_params(model, {"0.W": np.ones((q, 1)), "0.b": -knots[:-1], "2.W": c[None, :], "2.b": values[:1]})


@pytest.mark.parametrize("target", ["sin", "gaussian_bump", "cubic", "abs"])
@pytest.mark.parametrize("q", [1, 3, 6, 17])
def test_relu_interpolant_passes_through_every_knot(target, q):
    f = TARGETS[target]
    knots = np.linspace(-1, 1, q + 1)
    got = nnref.to_numpy(relu_interpolant(f, q)(knots[:, None]))[:, 0]
    assert np.allclose(got, f(knots), rtol=0, atol=EXACT), f"{target}, q={q}: g(t_i) = {got}, f(t_i) = {f(knots)}"


def test_relu_interpolant_error_obeys_the_bound_and_falls_like_one_over_q_squared():
    q = 2 ** np.arange(0, 9)
    errors = np.array([max_error(relu_interpolant(TARGETS["sin"], int(k)), TARGETS["sin"]) for k in q])
    bound = np.pi**2 / (2 * q**2.0)  # h²/8 · max|f''| with h = 2/q, max|f''| = π²
    assert np.all(errors <= bound + EXACT), f"errors {errors} exceed the bound {bound}"
    slope = np.polyfit(np.log(q[3:]), np.log(errors[3:]), 1)[0]
    assert abs(slope + 2) < 0.1, f"log-log slope {slope:.3f}; the chapter states about −2"


def test_abs_is_exact_with_a_knot_at_zero_and_the_step_keeps_a_large_max_error():
    for q in [2, 4, 8, 32]:
        assert max_error(relu_interpolant(TARGETS["abs"], q), TARGETS["abs"]) < EXACT
    step = TARGETS["step"]
    sup = [max_error(relu_interpolant(step, q), step) for q in [2, 4, 8, 16, 32]]
    rms = [float(np.sqrt(np.mean((nnref.to_numpy(relu_interpolant(step, q)(X_FINE))[:, 0] - step(X_FINE[:, 0])) ** 2)))
           for q in [2, 4, 8, 16, 32]]
    assert min(sup) > 0.9, f"the step's maximum error should stay near 1, got {sup}"
    assert all(b < a for a, b in zip(rms, rms[1:])), f"the step's RMS error should keep falling, got {rms}"


def test_barron_trade_off_best_width_grows_with_the_data():
    sizes_q = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32]
    f = TARGETS["sin"]
    best = {}
    for N in [20, 80, 320, 1280]:
        errors = np.zeros((20, len(sizes_q)))
        for seed in range(20):
            X, y = regression_1d(N, "sin", noise=0.5, rng=seed)
            for k, q in enumerate(sizes_q):
                knots = np.linspace(-1, 1, q + 1)[:-1]
                model = set_params(MLP([1, q, 1], activation="relu"), {"0.W": np.ones((q, 1)), "0.b": -knots})
                model = fit_output_layer(model, X, y)
                errors[seed, k] = np.mean((nnref.to_numpy(model(X_FINE))[:, 0] - f(X_FINE[:, 0])) ** 2)
        mean = errors.mean(axis=0)
        k_best = int(np.argmin(mean))
        best[N] = sizes_q[k_best]
        assert 0 < k_best < len(sizes_q) - 1, f"N={N}: the error should fall then rise (U shape), errors {mean}"
    values = list(best.values())
    assert all(b >= a for a, b in zip(values, values[1:])) and values[-1] > values[0], (
        f"the best number of units should grow with N: {best}"
    )


# ----------------------------------------------------------------------------------------------
# Depth: activation regions
# ----------------------------------------------------------------------------------------------

def activation_patterns(model, X):
    on, z = [], X
    for module in model.modules[:-1]:
        z = module(z)
        if isinstance(module, Dense):
            on.append(nnref.to_numpy(z) > 0)
    return np.concatenate(on, axis=1)


def count_regions(model, X):
    return len({row.tobytes() for row in np.packbits(activation_patterns(model, X), axis=1)})


def sawtooth_network(depth):
    model = MLP([1] + [2] * depth + [1], activation="relu")
    fold, shift = np.array([[2.0, -4.0], [2.0, -4.0]]), np.array([0.0, -0.5])
    params = {"0.W": np.ones((2, 1)), "0.b": shift}
    for j in range(1, depth):
        params[f"{2 * j}.W"], params[f"{2 * j}.b"] = fold, shift
    params[f"{2 * depth}.W"], params[f"{2 * depth}.b"] = fold[:1], np.zeros(1)
    return set_params(model, params)


X_UNIT = (np.arange(200_000) + 0.5)[:, None] / 200_000


@pytest.mark.parametrize("depth", range(1, 9))
def test_sawtooth_with_2L_units_has_2_to_the_L_pieces_of_slope_2_to_the_L(depth):
    net = sawtooth_network(depth)
    assert count_regions(net, X_UNIT) == 2**depth
    # slopes on the midpoints of the dyadic pieces, by central differences (exact on affine pieces)
    mids = (np.arange(2**depth) + 0.5) / 2**depth
    h = 1e-3 / 2**depth
    slopes = (nnref.to_numpy(net((mids + h)[:, None])) - nnref.to_numpy(net((mids - h)[:, None])))[:, 0] / (2 * h)
    assert np.allclose(np.abs(slopes), 2.0**depth, rtol=1e-9), f"slopes {slopes}, expected ±{2**depth}"
    assert np.all(np.sign(slopes[1:]) == -np.sign(slopes[:-1])), "neighbouring pieces must alternate in sign"


@pytest.mark.parametrize("q", [1, 2, 5, 12])
def test_shallow_network_on_a_line_has_at_most_q_plus_one_pieces(q):
    x = np.linspace(-5, 5, 50_001)[:, None]
    for seed in range(5):
        model = MLP([1, q, 1], activation="relu", init="he", bias=0.3, rng=seed)
        pieces = count_regions(model, x)
        assert pieces <= q + 1, f"q={q}, seed={seed}: {pieces} pieces > q + 1"


def test_sawtooth_alternates_on_the_dyadic_points():
    for depth in [2, 4, 6]:
        xs = (np.arange(2**depth + 1) / 2**depth)[:, None]
        signs = np.where(nnref.to_numpy(sawtooth_network(depth)(xs))[:, 0] - 0.5 >= 0, 1, -1)
        assert np.all(signs[1:] == -signs[:-1]), f"L={depth}: signs {signs} do not alternate"


def folding_network(depth, lines):
    fold_in = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    tent = np.array([[2.0, -4.0, 0.0, 0.0], [0.0, 0.0, 2.0, -4.0]])
    A, c = lines[:, :2], lines[:, 2]
    model = MLP([2] + [4] * (depth - 1) + [len(lines), 1], activation="relu")
    params = {}
    for j in range(depth - 1):
        params[f"{2 * j}.W"] = fold_in if j == 0 else fold_in @ tent
        params[f"{2 * j}.b"] = np.array([0.0, -0.5, 0.0, -0.5])
    last = 2 * (depth - 1)
    params[f"{last}.W"], params[f"{last}.b"] = (A if depth == 1 else A @ tent), c
    params[f"{last + 2}.W"] = np.random.default_rng(0).normal(size=(1, len(lines)))
    params[f"{last + 2}.b"] = np.zeros(1)
    return set_params(model, params)


def test_folding_networks_reach_montufar_count_and_beat_any_shallow_network():
    angles = np.array([0.1, 0.9, 1.7, 2.5])
    lines = np.stack([np.cos(angles), np.sin(angles), -(0.5 * np.cos(angles) + 0.5 * np.sin(angles) + 0.15)], axis=1)
    grid = (np.arange(500) + 0.5) / 500
    X = np.stack(np.meshgrid(grid, grid), axis=-1).reshape(-1, 2)
    for depth in range(1, 5):
        counted = count_regions(folding_network(depth, lines), X)
        formula = 4 ** (depth - 1) * 11  # ⌊4/2⌋² per folding layer, 1 + 4 + C(4, 2) in the last
        assert counted == formula, f"depth {depth}: counted {counted} regions, Montúfar's formula gives {formula}"
        units = 4 * depth
        shallow_max = 1 + units + math.comb(units, 2)
        if depth >= 2:
            assert counted > shallow_max, f"depth {depth}: {counted} regions should exceed the shallow {shallow_max}"


def random_relu_network(width, depth, seed, n_in=2):
    model = MLP([n_in] + [width] * depth + [1], activation="relu", init="he", rng=seed)
    bias_rng = np.random.default_rng(10_000 + seed)
    return set_params(model, {f"{2 * j}.b": bias_rng.normal(0.0, 1.0, width) for j in range(depth)})


GRID_PLANE = np.linspace(-2, 2, 200)
X_PLANE = np.stack(np.meshgrid(GRID_PLANE, GRID_PLANE), axis=-1).reshape(-1, 2)


def test_region_counts_grow_with_depth_at_fixed_width():
    counts = [np.mean([count_regions(random_relu_network(8, depth, s), X_PLANE) for s in range(5)])
              for depth in range(1, 7)]
    assert all(b > a for a, b in zip(counts, counts[1:])), f"width 8, depths 1..6: mean counts {counts}"


def test_a_deeper_network_refines_the_regions_of_the_shallower_one():
    shallow = activation_patterns(random_relu_network(8, 2, seed=3), X_PLANE)
    deep = activation_patterns(random_relu_network(8, 4, seed=3), X_PLANE)
    assert np.array_equal(deep[:, :16], shallow), "the first two layers must be the same network"
    region_of = {}
    for d, s in zip(map(bytes, np.packbits(deep, axis=1)), map(bytes, np.packbits(shallow, axis=1))):
        assert region_of.setdefault(d, s) == s, "a region of the deeper network straddles two shallow regions"


def test_at_random_initialisation_the_single_wide_layer_has_the_most_regions():
    counts = {(d, w): np.mean([count_regions(random_relu_network(w, d, s), X_PLANE) for s in range(5)])
              for d, w in [(1, 24), (2, 12), (3, 8), (4, 6), (6, 4)]}
    shallow = counts[(1, 24)]
    assert all(c < shallow for k, c in counts.items() if k != (1, 24)), f"mean counts with 24 units: {counts}"
    assert shallow < 1 + 24 + math.comb(24, 2), "random counts stay below the one-layer maximum 301"


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
def test_region_counts_and_outputs_agree_on_numpy_and_torch():
    numpy_net = random_relu_network(8, 4, seed=0)
    with nnref.use_backend("torch", device="cpu"):
        torch_net = random_relu_network(8, 4, seed=0)
        X_t = nnref.asarray(X_PLANE)
        diff = np.max(np.abs(numpy_net(X_PLANE) - nnref.to_numpy(torch_net(X_t))))
        assert diff < EXACT, f"max |numpy − torch| = {diff}"
        assert count_regions(torch_net, X_t) == count_regions(numpy_net, X_PLANE)


def test_gradient_descent_does_not_find_the_sawtooth_weights():
    x = (np.arange(128) + 0.5)[:, None] / 128
    y = nnref.to_numpy(sawtooth_network(3)(x))
    constant_loss = 0.5 * np.mean((y - y.mean()) ** 2)
    for seed in range(4):
        net = MLP([1, 2, 2, 2, 1], activation="relu", init="he", bias=0.1, rng=seed)
        loss = fit(net, x, y, method="batch", lr=0.05, epochs=1500, progress=False).train_loss[-1]
        assert loss > 0.9 * constant_loss, (
            f"seed {seed}: trained loss {loss:.4f}; the chapter says every run stays near the constant's "
            f"{constant_loss:.4f}"
        )


# ----------------------------------------------------------------------------------------------
# Shattering, Radon, no free lunch
# ----------------------------------------------------------------------------------------------

def separating_line(points, labels, max_epochs=300):
    perceptron = Perceptron(points.shape[1])
    perceptron.fit(points, labels, max_epochs=max_epochs, rng=0)
    return perceptron if np.array_equal(perceptron.predict(points), labels) else None


def labellings(n):
    return [np.array(signs) for signs in itertools.product((-1.0, 1.0), repeat=n)]


def radon_split(points):
    A = np.vstack([points.T, np.ones(len(points))])
    lam = np.linalg.svd(A)[2][-1]
    return lam


def test_three_points_in_general_position_are_shattered_by_lines():
    triangle = np.array([[0.0, 0.0], [1.0, 0.0], [0.2, 0.9]])
    found = [separating_line(triangle, y) is not None for y in labellings(3)]
    assert all(found), f"labellings not separated: {[tuple(y) for y, ok in zip(labellings(3), found) if not ok]}"


def four_point_sets(n_sets=40, seed=0):
    rng = np.random.default_rng(seed)
    sets = []
    while len(sets) < n_sets:
        P = rng.standard_normal((4, 2))
        area = min(0.5 * abs((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))
                   for a, b, c in itertools.combinations(P, 3))
        if area > 0.1:
            sets.append(P)
    return sets


def test_no_four_point_set_is_shattered_and_the_failures_are_radons_pair():
    for i, points in enumerate(four_point_sets()):
        separated = {tuple(y) for y in labellings(4) if separating_line(points, y) is not None}
        lam = radon_split(points)
        radon = np.where(lam > 0, 1.0, -1.0)
        missing = {tuple(y) for y in labellings(4)} - separated
        assert len(separated) == 14, f"set {i}: {len(separated)} of 16 labellings separated, expected 14"
        assert missing == {tuple(radon), tuple(-radon)}, f"set {i}: unseparated {missing}, Radon's pair {radon}"


@pytest.mark.parametrize("seed", range(5))
def test_radon_point_lies_in_both_convex_hulls(seed):
    points = np.random.default_rng(seed).standard_normal((4, 2))
    lam = radon_split(points)
    assert abs(lam.sum()) < EXACT and np.allclose(lam @ points, 0, atol=EXACT)
    pos = lam > 0
    a, b = lam[pos] / lam[pos].sum(), -lam[~pos] / (-lam[~pos]).sum()
    assert np.all(a >= 0) and np.all(b >= 0) and abs(a.sum() - 1) < EXACT and abs(b.sum() - 1) < EXACT
    assert np.allclose(a @ points[pos], b @ points[~pos], atol=EXACT), "the two convex combinations must meet"


def test_no_free_lunch_every_learner_averages_one_half_off_the_training_set():
    X, _ = truth_table("and", n_inputs=3)
    train, test = np.array([0, 1, 2, 4]), np.array([3, 5, 6, 7])

    def nearest(Xtr, ytr, Xte):
        return ytr[np.argmin(np.abs(Xte[:, None, :] - Xtr[None, :, :]).sum(axis=-1), axis=1)]

    def perceptron(Xtr, ytr, Xte):
        model = Perceptron(Xtr.shape[1])
        model.fit(Xtr, ytr, max_epochs=50, rng=0)
        return model.predict(Xte)

    algorithms = {
        "majority": lambda Xtr, ytr, Xte: np.full(len(Xte), 1.0 if ytr.sum() >= 0 else -1.0),
        "nearest": nearest,
        "contrarian": lambda Xtr, ytr, Xte: -nearest(Xtr, ytr, Xte),
        "perceptron": perceptron,
    }
    targets = [np.array(f) for f in itertools.product((-1.0, 1.0), repeat=8)]
    threshold = set()
    for w in itertools.product(range(-3, 4), repeat=3):
        for b in np.arange(-6.5, 7.0, 1.0):
            threshold.add(tuple(2 * TLU([float(v) for v in w], b)(X) - 1))
    assert len(threshold) == 104, f"{len(threshold)} threshold functions of 3 bits found, the known count is 104"
    is_threshold = np.array([tuple(f) in threshold for f in targets])
    on_threshold = {}
    for name, algorithm in algorithms.items():
        errors = np.array([np.mean(algorithm(X[train], f[train], X[test]) != f[test]) for f in targets])
        assert errors.mean() == 0.5, f"{name}: mean off-training-set error {errors.mean()} over all targets"
        on_threshold[name] = errors[is_threshold].mean()
    assert on_threshold["perceptron"] < on_threshold["nearest"] < 0.5 < on_threshold["contrarian"], on_threshold
