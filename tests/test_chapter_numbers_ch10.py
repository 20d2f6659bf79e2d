"""The numerical claims of chapter 10 (training in practice), checked with nnref.

Each test recomputes, with the reference package and the chapter's seeds, a
fact that the chapter's prose states or its figures show, so that a change in
nnref (or in the pinned scikit-learn or torch) that falsifies the text fails
here before the book is rebuilt.  The chapter's small helpers (the data split,
the digits model, the training loop) are repeated here in a few lines, since
chapters cannot be imported.

Tolerances: agreement with torch is float64 round-off (1e-12 on coordinates
of size ~2 after 100 steps, 1e-10 on losses after a thousand steps, where the
chapter shows 1e-15); the experiments' claims use the margins the text relies on.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import HAS_TORCH

import nnref
from nnref import BatchNorm1d, Dense, Sequential, get_activation
from nnref.data import spirals
from nnref.init import normal
from nnref.models import MLP
from nnref.optim import SGD, evaluate, loss_and_grad
from nnref.optimizers import Adam, Momentum, RMSProp
from nnref.schedules import CosineAnnealingLR, LinearLR, SequentialLR

sklearn_datasets = pytest.importorskip("sklearn.datasets", reason="scikit-learn is not installed")
from sklearn.model_selection import train_test_split  # noqa: E402

SIZES = [64, 128, 64, 10]
LOG_10 = math.log(10)


@pytest.fixture(scope="module")
def digits():
    """The chapter's split (60/20/20, stratified, seed 0) and standardisation by the training set."""
    data = sklearn_datasets.load_digits()
    X_all, y_all = data.data, data.target
    rest, test_idx = train_test_split(np.arange(len(y_all)), test_size=0.2, stratify=y_all, random_state=0)
    train_idx, val_idx = train_test_split(rest, test_size=0.25, stratify=y_all[rest], random_state=0)
    mean, std = X_all[train_idx].mean(axis=0), X_all[train_idx].std(axis=0)
    scale = np.where(std == 0, 1.0, std)
    return {name: ((X_all[idx] - mean) / scale, y_all[idx])
            for name, idx in (("train", train_idx), ("val", val_idx), ("test", test_idx))}


def digits_model(seed=0, last_scale=0.1):
    model = MLP(SIZES, activation="relu", output="softmax", init="he", rng=seed)
    last = len(model.modules) - 1
    model.set_parameters({f"{last}.W": last_scale * model.modules[last].params["W"]})
    return model


def test_the_digits_ship_with_the_package_and_split_as_stated(digits):
    sizes = {k: len(v[1]) for k, v in digits.items()}
    assert sizes == {"train": 1077, "val": 360, "test": 360}, sizes
    assert np.all(np.bincount(digits["test"][1]) >= 35), "the test split is stratified: 35 or more of each digit"


def test_loss_at_initialisation_is_log_c_once_the_output_layer_is_scaled(digits):
    X, y = digits["train"]
    loss = digits_model().default_loss()
    scaled, plain = (float(loss(digits_model(last_scale=s)(X), y)) for s in (0.1, 1.0))
    assert abs(scaled - LOG_10) < 0.05, f"scaled output layer: loss {scaled}, log 10 = {LOG_10}"
    assert plain > LOG_10 + 0.3, f"plain He initialisation should start well above log 10, got {plain}"


def test_a_tiny_batch_is_memorised(digits):
    X, y = digits["train"]
    model = digits_model()
    loss, optimizer = model.default_loss(), Adam(model, lr=1e-2)
    for _ in range(200):
        loss_and_grad(model, loss, X[:20], y[:20])
        optimizer.step()
    final = evaluate(model, loss, X[:20], y[:20])
    assert final < 1e-4, f"200 Adam steps on 20 examples left the loss at {final}"


def test_the_range_test_picks_the_rate_the_chapter_trains_with(digits):
    """Adam with the rate growing from 1e-5 to 1 over 120 minibatches: the smoothed loss is lowest
    between 1e-2 and 1e-1, and a tenth of that, to one digit, is the chapter's 0.002."""
    X, y = digits["train"]
    model, rng = digits_model(), np.random.default_rng(0)
    loss, optimizer = model.default_loss(), Adam(model, lr=1e-5)
    factor = 1e5 ** (1 / 119)
    order = np.concatenate([rng.permutation(len(X)) for _ in range(4)])
    rates, smoothed, average = [], [], 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(120):
            rows = order[t * 32:(t + 1) * 32]
            average = 0.9 * average + 0.1 * loss_and_grad(model, loss, X[rows], y[rows])
            smoothed.append(average / (1 - 0.9 ** (t + 1)))
            rates.append(optimizer.lr)
            if smoothed[-1] > 4 * min(smoothed):
                break
            optimizer.step()
            optimizer.lr *= factor
    best = rates[int(np.argmin(smoothed))]
    assert 1e-2 < best < 1e-1 and float(f"{best / 10:.1g}") == 2e-3, f"lowest loss at lr = {best}"


def _surface_gradient(theta):
    x, y = theta[..., 0], theta[..., 1]
    return np.stack([(4 * x**3 - 8 * x + 1) / 4 - 2 * (y - x / 2), 4 * (y - x / 2)], axis=-1)


class _Point(nnref.Module):
    def __init__(self, theta):
        super().__init__()
        self.params["theta"] = np.array(theta, dtype=float)


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
@pytest.mark.parametrize("name", ["SGD", "heavy ball", "Nesterov", "RMSProp", "Adam"])
def test_optimiser_paths_on_the_two_well_surface_equal_torch_optim(name):
    import torch

    ours_of = {"SGD": lambda m: SGD(m, 0.05), "heavy ball": lambda m: Momentum(m, 0.05, momentum=0.9),
               "Nesterov": lambda m: Momentum(m, 0.05, momentum=0.9, nesterov=True),
               "RMSProp": lambda m: RMSProp(m, 0.05, alpha=0.9), "Adam": lambda m: Adam(m, 0.05)}
    theirs_of = {"SGD": lambda p: torch.optim.SGD(p, 0.05),
                 "heavy ball": lambda p: torch.optim.SGD(p, 0.05, momentum=0.9),
                 "Nesterov": lambda p: torch.optim.SGD(p, 0.05, momentum=0.9, nesterov=True),
                 "RMSProp": lambda p: torch.optim.RMSprop(p, 0.05, alpha=0.9),
                 "Adam": lambda p: torch.optim.Adam(p, 0.05)}
    point = _Point((2.5, -2.0))
    ours = ours_of[name](point)
    theta = torch.tensor((2.5, -2.0), dtype=torch.float64, requires_grad=True)
    theirs = theirs_of[name]([theta])
    for step in range(100):
        ours.step({"theta": _surface_gradient(point.params["theta"])})
        theta.grad = torch.from_numpy(_surface_gradient(theta.detach().numpy()))
        theirs.step()
        gap = float(np.max(np.abs(point.params["theta"] - theta.detach().numpy())))
        assert gap < 1e-12, f"{name}, step {step + 1}: nnref {point.params['theta']}, torch {theta.detach()}"


def _gaussian_init(scale):
    def init(n_in, n_out, rng=None, dtype="float64", backend=None, device=None):
        return normal(n_in, n_out, scale / math.sqrt(n_in), rng, dtype, backend, device)
    return init


def _deep_network(activation, depth, width, batchnorm, scale, seed=0):
    rng, modules, n_in = np.random.default_rng(seed), [], 2
    for _ in range(depth):
        modules.append(Dense(n_in, width, init=_gaussian_init(scale), rng=rng))
        if batchnorm:
            modules.append(BatchNorm1d(width))
        modules.append(get_activation(activation))
        n_in = width
    modules.append(Dense(width, 1, init=_gaussian_init(scale), rng=rng))
    return Sequential(*modules)


@pytest.fixture(scope="module")
def spiral():
    X, y = spirals(200, turns=1.0, noise=0.03, rng=0)
    return X, y.astype(np.float64)[:, None]


def test_batchnorm_keeps_the_first_layers_gradient_in_a_deep_sigmoid_network(spiral):
    X, Y = spiral
    bce = nnref.get_loss("bce_with_logits")
    ratio = {}
    for bn in (False, True):
        model = _deep_network("sigmoid", 10, 64, bn, 1 / math.sqrt(3))
        loss_and_grad(model, bce, X, Y)
        norms = [float(np.linalg.norm(m.grads["W"])) for m in model.modules if isinstance(m, Dense)]
        ratio[bn] = norms[0] / norms[-2]
    assert ratio[False] < 1e-6, f"without batchnorm the first layer should get a vanishing gradient: {ratio}"
    assert 0.1 < ratio[True] < 100, f"with batchnorm every layer's gradient should be of the same order: {ratio}"


@pytest.mark.slow
def test_batchnorm_lets_chapter_5s_sigmoid_network_fit_the_spiral(spiral):
    X, Y = spiral
    bce = nnref.get_loss("bce_with_logits")
    accuracy = {}
    for bn in (False, True):
        model = _deep_network("sigmoid", 3, 8, bn, 1.0)
        optimizer, rng = SGD(model, 0.3), np.random.default_rng(0)
        for _ in range(150):
            order = rng.permutation(len(X))
            for start in range(0, len(X), 40):
                rows = order[start:start + 40]
                loss_and_grad(model, bce, X[rows], Y[rows])
                optimizer.step()
        model.eval()
        accuracy[bn] = float(np.mean((nnref.to_numpy(model(X)) > 0) == (Y > 0.5)))
    assert accuracy[False] <= 0.7 and accuracy[True] >= 0.95, accuracy


def _train_digits(digits, lr=2e-3, epochs=30, warmup=3):
    X, y = digits["train"]
    model = digits_model()
    loss, optimizer = model.default_loss(), Adam(model, lr=lr)
    scheduler = SequentialLR(optimizer, [LinearLR(optimizer, start_factor=0.1, total_iters=warmup),
                                         CosineAnnealingLR(optimizer, T_max=epochs - warmup)], milestones=[warmup])
    rng, batch_losses = np.random.default_rng(0), []
    for _ in range(epochs):
        order = rng.permutation(len(X))
        for start in range(0, len(X), 32):
            rows = order[start:start + 32]
            batch_losses.append(loss_and_grad(model, loss, X[rows], y[rows]))
            optimizer.step()
        scheduler.step()
    return model, np.array(batch_losses)


@pytest.mark.slow
@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
def test_digits_reach_the_stated_accuracy_and_pytorch_takes_the_same_steps(digits):
    """The chapter's rate comes from its range test (0.002 at the pins); its PyTorch run starts from
    the same weights, sees the same minibatches and must give the same losses to round-off."""
    import torch
    from torch import nn

    start = {k: v.copy() for k, v in digits_model().parameters().items()}
    model, ours = _train_digits(digits)
    model.eval()
    X_test, y_test = digits["test"]
    accuracy = float(np.mean(np.argmax(model(X_test), axis=1) == y_test))
    assert accuracy >= 0.95, f"test accuracy {accuracy}: the chapter states about 97%"

    X, y = digits["train"]
    linears = [nn.Linear(a, b, dtype=torch.float64) for a, b in zip(SIZES[:-1], SIZES[1:])]
    net = nn.Sequential(linears[0], nn.ReLU(), linears[1], nn.ReLU(), linears[2])
    with torch.no_grad():
        for j, linear in enumerate(linears):
            linear.weight.copy_(torch.from_numpy(start[f"{2 * j}.W"]))
            linear.bias.copy_(torch.from_numpy(start[f"{2 * j}.b"]))
    optimizer = torch.optim.Adam(net.parameters(), lr=2e-3)
    scheduler = torch.optim.lr_scheduler.SequentialLR(
        optimizer, [torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.1, total_iters=3),
                    torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=27)], milestones=[3])
    rng, theirs = np.random.default_rng(0), []
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(y)
    for _ in range(30):
        order = rng.permutation(len(X))
        for start_row in range(0, len(X), 32):
            rows = torch.from_numpy(order[start_row:start_row + 32])
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(net(X_t[rows]), y_t[rows])
            loss.backward()
            optimizer.step()
            theirs.append(loss.item())
        scheduler.step()
    gap = float(np.max(np.abs(np.array(theirs) - ours)))
    assert len(theirs) == len(ours) and gap < 1e-10, f"max |nnref - torch| over the minibatch losses = {gap}"
