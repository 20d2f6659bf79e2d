"""The numerical claims of chapters 7 (losses) and 9 (regularisation), checked with nnref.

Each test recomputes, with the reference package and the chapter's seeds,
a fact that the chapter's prose states, so that a change in nnref that
falsifies the text fails here before the book is rebuilt.  The chapters'
small helpers (the running example's data, the training loop with weight
decay) are repeated here in a few lines, since chapters cannot be imported.

Tolerances: identities that hold exactly in real arithmetic are compared at
1e-12 (float64 round-off over at most a few hundred terms); statistical
statements use five standard deviations of the sampling error; the
experiments' claims use the margins the text relies on.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from helpers import HAS_TORCH

import nnref
from nnref import Dense, Dropout, Residual, Sequential
from nnref.activations import get_activation
from nnref.activations.smooth import log_softmax, sigmoid, softplus
from nnref.constraints import spectral_norm
from nnref.data import moons, regression_1d, two_gaussians
from nnref.gradcheck import check_gradients
from nnref.losses import (
    BCEWithLogits,
    BinaryCrossEntropy,
    KLDivergence,
    LogisticLoss,
    SoftmaxCrossEntropy,
    SquaredError,
)
from nnref.models import MLP
from nnref.optim import SGD, evaluate, fit, loss_and_grad

EXACT = 1e-12


# ----------------------------------------------------------------------------------------------
# Chapter 7: losses from maximum likelihood
# ----------------------------------------------------------------------------------------------

def test_product_of_likelihoods_underflows_but_the_log_likelihood_does_not():
    y = np.random.default_rng(0).normal(size=1000)
    density = np.exp(-y**2 / 2) / np.sqrt(2 * np.pi)
    assert np.prod(density) == 0.0, "the chapter shows the product of 1000 densities underflowing to 0"
    log_likelihood = np.sum(np.log(density))
    assert np.isfinite(log_likelihood) and log_likelihood / np.log(10) < -308, (
        f"log-likelihood {log_likelihood}: the likelihood should be finite in log form and below 1e-308"
    )


def test_gaussian_maximum_likelihood_is_least_squares():
    sigma = 0.25
    X, y = regression_1d(30, target=lambda x: 0.8 * x + 0.3, noise=sigma, rng=0)
    x = X[:, 0]
    a_ls, b_ls = np.linalg.lstsq(np.column_stack([x, np.ones_like(x)]), y, rcond=None)[0]
    slopes, intercepts = np.meshgrid(np.linspace(0, 1.6, 321), np.linspace(-0.5, 1.1, 321))
    residual = y - (slopes[..., None] * x + intercepts[..., None])
    surface = np.mean(-0.5 * np.log(2 * np.pi * sigma**2) - residual**2 / (2 * sigma**2), axis=-1)
    best = np.unravel_index(np.argmax(surface), surface.shape)
    step = 0.005
    assert abs(slopes[best] - a_ls) <= step and abs(intercepts[best] - b_ls) <= step, (
        f"grid maximiser ({slopes[best]}, {intercepts[best]}) is not within one grid step of "
        f"least squares ({a_ls}, {b_ls})"
    )
    layer = Dense(1, 1, rng=0)
    fit(layer, X, y[:, None], loss="squared_error", method="batch", lr=0.5, epochs=500, progress=False)
    a_gd, b_gd = float(layer.params["W"][0, 0]), float(layer.params["b"][0])
    assert max(abs(a_gd - a_ls), abs(b_gd - b_ls)) < 1e-8, f"GD on SquaredError gave ({a_gd}, {b_gd})"
    nll = -np.mean(-0.5 * np.log(2 * np.pi * sigma**2) - (y - a_gd * x - b_gd) ** 2 / (2 * sigma**2))
    squared_error = float(SquaredError()(layer(X), y[:, None]))
    identity = squared_error / sigma**2 + 0.5 * np.log(2 * np.pi * sigma**2)
    assert abs(nll - identity) < EXACT, f"NLL {nll} != SquaredError / sigma^2 + const = {identity}"


NOISE_MODELS = {
    "gaussian": lambda r, s: -0.5 * np.log(2 * np.pi * s**2) - r**2 / (2 * s**2),
    "laplace": lambda r, s: -np.log(2 * s) - np.abs(r) / s,
    "cauchy": lambda r, s: -np.log(np.pi * s) - np.log1p((r / s) ** 2),
}


def test_heavy_tailed_noise_models_resist_outliers():
    """The chapter's widget data with a fifth of the points moved up by 2 to 4."""
    rng = np.random.default_rng(3)
    X, y = regression_1d(40, target=lambda x: x + 0.5, noise=0.25, rng=rng)
    moved = rng.permutation(40)[:8]
    y[moved] += rng.uniform(2, 4, size=8)
    A, B = np.meshgrid(np.linspace(-0.2, 2.2, 121), np.linspace(-0.6, 1.8, 121))
    error = {}
    for name, log_density in NOISE_MODELS.items():
        surface = log_density(y - (A[..., None] * X[:, 0] + B[..., None]), 0.25).mean(axis=-1)
        i = np.unravel_index(np.argmax(surface), surface.shape)
        error[name] = abs(B[i] - 0.5)
    assert error["gaussian"] > 0.3, f"the Gaussian intercept should be pulled up by the outliers: {error}"
    assert error["laplace"] < error["gaussian"] / 3, f"Laplace should move much less: {error}"
    assert error["cauchy"] <= error["laplace"], f"Cauchy should move least: {error}"


def test_maximum_likelihood_minimises_kl_and_cross_entropy():
    rng = np.random.default_rng(1)
    rolls = rng.choice(6, size=60, p=[0.3, 0.14, 0.14, 0.14, 0.14, 0.14])
    p_hat = np.bincount(rolls, minlength=6) / len(rolls)
    entropy = -np.sum(p_hat[p_hat > 0] * np.log(p_hat[p_hat > 0]))
    cross_entropy, kl = SoftmaxCrossEntropy(), KLDivergence()
    for _ in range(5):
        z = rng.normal(size=(1, 6))
        q = np.exp(log_softmax(np, z))
        ce = float(cross_entropy(z, p_hat[None]))
        assert abs(ce - (-np.mean(np.log(q[0, rolls])))) < EXACT, "H(p_hat, q) must equal the mean NLL of the rolls"
        assert abs(ce - float(kl(q, p_hat[None])) - entropy) < EXACT, "H(p_hat, q) - KL must be H(p_hat)"
        assert float(kl(q, p_hat[None])) > 0, "Gibbs: KL(p_hat || q) > 0 for q != p_hat"
    z = np.zeros((1, 6))
    for _ in range(2000):
        cross_entropy(z, p_hat[None])
        z -= cross_entropy.backward()
    q_ml = np.exp(log_softmax(np, z))[0]
    assert np.max(np.abs(q_ml - p_hat)) < 1e-10, f"maximum likelihood should count: {q_ml} vs {p_hat}"
    assert abs(float(kl(q_ml[None], p_hat[None]))) < 1e-10


def test_three_forms_of_the_binary_cross_entropy_agree():
    rng = np.random.default_rng(2)
    u = rng.normal(scale=4.0, size=(500, 1))
    y = (rng.random((500, 1)) < 0.5).astype(float)
    values = [float(BinaryCrossEntropy()(sigmoid(np, u), y)), float(BCEWithLogits()(u, y)),
              float(LogisticLoss()(u, 2 * y - 1))]
    assert np.ptp(values) < 1e-10, f"the three forms differ: {values}"


def test_cross_entropy_recovers_from_a_confidently_wrong_start_and_squared_error_does_not():
    X, y = two_gaussians(200, mean0=(-1.5, 0.0), mean1=(1.5, 0.0), rng=0)
    y = y[:, None]

    def wrong_start():
        neuron = Dense(2, 1, rng=0)
        neuron.set_parameters({"W": np.array([[-4.0, 0.0]]), "b": np.array([0.0])})
        return neuron

    assert np.mean((wrong_start()(X) > 0) == (y == 1)) < 0.1, "the start should be confidently wrong"
    ce = wrong_start()
    fit(ce, X, y, loss="bce_with_logits", method="batch", lr=1.0, epochs=5, progress=False)
    se = Sequential(wrong_start(), get_activation("sigmoid"))
    fit(se, X, y, loss="squared_error", method="batch", lr=1.0, epochs=100, progress=False)
    acc_ce = np.mean((ce(X) > 0) == (y == 1))
    acc_se = np.mean((se(X) > 0.5) == (y == 1))
    assert acc_ce > 0.9, f"cross-entropy accuracy after 5 epochs {acc_ce}"
    assert acc_se < 0.1, f"squared-error accuracy after 100 epochs {acc_se}"


def test_log_sum_exp_is_a_soft_maximum():
    rng = np.random.default_rng(8)
    for k in (2, 3, 10, 100):
        z = rng.normal(scale=10, size=(50, k))
        lse = z[:, :1] - log_softmax(np, z)[:, :1]          # LSE(z) = z_0 - log softmax(z)_0
        m = z.max(axis=1, keepdims=True)
        assert np.all(m <= lse + EXACT) and np.all(lse <= m + np.log(k) + EXACT), f"LSE bounds fail for K = {k}"


def test_learning_is_dominated_by_wrong_predictions():
    loss = SoftmaxCrossEntropy()
    norms = {}
    for name, z in {"right": [8.0, 0.0, 0.0], "wrong": [0.0, 8.0, 0.0]}.items():
        loss(np.array([z]), np.array([0]))
        norms[name] = np.linalg.norm(loss.backward())
    assert norms["wrong"] <= math.sqrt(2) and norms["wrong"] > 1000 * norms["right"], norms


@pytest.mark.parametrize("case", ["identity", "sigmoid", "softmax"])
def test_output_and_loss_pairs_share_the_gradient(case):
    rng = np.random.default_rng(3)
    n = 8
    loss, u, y = {
        "identity": (SquaredError(), rng.normal(size=(n, 3)), rng.normal(size=(n, 3))),
        "sigmoid": (BCEWithLogits(), rng.normal(scale=3, size=(n, 1)), (rng.random((n, 1)) < 0.5).astype(float)),
        "softmax": (SoftmaxCrossEntropy(), rng.normal(scale=3, size=(n, 4)), np.eye(4)[rng.integers(0, 4, n)]),
    }[case]
    loss(u, y)
    grad = loss.backward()
    shared = get_activation(case)(u) - y
    assert np.max(np.abs(n * grad - shared)) < EXACT, f"{case}: n * dL/du != sigma(u) - y"
    report = check_gradients(lambda p: loss(p["u"], y), {"u": u}, {"u": grad})
    assert report.ok, str(report)


def test_naive_formulas_overflow_where_the_stable_forms_do_not():
    with np.errstate(all="ignore"):
        assert np.isinf(np.exp(np.float64(710.0))) and np.isinf(np.exp(np.float32(89.0)))
        for dtype, first_zero in ((np.float64, 37), (np.float32, 17)):
            u = np.arange(1, 200, dtype=dtype)
            assert u[1 - 1 / (1 + np.exp(-u)) == 0][0] == first_zero, f"{dtype.__name__}: 1 - sigma(u) == 0 onset"
        z = np.array([[1000.0, 0.0, -1000.0]])
        naive = np.exp(z) / np.sum(np.exp(z), axis=1, keepdims=True)
        assert np.isnan(naive[0, 0]) and np.isinf(np.log(naive[0, 2]))
        assert np.isinf(-np.log(1 - 1 / (1 + np.exp(-40.0)))), "naive BCE with label 0 at u = 40 is inf"
    assert np.array_equal(log_softmax(np, z), np.array([[0.0, -1000.0, -2000.0]]))
    assert float(softplus(np, np.array(40.0))) == 40.0
    u_huge, y_huge = np.array([[1e4], [-1e4]]), np.array([[0.0], [1.0]])
    assert float(BCEWithLogits()(u_huge, y_huge)) == 1e4
    with np.errstate(divide="ignore"):
        assert float(BinaryCrossEntropy()(sigmoid(np, u_huge), y_huge)) == 100.0, "the clamped loss reports 100"
    assert [float(SoftmaxCrossEntropy()(np.array([[1e4, 0.0, -1e4]]), np.array([c]))) for c in range(3)] == [
        0.0, 1e4, 2e4]


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
def test_losses_agree_on_numpy_and_torch():
    rng = np.random.default_rng(4)
    cases = [(SquaredError, rng.normal(size=(64, 3)), rng.normal(size=(64, 3))),
             (BCEWithLogits, rng.normal(scale=50, size=(64, 1)), (rng.random((64, 1)) < 0.5).astype(float)),
             (SoftmaxCrossEntropy, rng.normal(scale=50, size=(64, 5)), rng.integers(0, 5, 64))]
    for cls, u, y in cases:
        results = []
        for backend in ("numpy", "torch"):
            loss = cls()
            value = float(loss(nnref.asarray(u, backend=backend), nnref.asarray(y, backend=backend)))
            results.append((value, nnref.to_numpy(loss.backward())))
        assert abs(results[0][0] - results[1][0]) < 1e-10 * max(1.0, abs(results[0][0])), cls.__name__
        assert np.max(np.abs(results[0][1] - results[1][1])) < EXACT, cls.__name__


# ----------------------------------------------------------------------------------------------
# Chapter 9: regularisation and residual networks
# ----------------------------------------------------------------------------------------------

N_FEATURES = 20
SIZES = [N_FEATURES, 64, 64, 1]


def moons_in_noise(n, rng, flip=0.0):
    rng = np.random.default_rng(rng)
    X2, y = moons(n, noise=0.15, rng=rng)
    X = np.concatenate([X2, 0.5 * rng.standard_normal((n, N_FEATURES - 2))], axis=1)
    flipped = rng.random(n) < flip
    return X, np.where(flipped, 1 - y, y)[:, None]


def train(model, X, y, X_val, y_val, *, loss="bce_with_logits", epochs=400, lr=0.1, weight_decay=0.0,
          input_noise=0.0, rng=0):
    loss, optimiser, rng = nnref.get_loss(loss), SGD(model, lr), np.random.default_rng(rng)
    curves = {"train": [], "val": []}
    for _ in range(epochs):
        X_step = X + input_noise * rng.standard_normal(X.shape) if input_noise else X
        loss_and_grad(model, loss, X_step, y)
        grads, params = model.gradients(), model.parameters()
        optimiser.step({k: g + weight_decay * params[k] if k.endswith("W") else g for k, g in grads.items()})
        curves["train"].append(evaluate(model, loss, X, y))
        curves["val"].append(evaluate(model, loss, X_val, y_val))
    return {k: np.array(v) for k, v in curves.items()}


def weight_norm(model):
    return math.sqrt(sum(float(np.sum(nnref.to_numpy(v) ** 2)) for k, v in model.parameters().items()
                         if k.endswith("W")))


@pytest.fixture(scope="module")
def running_example():
    X, y = moons_in_noise(60, rng=3, flip=0.1)
    X_val, y_val = moons_in_noise(400, rng=1)
    return X, y, X_val, y_val


@pytest.fixture(scope="module")
def baseline(running_example):
    model = MLP(SIZES, output="sigmoid", init="he", rng=0)
    return model, train(model, *running_example)


@pytest.mark.parametrize("p, n_layers", [(32, 4), (10, 1), (7, 3)])
def test_parameter_count_is_p2n_plus_pn(p, n_layers):
    assert MLP([p] * (n_layers + 1)).num_parameters() == p**2 * n_layers + p * n_layers


def test_the_running_example_is_over_parameterised_and_overfits(running_example, baseline):
    X, y, _, _ = running_example
    model, curves = baseline
    assert model.num_parameters() / len(X) > 50, "the chapter speaks of about 93 parameters per example"
    model.eval()
    assert np.mean((model(X) > 0) == (y == 1)) == 1.0, "the network should memorise every training label"
    model.train()
    assert curves["train"][-1] < 0.05, f"training loss {curves['train'][-1]}"
    best = int(np.argmin(curves["val"]))
    assert 10 < best < 200 and curves["val"][-1] > curves["val"][best] + 0.1, (
        f"validation loss should fall, bottom out after a few dozen epochs and rise: best {best}, "
        f"lowest {curves['val'][best]}, final {curves['val'][-1]}"
    )


def test_every_regulariser_lowers_the_final_validation_loss(running_example, baseline):
    base_model, base = baseline

    def mlp_with_dropout(p_input, p_hidden, rng=0):
        rng = np.random.default_rng(rng)
        modules = [Dropout(p_input, rng=rng)]
        for n_in, n_out in zip(SIZES[:-2], SIZES[1:-1]):
            modules += [Dense(n_in, n_out, "he", rng=rng), get_activation("relu"), Dropout(p_hidden, rng=rng)]
        modules.append(Dense(SIZES[-2], SIZES[-1], "he", rng=rng))
        return Sequential(*modules)

    decayed = MLP(SIZES, output="sigmoid", init="he", rng=0)
    results = {
        "weight decay 0.1": train(decayed, *running_example, weight_decay=0.1),
        "input noise 0.3": train(MLP(SIZES, output="sigmoid", init="he", rng=0), *running_example, input_noise=0.3),
        "dropout 0.2 / 0.5": train(mlp_with_dropout(0.2, 0.5), *running_example),
    }
    for name, curves in results.items():
        assert curves["val"][-1] < base["val"][-1] - 0.05, f"{name}: {curves['val'][-1]} vs {base['val'][-1]}"
        assert curves["train"][-1] > base["train"][-1], f"{name} should keep the training loss higher"
    assert weight_norm(decayed) < weight_norm(base_model) / 2, "weight decay should shrink the weights"
    underfit = train(MLP(SIZES, output="sigmoid", init="he", rng=0), *running_example, epochs=200, weight_decay=1.0)
    assert abs(underfit["train"][-1] - math.log(2)) < 0.01, "lambda = 1 leaves only the constant prediction"


def test_early_stopping_keeps_the_best_epoch(running_example, baseline):
    X, y, X_val, y_val = running_example
    _, base = baseline
    model = MLP(SIZES, output="sigmoid", init="he", rng=0)
    history = fit(model, X, y, method="batch", lr=0.1, epochs=400, X_val=X_val, y_val=y_val, patience=50,
                  progress=False)
    assert history.stopped_early and len(history.val_loss) < 400
    assert history.best_epoch == int(np.argmin(base["val"])), "fit and the chapter's loop follow one trajectory"
    restored = evaluate(model, model.default_loss(), X_val, y_val)
    assert abs(restored - min(history.val_loss)) < EXACT, "early stopping must restore the best parameters"
    assert restored < base["val"][-1] - 0.1


def test_ridge_closed_form_matches_gradient_descent_with_weight_decay():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(30, 5))
    y = X @ np.array([1.0, -2.0, 0.0, 0.5, 0.0]) + 0.3 + 0.5 * rng.normal(size=30)
    lam, (n, d) = 0.1, X.shape
    layer = Dense(5, 1, rng=0)
    train(layer, X, y[:, None], X, y[:, None], loss="squared_error", epochs=1000, lr=0.1, weight_decay=lam)
    A = np.column_stack([X, np.ones(n)])
    closed_form = np.linalg.solve(A.T @ A + np.diag([n * lam] * d + [0.0]), A.T @ y)
    by_descent = np.append(layer.params["W"][0], layer.params["b"])
    assert np.max(np.abs(by_descent - closed_form)) < 1e-10
    least_squares = np.linalg.lstsq(A, y, rcond=None)[0]
    assert np.linalg.norm(closed_form[:d]) < np.linalg.norm(least_squares[:d])


def test_inverted_dropout_statistics():
    p, samples = 0.5, 20000
    dropout = Dropout(p, rng=0)
    z = np.random.default_rng(0).normal(size=(1, 8))
    out = np.concatenate([dropout(z) for _ in range(samples)])
    zero_fraction = np.mean(out == 0)
    assert abs(zero_fraction - p) < 5 * math.sqrt(p * (1 - p) / out.size), zero_fraction
    # each entry of out is z/(1-p) or 0: standard deviation |z| sqrt(p/(1-p)) per sample
    bound = 5 * np.abs(z) * math.sqrt(p / (1 - p) / samples)
    assert np.all(np.abs(out.mean(axis=0) - z) < bound), "the average over masks must be the input"
    g = np.ones_like(z)
    assert np.array_equal(dropout.backward(g), dropout._mask * g), "backward must reuse the forward mask"
    dropout.eval()
    assert np.array_equal(dropout(z), z)


def deep_network(depth, skip, init="he", width=32, rng=0):
    rng = np.random.default_rng(rng)
    modules = [Dense(N_FEATURES, width, "he", rng=rng), get_activation("relu")]
    for _ in range(depth - 1):
        modules += ([Residual(width, init="normal", rng=rng)] if skip
                    else [Dense(width, width, init, rng=rng), get_activation("relu")])
    modules.append(Dense(width, 1, "he", rng=rng))
    return Sequential(*modules)


def per_layer_gradient_norms(model, X, y):
    loss = nnref.get_loss("bce_with_logits")
    loss(model(X), y)
    grad, norms = loss.backward(), []
    for module in reversed(model.modules):
        grad = module.backward(grad)
        if isinstance(module, (Dense, Residual)):
            norms.append(float(np.linalg.norm(grad)))
    return np.array(norms[::-1])


def test_zero_residual_blocks_are_the_identity(running_example):
    X, _, X_val, _ = running_example
    rng = np.random.default_rng(0)
    shallow = Sequential(Dense(N_FEATURES, 32, "he", rng=rng), get_activation("relu"), Dense(32, 1, "he", rng=rng))
    blocks = [Residual(32, rng=rng) for _ in range(10)]
    for block in blocks:
        block.set_parameters({"dense.W": np.zeros((32, 32)), "dense.b": np.zeros(32)})
    deeper = Sequential(*shallow.modules[:2], *blocks, shallow.modules[2])
    assert np.array_equal(shallow(X_val), deeper(X_val))
    g = np.random.default_rng(1).normal(size=(len(X_val), 32))
    for block in blocks:
        block(np.abs(g))
        assert np.array_equal(block.backward(g), g), "a zero block passes gradients through unchanged"


def test_gradients_through_residual_blocks_obey_their_bounds(running_example):
    X, y, _, _ = running_example
    ratio = {}
    for name, net in {"glorot": deep_network(50, False, "glorot"), "he": deep_network(50, False, "he"),
                      "residual": deep_network(50, True)}.items():
        norms = per_layer_gradient_norms(net, X, y)
        ratio[name] = norms[0] / norms[-1]
        if name == "residual":
            blocks = [m for m in net.modules if isinstance(m, Residual)]
            r = norms[1:-1] / norms[2:]          # input / output gradient norm of each block
            s = np.array([float(spectral_norm(b.dense.params["W"])) for b in blocks])
            assert len(r) == len(s) == 49
            assert np.all(1 - s <= r + EXACT) and np.all(r <= 1 + s + EXACT), "per-block bound violated"
    assert ratio["glorot"] < 1e-6, f"plain Glorot network: gradient should vanish, ratio {ratio['glorot']}"
    assert ratio["he"] < 0.1, f"plain He network: gradient should shrink by > 10x, ratio {ratio['he']}"
    assert 0.5 < ratio["residual"] < 2, f"residual network: ratio {ratio['residual']}"


def test_depth_hurts_plain_training_and_not_residual_training(running_example):
    X, y, X_val, y_val = running_example
    final = {(depth, skip): train(deep_network(depth, skip), X, y, X_val[:200], y_val[:200], epochs=150)["train"][-1]
             for depth, skip in [(2, False), (24, False), (24, True)]}
    assert final[(24, False)] > 0.5, f"the plain 24-layer network should stay near log 2: {final}"
    assert final[(2, False)] < 0.2 and final[(24, True)] < 0.05, final


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
def test_residual_training_agrees_on_numpy_and_torch(running_example):
    runs = []
    for backend in ("numpy", "torch"):
        with nnref.use_backend(backend):
            data = [nnref.asarray(a) for a in running_example]
            runs.append(train(deep_network(8, True), *data, epochs=10, weight_decay=1e-2))
    for key in ("train", "val"):
        assert np.max(np.abs(runs[0][key] - runs[1][key])) < 1e-10, key


def test_input_dropout_on_a_linear_model_is_ridge_in_expectation():
    """The solution of the chapter's exercise, by enumerating every mask of a 4-input model."""
    rng = np.random.default_rng(6)
    x, w, y, rho = rng.normal(size=4), rng.normal(size=4), 0.7, 0.8
    expected = 0.0
    for mask in itertools.product((0, 1), repeat=4):
        m = np.array(mask)
        probability = np.prod(np.where(m == 1, rho, 1 - rho))
        expected += probability * 0.5 * (y - w @ (m * x / rho)) ** 2
    formula = 0.5 * (y - w @ x) ** 2 + (1 - rho) / (2 * rho) * np.sum(w**2 * x**2)
    assert abs(expected - formula) < EXACT, f"E over masks {expected} != formula {formula}"
