"""Hidden tests of assignment 07_losses: binary cross-entropy and softmax cross-entropy from logits,
squared error, each with its gradient, and the Gaussian negative log-likelihood behind squared error.

Oracles: torch.autograd in float64 (``binary_cross_entropy_with_logits``, ``cross_entropy``,
``distributions.Normal``).  Logits reach ±10⁴ so that an unstable formula overflows; batches of one
example are included; class counts never equal batch sizes, so a transposed result cannot pass.
Losses are means over the batch, so every gradient carries a factor 1/n.
"""

from __future__ import annotations

import numpy as np

from autograder import oracles
from autograder.checks import assert_close, call, describe, named, to_array, to_scalar, unpack
from autograder.parts import Parts
from nnref.activations import sigmoid, softplus

PARTS = Parts()


def _bce_case(seed):
    rng = np.random.default_rng(700 + seed)
    n = (1, 5, 8, 6)[seed]
    u = 3.0 * rng.standard_normal(n)
    if seed >= 2:
        u[:3] = (1e4, -1e4, 800.0)  # overflow exp(u) in float64 unless the formula is stable
    return u, rng.integers(0, 2, n).astype(np.float64)


@oracles.cached
def bce_oracle(u, y):
    t = oracles.torch()
    return oracles.value_and_grad(lambda u, y: t.nn.functional.binary_cross_entropy_with_logits(u, y), {"u": u, "y": y},
                                  wrt=("u",))


def _bce(bce_with_logits, seed):
    u, y = _bce_case(seed)
    out = call(bce_with_logits, "bce_with_logits(u, y)", u=u, y=y)
    loss, du = unpack(out, "bce_with_logits(u, y)", ("loss", "du"))
    return u, y, loss, du, bce_oracle(u, y), describe(u=u, y=y) + f", max |u| {np.max(np.abs(u)):.3g}"


@PARTS.add("test_bce_loss", points=2, uses=("bce_with_logits",))
def check_bce_loss(bce_with_logits):
    """ℓ = (1/n) Σᵢ softplus(uᵢ) − yᵢuᵢ, finite for |u| = 10⁴."""
    for seed in range(4):
        u, y, loss, _, ref, case = _bce(bce_with_logits, seed)
        assert_close(np.array([to_scalar(loss, "the loss")]), np.array([ref["value"]]),
                     "the loss from bce_with_logits", case=case, batch_size=len(u),
                     mistakes={named("batch_factor",
                                     "the loss summed over the batch instead of averaged"):
                               [np.sum(softplus(np, u) - y * u)],
                               "the sign of the y·u term is flipped": [np.mean(softplus(np, u) + y * u)],
                               "the labels are swapped (1 − y instead of y)": [np.mean(softplus(np, u) - (1 - y) * u)]})


@PARTS.add("test_bce_grad", points=2, uses=("bce_with_logits",))
def check_bce_grad(bce_with_logits):
    """∂ℓ/∂u = (σ(u) − y) / n."""
    for seed in range(4):
        u, y, _, du, ref, case = _bce(bce_with_logits, seed)
        assert_close(to_array(du, "du"), ref["du"], "du from bce_with_logits", case=case, batch_size=len(u),
                     mistakes={"the sigmoid is missing: (u − y)/n instead of (σ(u) − y)/n": (u - y) / len(u),
                               "the derivative of the log of the probability of class 1 only":
                                   (sigmoid(np, u) - 1) / len(u)})


def _ce_case(seed):
    rng = np.random.default_rng(720 + seed)
    n, k = ((1, 4), (5, 3), (6, 4), (3, 5))[seed]
    Z = 2.0 * rng.standard_normal((n, k))
    if seed >= 2:
        Z[0] *= 5e3  # a row of logits around 10⁴ beside rows of ordinary size
    return Z, rng.integers(0, k, n)


@oracles.cached
def ce_oracle(Z, y):
    t = oracles.torch()
    labels = t.tensor(np.asarray(y, dtype=np.int64))
    return oracles.value_and_grad(lambda Z: t.nn.functional.cross_entropy(Z, labels), {"Z": Z}, wrt=("Z",))


def _ce(softmax_cross_entropy, seed):
    Z, y = _ce_case(seed)
    out = call(softmax_cross_entropy, "softmax_cross_entropy(Z, y)", Z=Z, y=y)
    loss, dZ = unpack(out, "softmax_cross_entropy(Z, y)", ("loss", "dZ"))
    return Z, y, loss, dZ, ce_oracle(Z, y.astype(np.float64)), describe(Z=Z, y=y) + f", max |Z| {np.max(np.abs(Z)):.3g}"


def _log_softmax(Z):
    return Z - np.logaddexp.reduce(Z, axis=1, keepdims=True)


@PARTS.add("test_softmax_ce_loss", points=2, uses=("softmax_cross_entropy",))
def check_softmax_ce_loss(softmax_cross_entropy):
    """ℓ = (1/n) Σᵢ log Σⱼ exp(Zᵢⱼ) − Zᵢ,yᵢ, finite for logits of 10⁴."""
    for seed in range(4):
        Z, y, loss, _, ref, case = _ce(softmax_cross_entropy, seed)
        picked = -_log_softmax(Z)[np.arange(len(y)), y]
        assert_close(np.array([to_scalar(loss, "the loss")]), np.array([ref["value"]]),
                     "the loss from softmax_cross_entropy", case=case, batch_size=len(y),
                     mistakes={named("batch_factor",
                                     "the loss summed over the batch instead of averaged"): [picked.sum()],
                               "the mean over every class, not only the true one": [np.mean(-_log_softmax(Z))],
                               "the sign is flipped: log-likelihood instead of its negative": [-picked.mean()]})


@PARTS.add("test_softmax_ce_grad", points=2, uses=("softmax_cross_entropy",))
def check_softmax_ce_grad(softmax_cross_entropy):
    """∂ℓ/∂Z = (softmax(Z) − onehot(y)) / n."""
    for seed in range(4):
        Z, y, _, dZ, ref, case = _ce(softmax_cross_entropy, seed)
        P, onehot = np.exp(_log_softmax(Z)), np.eye(Z.shape[1])[y]
        assert_close(to_array(dZ, "dZ"), ref["dZ"], "dZ from softmax_cross_entropy", case=case, batch_size=len(y),
                     mistakes={"the one-hot target is not subtracted: softmax(Z)/n": P / len(y),
                               "−onehot(y)/n only: the softmax term is missing": -onehot / len(y)})


def _se_case(seed):
    rng = np.random.default_rng(740 + seed)
    n, d = ((1, 3), (5, 2), (7, 4))[seed]
    return rng.standard_normal((n, d)), rng.standard_normal((n, d))


@oracles.cached
def se_oracle(y_hat, y):
    return oracles.value_and_grad(lambda y_hat, y: 0.5 * ((y_hat - y) ** 2).sum(dim=1).mean(),
                                  {"y_hat": y_hat, "y": y}, wrt=("y_hat",))


def _se(squared_error, seed):
    y_hat, y = _se_case(seed)
    loss, grad = unpack(call(squared_error, "squared_error(y_hat, y)", y_hat=y_hat, y=y), "squared_error(y_hat, y)",
                        ("loss", "grad"))
    return y_hat, y, loss, grad, se_oracle(y_hat, y), describe(y_hat=y_hat, y=y)


@PARTS.add("test_squared_error_loss", points=1, uses=("squared_error",))
def check_squared_error_loss(squared_error):
    """ℓ = (1/n) Σᵢ ½‖ŷᵢ − yᵢ‖²."""
    for seed in range(3):
        y_hat, y, loss, _, ref, case = _se(squared_error, seed)
        r = y_hat - y
        assert_close(np.array([to_scalar(loss, "the loss")]), np.array([ref["value"]]),
                     "the loss from squared_error", case=case, batch_size=len(y),
                     mistakes={"the mean over every entry (also over the outputs), not over the examples":
                               [0.5 * np.mean(r**2)],
                               "the factor ½ is missing": [np.sum(r**2) / len(y)]})


@PARTS.add("test_squared_error_grad", points=1, uses=("squared_error",))
def check_squared_error_grad(squared_error):
    """∂ℓ/∂ŷ = (ŷ − y) / n."""
    for seed in range(3):
        y_hat, y, _, grad, ref, case = _se(squared_error, seed)
        assert_close(to_array(grad, "grad"), ref["dy_hat"], "grad from squared_error", case=case, batch_size=len(y),
                     mistakes={"divided by every entry n·d instead of n": (y_hat - y) / y.size,
                               "twice too large: the ½ of the loss cancels the 2 of the square":
                                   2 * (y_hat - y) / len(y)})


@oracles.cached
def gaussian_oracle(y_hat, y, sigma):
    t = oracles.torch()
    return oracles.value_and_grad(
        lambda y_hat, y: -t.distributions.Normal(y_hat, t.tensor(float(sigma), dtype=t.float64)).log_prob(y)
        .sum(dim=1).mean(), {"y_hat": y_hat, "y": y}, wrt=("y_hat",))


@PARTS.add("test_gaussian_nll", points=2, uses=("gaussian_nll",))
def check_gaussian_nll(gaussian_nll):
    """−(1/n) Σᵢ log N(yᵢ; ŷᵢ, σ²I) = (1/n) Σᵢ ‖ŷᵢ − yᵢ‖²/(2σ²) + (d/2) log(2πσ²)."""
    for seed, sigma in zip(range(3), (0.5, 2.0, 1.3)):
        y_hat, y = _se_case(seed)
        got = to_scalar(call(gaussian_nll, "gaussian_nll(y_hat, y, sigma)", y_hat=y_hat, y=y, sigma=sigma),
                        "gaussian_nll(y_hat, y, sigma)")
        n, d = y.shape
        fit = np.sum((y_hat - y) ** 2) / (2 * sigma**2 * n)
        assert_close(np.array([got]), np.array([gaussian_oracle(y_hat, y, sigma)["value"]]),
                     "gaussian_nll(y_hat, y, sigma)", case=describe(y_hat=y_hat, y=y) + f", sigma {sigma}",
                     mistakes={"the constant (d/2) log(2πσ²) is missing": [fit],
                               "the constant is counted once, not once per output dimension (d/2)":
                                   [fit + 0.5 * np.log(2 * np.pi * sigma**2)],
                               "σ instead of σ² in the fit term": [fit * sigma + d / 2 * np.log(2 * np.pi * sigma**2)],
                               "summed over the batch instead of averaged":
                                   [n * (fit + d / 2 * np.log(2 * np.pi * sigma**2))]})
