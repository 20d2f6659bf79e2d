"""The numerical claims of chapters 5 (vanishing gradients) and 6 (the ReLU family), checked with nnref.

Each test recomputes, with the reference package and the chapter's seeds, a
fact that the chapter's prose states, so that a change in nnref that
falsifies the text fails here before the book is rebuilt.  The chapters'
small helpers (the per-layer backward pass, the Gaussian initialiser of
scale s, the dead-unit count, the zig-zag run) are repeated here in a few
lines, since chapters cannot be imported.

Tolerances: inequalities that hold exactly in real arithmetic get a relative
slack of 1e-12 (float64 round-off over a few dozen operations); Monte Carlo
averages get five standard errors; thresholds on measured ratios and error
rates are the ones the prose states.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import HAS_TORCH, torch

from nnref.activations import (
    ELU,
    SELU,
    AbsRect,
    CReLU,
    LeakyReLU,
    Maxout,
    PReLU,
    ReLU,
    RReLU,
    Sigmoid,
    Softplus,
    Tanh,
)
from nnref.constraints import (
    clip_by_norm,
    project_elementwise,
    project_frobenius,
    project_spectral,
    spectral_norm,
)
from nnref.data import circles, moons, spirals
from nnref.gradcheck import check_gradients
from nnref.init import normal
from nnref.layers import Dense, Sequential
from nnref.models import MLP
from nnref.optim import fit

ROUNDOFF = 1e-12


def gaussian_init(scale):
    """W ~ N(0, scale² / n_in), the chapter's initialiser of weight scale s."""
    def init(n_in, n_out, rng=None, dtype="float64", backend=None, device=None):
        return normal(n_in, n_out, scale / math.sqrt(n_in), rng, dtype, backend, device)
    return init


def layer_gradients(model, X, y):
    """Per-example ∂ℓ/∂v_j of every dense layer, first to last (chapter 5's helper)."""
    loss = model.default_loss()
    loss(model(X), y)
    grad, found = loss.backward() * X.shape[0], []
    for module in reversed(model.modules):
        if isinstance(module, Dense):
            found.append(grad)
        grad = module.backward(grad)
    return found[::-1]


def backward_deltas(net, delta):
    """δ_j leaving every dense layer of `net`, from δ_(L+1) = delta; returned as [δ_1, ..., δ_(L+1)]."""
    deltas = [delta]
    for module in reversed(net.modules):
        delta = module.backward(delta)
        if isinstance(module, Dense):
            deltas.append(delta)
    return deltas[::-1]


def accuracy(model, X, y):
    return float(np.mean((model.predict(X) > 0.5) == (y > 0.5)))


@pytest.fixture(scope="module")
def spiral_256():
    X, y = spirals(256, turns=1.0, noise=0.03, rng=0)
    return X, y.astype(np.float64)[:, None]


@pytest.fixture(scope="module")
def spiral_200():
    X, y = spirals(200, turns=1.0, noise=0.03, rng=0)
    return X, y.astype(np.float64)[:, None]


# ----------------------------------------------------------------------------------------------
# Chapter 5: the sigmoid chain and the network bound
# ----------------------------------------------------------------------------------------------

def test_sigmoid_derivative_peaks_at_one_quarter_at_zero():
    u = np.concatenate([np.linspace(-40, 40, 80_001), [0.0]])
    d = Sigmoid().derivative(u)
    assert d.max() == pytest.approx(0.25, abs=ROUNDOFF)
    assert np.all(d[u != 0] < 0.25) and np.all(d >= 0)


def test_three_sigmoid_chain_gradient_is_the_product_of_local_derivatives():
    w, x = [0.8, -0.6, 0.9], 1.5
    chain = Sequential(*[m for _ in w for m in (Dense(1, 1), Sigmoid())])
    chain.set_parameters({f"{2 * j}.W": np.array([[w_j]]) for j, w_j in enumerate(w)})
    chain(np.array([[x]]))
    chain.backward(np.ones((1, 1)))
    by_backprop = float(chain.gradients()["0.W"][0, 0])
    s, d = Sigmoid(), lambda u: float(Sigmoid().derivative(np.array(u)))
    u1 = w[0] * x
    u3 = w[1] * float(s(np.array(u1)))
    u5 = w[2] * float(s(np.array(u3)))
    by_formula = d(u5) * w[2] * d(u3) * w[1] * d(u1) * x
    assert by_backprop == pytest.approx(by_formula, rel=ROUNDOFF)
    assert abs(by_backprop) < x / 4**3          # the prose: well below the bound |x|/64
    assert abs(by_backprop) == pytest.approx(0.0083, abs=5e-5)


def test_random_sigmoid_chains_obey_the_bound_and_shrink_exponentially():
    rng, x, sigmoid = np.random.default_rng(0), 1.5, Sigmoid()
    medians = []
    for L in range(1, 13):
        weights = rng.uniform(-1, 1, size=(L, 10_000))
        z, derivatives = np.full(10_000, x), []
        for w_j in weights:
            u = w_j * z
            z = sigmoid(u)
            derivatives.append(sigmoid.derivative(u))
        g = np.abs(x * np.prod(derivatives, axis=0) * np.prod(weights[1:], axis=0))
        assert g.max() <= x / 4**L * (1 + ROUNDOFF), f"depth {L}: {g.max()} above the bound {x / 4**L}"
        medians.append(np.median(g))
    assert all(b < a / 4 for a, b in zip(medians, medians[1:])), medians
    assert medians[-1] < 1e-11                  # "about 1e-12" with twelve layers


def test_sigmoid_network_with_unit_spectral_norms_obeys_the_vanishing_bound():
    L, width, n = 6, 16, 200
    rng = np.random.default_rng(1)
    net = Sequential(*[m for _ in range(L) for m in (Dense(width, width, init="spectral", rng=rng), Sigmoid())])
    net.set_parameters({f"{2 * j}.b": rng.normal(size=width) for j in range(L)})
    for dense in net.modules[::2]:
        assert float(spectral_norm(dense.params["W"])) == pytest.approx(1.0, abs=ROUNDOFF)
    net(rng.normal(size=(n, width)))
    deltas = backward_deltas(net, rng.normal(size=(n, width)))
    top = np.linalg.norm(deltas[L], axis=1)
    for j in range(1, L + 1):
        ratio = np.linalg.norm(deltas[j - 1], axis=1) / top
        assert np.all(ratio <= 0.25 ** (L - j + 1) * (1 + ROUNDOFF)), f"layer {j}: max ratio {ratio.max()}"


# ----------------------------------------------------------------------------------------------
# Chapter 5: the Glorot picture, the lectures' experiments, initialisation
# ----------------------------------------------------------------------------------------------

def first_to_last(activation, depth, scale, X, y):
    model = MLP([2] + [64] * depth + [1], activation=activation, output="sigmoid", init=gaussian_init(scale), rng=0)
    g = layer_gradients(model, X, y)
    return np.linalg.norm(g[0]) / np.linalg.norm(g[-2])


def test_first_to_last_gradient_ratios_follow_the_initialisation_argument(spiral_256):
    X, y = spiral_256
    standard = 1 / math.sqrt(3)
    # with the standard initialisation, ten sigmoid layers lose many orders of magnitude, tanh and ReLU fewer
    sigmoid10 = first_to_last("sigmoid", 10, standard, X, y)
    assert sigmoid10 < 1e-6
    assert sigmoid10 < first_to_last("relu", 10, standard, X, y) < first_to_last("tanh", 10, standard, X, y) < 1e-1
    # Glorot keeps tanh, He keeps ReLU, at ten layers; ReLU vanishes below He and explodes above
    assert 0.2 < first_to_last("tanh", 10, 1.0, X, y) < 5
    assert 0.2 < first_to_last("relu", 10, math.sqrt(2), X, y) < 5
    assert first_to_last("relu", 10, 1.0, X, y) < 0.1
    assert first_to_last("relu", 10, 2.0, X, y) > 10
    for scale in (standard, 1.0, math.sqrt(2), 2.0):
        assert first_to_last("sigmoid", 10, scale, X, y) < 1e-3, f"sigmoid at scale {scale}"


def test_widget_extremes_stay_inside_its_axes(spiral_256):
    """The widget's axes span RMS gradients from 1e-20 to 1e4; every frame fits (sizes beyond are clipped)."""
    X, y = spiral_256
    for activation, depth, scale in (("sigmoid", 20, 0.58), ("relu", 20, 2.0)):
        model = MLP([2] + [64] * depth + [1], activation=activation, output="sigmoid",
                    init=gaussian_init(scale), rng=0)
        rms = [math.log10(np.linalg.norm(g) / math.sqrt(g.size)) for g in layer_gradients(model, X, y)]
        assert -20 < min(rms) and max(rms) < 4, (activation, scale, rms)


def test_sigmoid_layers_get_little_gradient_and_fail_on_the_spiral_where_relu_succeeds(spiral_200):
    X, y = spiral_200

    def share(model):
        loss = model.default_loss()
        loss(model(X), y)
        model.backward(loss.backward())
        layers = model.dense_layers
        return np.linalg.norm(layers[0].grads["W"]) / np.linalg.norm(layers[-1].grads["W"])

    sigmoid = MLP([2, 8, 8, 8, 1], activation="sigmoid", output="sigmoid", rng=0)
    relu = MLP([2, 8, 8, 8, 1], activation="relu", output="sigmoid", rng=0)
    assert share(sigmoid) < 1 / 20                 # "between 21 and 146 times smaller"
    assert share(relu) > 0.5
    for model in (sigmoid, relu):
        fit(model, X, y, method="minibatch", batch_size=20, lr=0.3, epochs=300, rng=0, progress=False)
    assert accuracy(sigmoid, X, y) < 0.75
    assert accuracy(relu, X, y) >= 0.95


def test_single_sigmoid_layer_separates_the_circles():
    X, y = circles(200, noise=0.05, rng=0)
    model = MLP([2, 8, 1], activation="sigmoid", output="sigmoid", rng=0)
    fit(model, X, y[:, None], method="minibatch", batch_size=20, lr=0.3, epochs=300, rng=0, progress=False)
    assert accuracy(model, X, y[:, None]) >= 0.95


# ----------------------------------------------------------------------------------------------
# Chapter 5: clipping and norm constraints
# ----------------------------------------------------------------------------------------------

def test_clip_by_norm_caps_the_norm_and_keeps_the_direction():
    rng = np.random.default_rng(0)
    grads = {"W": rng.normal(size=(5, 3)) * 10, "b": rng.normal(size=5) * 10}
    clipped, before = clip_by_norm(grads, 1.0)
    after = math.sqrt(sum(float(np.sum(g**2)) for g in clipped.values()))
    assert after == pytest.approx(1.0, rel=ROUNDOFF)
    for k in grads:
        np.testing.assert_allclose(clipped[k] * float(before), grads[k], rtol=1e-12)


def test_clipping_rescues_a_network_whose_gradients_explode(spiral_200):
    X, y = spiral_200
    outcomes = {}
    for clip in (None, 1.0):
        model = MLP([2] + [32] * 8 + [1], activation="relu", output="sigmoid", init=gaussian_init(2.5), rng=0)
        history = fit(model, X, y, method="minibatch", batch_size=20, lr=0.05, epochs=100, clip_norm=clip,
                      rng=0, progress=False)
        outcomes[clip] = (history.diverged, None if history.diverged else accuracy(model, X, y))
    assert outcomes[None][0], "without clipping the chapter says training diverges"
    assert not outcomes[1.0][0] and outcomes[1.0][1] >= 0.95, outcomes


def test_projections_bound_the_spectral_norm():
    rng = np.random.default_rng(2)
    for _ in range(200):
        W = rng.normal(scale=3.0, size=tuple(rng.integers(2, 40, size=2)))
        for project in (project_spectral, project_frobenius, project_elementwise):
            assert float(spectral_norm(project(W))) <= 1 + ROUNDOFF, project.__name__


def test_constrained_network_obeys_its_forward_and_backward_bounds():
    X, y = circles(200, noise=0.05, rng=0)
    model = MLP([2, 32, 32, 32, 1], activation="relu", output="sigmoid", init="spectral", rng=0)
    # the bounds hold after every projected step; 30 of the chapter's 100 epochs keep the test fast
    fit(model, X, y[:, None], method="minibatch", batch_size=20, lr=0.5, epochs=30, constraint="spectral",
        rng=0, progress=False)
    for dense in model.dense_layers:
        assert float(spectral_norm(dense.params["W"])) <= 1 + ROUNDOFF
    states, z = [X], X
    for module in model.modules:
        z = module(z)
        if not isinstance(module, Dense) or module is model.modules[-1]:
            states.append(z)
    for j, dense in enumerate(model.dense_layers):
        d_j = float(np.linalg.norm(dense.params["b"]))
        lhs, rhs = np.linalg.norm(states[j + 1], axis=1), np.linalg.norm(states[j], axis=1) + d_j
        assert np.all(lhs <= rhs * (1 + ROUNDOFF)), f"forward bound fails at layer {j + 1}"
    deltas = backward_deltas(model, np.random.default_rng(3).normal(size=(X.shape[0], 1)))
    for j in range(len(deltas) - 1):
        ratio = np.linalg.norm(deltas[j], axis=1) / np.linalg.norm(deltas[j + 1], axis=1)
        assert np.all(ratio <= 1 + ROUNDOFF), f"backward bound fails at layer {j + 1}: {ratio.max()}"


# ----------------------------------------------------------------------------------------------
# Chapter 6: the ReLU, dead units, sparsity
# ----------------------------------------------------------------------------------------------

def test_relu_chain_gradient_is_the_product_of_weights_or_zero():
    def gradient(w, x):
        chain = Sequential(*[m for _ in w for m in (Dense(1, 1), ReLU())])
        chain.set_parameters({f"{2 * j}.W": np.array([[w_j]]) for j, w_j in enumerate(w)})
        chain(np.array([[x]]))
        chain.backward(np.ones((1, 1)))
        return float(chain.gradients()["0.W"][0, 0])

    assert gradient([0.8, 0.6, 0.9], 1.5) == pytest.approx(0.81, rel=ROUNDOFF)
    assert gradient([0.8, -0.6, 0.9], 1.5) == 0.0


def test_saturation_numbers():
    five = np.array([5.0])
    assert float(Sigmoid().derivative(five)[0]) == pytest.approx(0.00665, abs=1e-5)
    assert float(Tanh().derivative(five)[0]) == pytest.approx(0.00018, abs=1e-5)
    assert np.all(ReLU().derivative(np.array([1e-3, 5.0, 1e6])) == 1)
    assert float(ReLU().derivative(np.array([0.0]))[0]) == 0.0        # the convention at the kink


def inactive_units(model, X):
    return np.all(model.modules[0](X) <= 0, axis=0)


def test_dead_first_layer_units_never_change_and_never_return():
    X, y = moons(300, noise=0.2, rng=0)
    model = MLP([2, 64, 1], activation=[ReLU()], output="sigmoid", init="he", rng=1)
    rng = np.random.default_rng(1)
    before, ever_dead, revived = inactive_units(model, X), False, 0
    for _ in range(15):
        W0, b0 = model.modules[0].params["W"].copy(), model.modules[0].params["b"].copy()
        fit(model, X, y[:, None], method="minibatch", batch_size=10, lr=3.0, epochs=1, rng=rng, progress=False)
        after = inactive_units(model, X)
        if before.any():
            ever_dead = True
            assert np.array_equal(model.modules[0].params["W"][before], W0[before])
            assert np.array_equal(model.modules[0].params["b"][before], b0[before])
        revived += int(np.sum(before & ~after))
        before = after
    assert ever_dead, "with learning rate 3.0 some units should die (the chapter's experiment)"
    assert revived == 0


def test_leaky_units_on_their_negative_side_still_learn():
    X, y = moons(300, noise=0.2, rng=0)
    model = MLP([2, 64, 1], activation=[LeakyReLU(0.1)], output="sigmoid", init="he", rng=1)
    rng = np.random.default_rng(1)
    before, revived = inactive_units(model, X), 0
    for _ in range(30):
        fit(model, X, y[:, None], method="minibatch", batch_size=10, lr=3.0, epochs=1, rng=rng, progress=False)
        after = inactive_units(model, X)
        revived += int(np.sum(before & ~after))
        before = after
    assert revived > 0


def test_about_half_of_relu_outputs_are_zero_at_initialisation():
    X, _ = moons(300, noise=0.2, rng=0)
    zeros = []
    for seed in range(10):
        model = MLP([2] + [32] * 5 + [1], init="he", rng=seed)
        z, outputs = X, []
        for module in model.modules[:-1]:
            z = module(z)
            if isinstance(module, ReLU):
                outputs.append(z)
        zeros.append(np.mean(np.concatenate(outputs, axis=1) == 0))
    assert 0.35 < np.mean(zeros) < 0.65


# ----------------------------------------------------------------------------------------------
# Chapter 6: the family
# ----------------------------------------------------------------------------------------------

@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
def test_leaky_relu_and_rrelu_follow_pytorch_conventions():
    u = np.linspace(-3, 3, 13)
    for slope in (0.01, 1 / 5.5):
        theirs = torch.nn.functional.leaky_relu(torch.tensor(u), negative_slope=slope).numpy()
        np.testing.assert_allclose(LeakyReLU(slope)(u), theirs, rtol=0, atol=ROUNDOFF)
    assert LeakyReLU().negative_slope == torch.nn.LeakyReLU().negative_slope == 0.01
    assert (RReLU().lower, RReLU().upper) == pytest.approx((torch.nn.RReLU().lower, torch.nn.RReLU().upper))


def test_prelu_slope_gradient_matches_central_differences():
    rng = np.random.default_rng(0)
    prelu = PReLU(num_parameters=4, init=0.25)
    U, G = rng.normal(size=(50, 4)), rng.normal(size=(50, 4))
    prelu(U)
    prelu.backward(G)

    def loss_of_slopes(params):
        prelu.set_parameters(params)
        return float(np.sum(G * prelu(U)))

    check_gradients(loss_of_slopes, {"a": prelu.params["a"].copy()}, {"a": prelu.grads["a"]}).raise_if_failed()


def test_rrelu_evaluation_output_is_the_mean_training_output():
    rrelu = RReLU(lower=1 / 8, upper=1 / 3, rng=0)
    u = np.array([-2.0, -1.0, 0.5, 2.0])
    n = 20_000
    average = np.mean([rrelu(u) for _ in range(n)], axis=0)
    rrelu.eval()
    standard_error = (1 / 3 - 1 / 8) / math.sqrt(12) * np.abs(u) / math.sqrt(n)
    assert np.all(np.abs(average - rrelu(u)) <= 5 * standard_error + ROUNDOFF)


def test_xu_and_pytorch_rrelu_slopes_differ():
    a = np.random.default_rng(0).uniform(3, 8, size=1_000_000)
    mean_slope = np.mean(1 / a)
    assert mean_slope == pytest.approx(math.log(8 / 3) / 5, abs=5 * np.std(1 / a) / 1000)
    assert math.log(8 / 3) / 5 - 1 / 5.5 > 0.01           # 0.196 against 0.182
    assert (1 / 8 + 1 / 3) / 2 == pytest.approx(0.229, abs=1e-3)


def test_mean_outputs_on_standard_normal_inputs():
    z = np.random.default_rng(1).normal(size=1_000_000)
    relu_mean, elu_mean = float(np.mean(ReLU()(z))), float(np.mean(ELU()(z)))
    assert relu_mean == pytest.approx(1 / math.sqrt(2 * math.pi), abs=5 * 0.58 / 1000)
    assert elu_mean < relu_mean / 2
    assert abs(float(np.mean(SELU()(z)))) < 0.01


def layer_statistics(activation, gain, depth=30, width=128, seed=0):
    rng = np.random.default_rng(seed)
    z, stats = rng.normal(size=(1000, width)), []
    for _ in range(depth):
        W = rng.normal(size=(width, width)) * gain / math.sqrt(width)
        z = activation(z @ W.T)
        stats.append((z.mean(), z.var()))
    return np.array(stats)


def test_selu_keeps_mean_zero_and_variance_one_through_thirty_layers():
    selu = layer_statistics(SELU(), 1.0)
    # finite width (128) and sample (1000) make the statistics fluctuate by a few per cent per layer
    assert np.all(np.abs(selu[:, 0]) < 0.05) and np.all(np.abs(selu[:, 1] - 1) < 0.15), selu[-1]
    for other in (ELU(), Tanh()):
        assert layer_statistics(other, 1.0)[-1, 1] < 0.2


def test_maxout_with_two_pieces_recovers_relu_abs_and_leaky():
    u = np.linspace(-2, 2, 9)[:, None]
    for first, second, reference in ((u, 0 * u, ReLU()), (u, -u, AbsRect()), (u, 0.1 * u, LeakyReLU(0.1))):
        np.testing.assert_allclose(Maxout(k=2)(np.concatenate([first, second], axis=1)), reference(u), atol=0)
    both = CReLU()(u)
    assert both.shape == (9, 2) and np.array_equal(both[:, :1] - both[:, 1:], u)


def test_softplus_derivative_is_the_sigmoid_and_it_stays_within_log2_of_relu():
    u = np.linspace(-30, 30, 60_001)
    exact = Softplus(threshold=math.inf)
    np.testing.assert_allclose(exact.derivative(u), Sigmoid()(u), rtol=0, atol=1e-15)
    gap = exact(u) - ReLU()(u)
    assert np.all(gap > 0) and gap.max() == pytest.approx(math.log(2), abs=ROUNDOFF)
    # the default threshold 20 (torch's) returns u itself above it: less than e^-20 away
    shortcut = np.abs(Softplus()(u) - exact(u)).max()
    assert 0 < shortcut < math.exp(-20)


def test_positive_inputs_force_same_sign_steps_and_an_elongated_valley():
    rng = np.random.default_rng(0)
    H = rng.normal(size=(500, 2))
    w_star = np.array([1.0, -1.0])
    found = {}
    for name, act in (("sigmoid", Sigmoid()), ("tanh", Tanh())):
        X = act(H)
        y = X @ w_star
        w, steps = np.zeros(2), []
        for i in rng.permutation(len(X))[:60]:
            step = -0.5 * (X[i] @ w - y[i]) * X[i]
            w = w + step
            steps.append(step)
        steps = np.array(steps)
        eig = np.linalg.eigvalsh(X.T @ X / len(X))
        found[name] = (np.mean(np.sign(steps[:, 0]) == np.sign(steps[:, 1])), eig[-1] / eig[0])
    assert found["sigmoid"][0] == 1.0
    assert found["tanh"][0] < 0.7
    assert found["sigmoid"][1] > 5 and found["tanh"][1] < 2


def test_independent_sigmoids_can_say_both_labels_where_a_softmax_cannot():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(400, 2))
    Y = (X > 0).astype(np.float64)
    model = MLP([2, 16, 2], activation="relu", output="sigmoid", rng=0)
    fit(model, X, Y, method="minibatch", batch_size=20, lr=0.5, epochs=100, rng=0, progress=False)
    both = model.predict(np.array([[0.7, 0.7]]))[0]
    assert both.min() > 0.5
    logits = model(np.array([[0.7, 0.7]]))[0]
    softmax = np.exp(logits) / np.exp(logits).sum()
    assert softmax.sum() == pytest.approx(1.0, abs=ROUNDOFF) and softmax.min() <= 0.5
