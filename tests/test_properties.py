"""Algebraic properties that hold for every input, checked with hypothesis.

Each property is computed by the package alone (no oracle), so these catch
errors that a comparison on a few fixed inputs can miss: a sign, a branch
taken for large inputs only, an overflow at |logit| = 1e4.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import HAS_TORCH, TOL, assert_close, to_backend, to_np64, torch, torch64
from hypothesis import example, given, settings
from strategies import MAX_EXAMPLES, arrays, floats, logits_and_binary_labels, logits_and_class_labels

import nnref

SETTINGS = settings(deadline=None, max_examples=MAX_EXAMPLES)
NEEDS_TORCH = pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed (it is the oracle for σ)")


def apply(name, x_np, backend, dtype="float64", **kwargs):
    """An activation of the registry applied to a NumPy array on the test backend, as float64 NumPy."""
    return to_np64(nnref.get_activation(name, **kwargs).forward(to_backend(x_np, backend, dtype)))


@SETTINGS
@given(x=arrays(-60.0, 60.0))
def test_sigmoid_of_minus_x_is_one_minus_sigmoid(backend, x):
    assert_close(apply("sigmoid", -x, backend), 1.0 - apply("sigmoid", x, backend), "float64", "σ(−x) vs 1 − σ(x)")


@SETTINGS
@given(z=arrays(-50.0, 50.0), c=floats(-100.0, 100.0))
def test_softmax_rows_sum_to_one_and_ignore_a_constant_shift(backend, z, c):
    s = apply("softmax", z, backend)
    assert np.all(s >= 0), f"softmax gave a negative entry: {s}"
    assert_close(s.sum(axis=-1), np.ones(z.shape[0]), "float64", "row sums of softmax(z)")
    assert_close(apply("softmax", z + c, backend), s, "float64", f"softmax(z + {c}) vs softmax(z)")


@SETTINGS
@given(x=arrays(-1e3, 1e3))
def test_relu_is_idempotent_and_nonnegative(backend, x):
    y = apply("relu", x, backend)
    assert np.all(y >= 0), f"relu gave a negative entry: {y}"
    assert_close(apply("relu", y, backend), y, "float64", "relu(relu(x)) vs relu(x)")


@SETTINGS
@given(x=arrays(-30.0, 30.0))
def test_tanh_is_odd(backend, x):
    assert_close(apply("tanh", -x, backend), -apply("tanh", x, backend), "float64", "tanh(−x) vs −tanh(x)")


@SETTINGS
@given(x=arrays(-100.0, 100.0))
@example(x=np.array([[20.015625]]))  # just past the shortcut's threshold: once a failure of this test
def test_softplus_of_x_minus_softplus_of_minus_x_is_x(backend, x):
    """Exactly without torch's shortcut (x itself where βx > threshold); with it, softplus(x) drops a term
    below e^(−threshold) (2e-9 at the default 20, as nnref's Softplus documents): hypothesis found
    x = 20.015625, where the difference is x − 2.0e-9."""
    exact = apply("softplus", x, backend, threshold=np.inf) - apply("softplus", -x, backend, threshold=np.inf)
    assert_close(exact, x, "float64", "softplus(x) − softplus(−x) vs x, no shortcut")
    threshold = nnref.get_activation("softplus").threshold
    difference = apply("softplus", x, backend) - apply("softplus", -x, backend)
    assert_close(difference, x, "float64", "softplus(x) − softplus(−x) vs x, torch's shortcut",
                 rtol=TOL["float64"]["rtol"], atol=float(np.exp(-threshold)))


@SETTINGS
@given(alpha=floats(0.1, 3.0), eps=floats(1e-12, 1e-6))
def test_elu_is_continuous_at_zero(backend, alpha, eps):
    y = apply("elu", np.array([[-eps, 0.0, eps]]), backend, alpha=alpha)[0]
    assert abs(y[1]) <= TOL["float64"]["atol"], f"elu(0) = {y[1]}, expected 0"
    # both one-sided slopes are at most max(1, α), so a jump shows as a gap much larger than this
    bound = (1.0 + alpha) * eps * (1.0 + 1e-6)
    assert abs(y[2] - y[0]) <= bound, f"elu(ε) − elu(−ε) = {y[2] - y[0]} for ε = {eps}, α = {alpha}; bound {bound}"


def _check_stable(name, logits, y, y_backend_dtype, backend, dtype, expected_value, expected_grad):
    loss = nnref.get_loss(name)
    value = loss.forward(logits, to_backend(y, backend, y_backend_dtype))
    grad = loss.backward()
    assert np.isfinite(to_np64(value)) and np.all(np.isfinite(to_np64(grad))), f"{name}: {value}, {grad}"
    assert_close(value, expected_value, dtype, f"{name} vs the float64 closed form")
    assert_close(grad, expected_grad, dtype, f"{name}: dL/du vs the float64 closed form")


@NEEDS_TORCH
@SETTINGS
@given(data=logits_and_binary_labels(bound=1e4))
def test_bce_with_logits_is_finite_and_right_up_to_1e4(backend, dtype, data):
    u_np, t = data
    u = to_backend(u_np, backend, dtype)
    u64, n = to_np64(u), len(t)  # the closed form sees the same (rounded) logits
    expected = np.sum(np.logaddexp(0.0, u64) - t * u64) / n
    sigma = torch.sigmoid(torch64(u64)).numpy()
    _check_stable("bce_with_logits", u, t, dtype, backend, dtype, expected, (sigma - t) / n)


@NEEDS_TORCH
@SETTINGS
@given(data=logits_and_binary_labels(bound=1e4, signed=True))
def test_logistic_loss_is_finite_and_right_up_to_1e4(backend, dtype, data):
    u_np, y = data
    u = to_backend(u_np, backend, dtype)
    u64, n = to_np64(u), len(y)
    expected = np.sum(np.logaddexp(0.0, -y * u64)) / n
    sigma = torch.sigmoid(torch64(u64)).numpy()
    _check_stable("logistic", u, y, dtype, backend, dtype, expected, (sigma - (y + 1) / 2) / n)


@SETTINGS
@given(data=logits_and_class_labels(bound=1e4))
def test_softmax_cross_entropy_is_finite_and_right_up_to_1e4(backend, dtype, data):
    z_np, labels = data
    z = to_backend(z_np, backend, dtype)
    z64, (n, k) = to_np64(z), z_np.shape
    log_p = z64 - np.logaddexp.reduce(z64, axis=1, keepdims=True)
    one_hot = np.eye(k)[labels]
    expected = -np.sum(one_hot * log_p) / n
    _check_stable("softmax_cross_entropy", z, labels, None, backend, dtype, expected, (np.exp(log_p) - one_hot) / n)
