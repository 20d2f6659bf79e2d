"""Every loss in ``nnref.LOSSES``: values and gradients against torch, stability, bad input.

A loss returns the mean over the samples, L = (1/n) Σᵢ ℓ(ŷᵢ, yᵢ), so each
oracle is torch's ``reduction="sum"`` divided by n.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from helpers import assert_close, assert_on, to_backend, to_np64, torch64

import nnref

torch = pytest.importorskip("torch")
F = torch.nn.functional

N, K = 5, 4  # samples, classes (or output width)


def _softmax_rows(rng, shape):
    e = np.exp(rng.standard_normal(shape))
    return e / e.sum(axis=-1, keepdims=True)


def _kl_target(rng):
    p = _softmax_rows(rng, (N, K))
    p[0, 0] = 0.0  # 0 · log 0 counts as 0
    return p / p.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class Case:
    """A loss, how to draw (y_hat, y) as float64 NumPy arrays, and torch's value for them."""

    loss: str
    draw: Callable  # rng -> (y_hat, y)
    oracle: Callable  # (y_hat, y) as CPU tensors -> 0-d tensor
    labels: bool = False  # y holds integer class indices


CASES = {
    "squared_error": Case(
        "squared_error",
        lambda rng: (rng.standard_normal((N, K)), rng.standard_normal((N, K))),
        lambda y_hat, y: F.mse_loss(y_hat, y, reduction="sum") / (2 * N),
    ),
    "binary_cross_entropy": Case(
        "binary_cross_entropy",
        lambda rng: (rng.uniform(0.05, 0.95, N), rng.integers(0, 2, N).astype(float)),
        lambda p, y: F.binary_cross_entropy(p, y, reduction="sum") / N,
    ),
    "bce_with_logits": Case(
        "bce_with_logits",
        lambda rng: (3 * rng.standard_normal(N), rng.integers(0, 2, N).astype(float)),
        lambda u, y: F.binary_cross_entropy_with_logits(u, y, reduction="sum") / N,
    ),
    "logistic": Case(
        "logistic",
        lambda rng: (3 * rng.standard_normal(N), rng.choice([-1.0, 1.0], N)),
        lambda u, y: torch.logaddexp(torch.zeros_like(u), -y * u).sum() / N,  # softplus(−y u)
    ),
    "softmax_cross_entropy-labels": Case(
        "softmax_cross_entropy",
        lambda rng: (2 * rng.standard_normal((N, K)), rng.integers(0, K, N)),
        lambda z, y: F.cross_entropy(z, y, reduction="sum") / N,
        labels=True,
    ),
    "softmax_cross_entropy-one_hot": Case(
        "softmax_cross_entropy",
        lambda rng: (2 * rng.standard_normal((N, K)), np.eye(K)[rng.integers(0, K, N)]),
        lambda z, y: F.cross_entropy(z, y, reduction="sum") / N,
    ),
    "kl_divergence": Case(
        "kl_divergence",
        lambda rng: (_softmax_rows(rng, (N, K)), _kl_target(rng)),
        lambda q, p: F.kl_div(q.log(), p, reduction="sum") / N,
    ),
}
FLOAT_TARGET_CASES = [c for c in CASES if not CASES[c].labels]
STABLE = ("bce_with_logits", "logistic", "softmax_cross_entropy")


def draw(case_id: str, backend: str, dtype: str, seed: int = 0):
    """(y_hat, y) on the test backend; integer labels keep their integer dtype."""
    case = CASES[case_id]
    y_hat, y = case.draw(np.random.default_rng(seed))
    return to_backend(y_hat, backend, dtype), to_backend(y, backend, None if case.labels else dtype)


def oracle_inputs(case_id: str, y_hat, y):
    """float64 CPU tensors for torch (class indices as int64); y_hat tracks gradients."""
    y_t = torch.as_tensor(np.asarray(to_np64(y), dtype=np.int64)) if CASES[case_id].labels else torch64(y)
    return torch64(y_hat, requires_grad=True), y_t


@pytest.mark.parametrize("name", sorted(nnref.LOSSES))
def test_every_registered_loss_has_a_case(name):
    if not any(case.loss == name for case in CASES.values()):
        pytest.fail(f"loss {name!r} is in nnref.LOSSES but has no torch oracle in CASES")


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_forward_matches_torch(case_id, backend, dtype):
    y_hat, y = draw(case_id, backend, dtype)
    value = nnref.get_loss(CASES[case_id].loss).forward(y_hat, y)
    assert_close(value, CASES[case_id].oracle(*oracle_inputs(case_id, y_hat, y)), dtype, f"{case_id}(y_hat, y)")


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_backward_matches_autograd(case_id, backend, dtype):
    y_hat, y = draw(case_id, backend, dtype)
    loss = nnref.get_loss(CASES[case_id].loss)
    loss.forward(y_hat, y)
    grad = loss.backward()

    y_hat64, y64 = oracle_inputs(case_id, y_hat, y)
    CASES[case_id].oracle(y_hat64, y64).backward()
    assert_close(grad, y_hat64.grad, dtype, f"{case_id}: dL/dy_hat")


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_backend_device_and_dtype_are_preserved(case_id, backend, dtype):
    y_hat, y = draw(case_id, backend, dtype)
    loss = nnref.get_loss(CASES[case_id].loss)
    value = loss.forward(y_hat, y)
    assert tuple(value.shape) == (), f"{case_id}: the loss should be 0-d, got shape {tuple(value.shape)}"
    assert_on(value, backend, dtype, f"{case_id} value")
    grad = loss.backward()
    assert tuple(grad.shape) == tuple(y_hat.shape), f"{case_id}: gradient shape {tuple(grad.shape)}"
    assert_on(grad, backend, dtype, f"{case_id} gradient")


@pytest.mark.parametrize("name", sorted(nnref.LOSSES))
def test_backward_before_forward_raises(name):
    with pytest.raises(RuntimeError, match="before forward"):
        nnref.get_loss(name).backward()


def test_unknown_loss_lists_the_known_ones():
    with pytest.raises(ValueError, match="hinge_squared") as info:
        nnref.get_loss("hinge_squared")
    missing = [name for name in nnref.LOSSES if name not in str(info.value)]
    assert not missing, f"the message should list every known loss, lacks {missing}: {info.value}"


# --- stability: logits of size 1e4, against float64 closed forms in NumPy ------------------------------------


def _stable_case(name):
    """(logits, y, expected loss, expected gradient), closed forms via np.logaddexp."""
    if name == "softmax_cross_entropy":
        z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5e3], [3.0, -1e4, 1e4], [-1e4, -1e4, -1e4]])
        y = np.eye(3)[[0, 0, 1, 2]]
        log_z = np.logaddexp.reduce(z, axis=1, keepdims=True)
        return z, y, np.sum(-y * (z - log_z)) / 4, (np.exp(z - log_z) - y) / 4
    u = np.array([1e4, -1e4, 1e4, -1e4, 0.5, -7.0])
    t = np.array([1.0, 1.0, 0.0, 0.0, 1.0, 0.0])  # 0/1 targets
    y = t if name == "bce_with_logits" else 2 * t - 1
    # ℓ = log(1 + e^u) − t u for both label conventions
    return u, y, np.sum(np.logaddexp(0.0, u) - t * u) / 6, (torch.sigmoid(torch64(u)).numpy() - t) / 6


@pytest.mark.parametrize("name", STABLE)
def test_stable_losses_are_finite_and_right_at_large_logits(name, backend, dtype):
    logits, y, expected_value, expected_grad = _stable_case(name)
    loss = nnref.get_loss(name)
    value = loss.forward(to_backend(logits, backend, dtype), to_backend(y, backend, dtype))
    grad = loss.backward()
    assert np.isfinite(to_np64(value)), f"{name} at |logit| = 1e4 gave {value}"
    assert np.all(np.isfinite(to_np64(grad))), f"{name} gradient at |logit| = 1e4 gave {grad}"
    assert_close(value, expected_value, dtype, f"{name} at |logit| = 1e4")
    assert_close(grad, expected_grad, dtype, f"{name}: dL/du at |logit| = 1e4")


@pytest.mark.parametrize(
    "case_id, output",
    [
        ("bce_with_logits", torch.sigmoid),
        ("logistic", torch.sigmoid),
        ("softmax_cross_entropy-one_hot", lambda z: torch.softmax(z, dim=-1)),
        ("softmax_cross_entropy-labels", lambda z: torch.softmax(z, dim=-1)),
    ],
)
def test_gradient_is_output_minus_target_over_n(case_id, output, backend, dtype):
    y_hat, y = draw(case_id, backend, dtype, seed=7)
    loss = nnref.get_loss(CASES[case_id].loss)
    loss.forward(y_hat, y)
    t = to_np64(y)
    if case_id == "logistic":
        t = (t + 1) / 2
    elif case_id == "softmax_cross_entropy-labels":
        t = np.eye(K)[t.astype(int)]
    expected = (to_np64(output(torch64(y_hat))) - t) / N
    assert_close(loss.backward(), expected, dtype, f"{case_id}: dL/du vs (output(u) - y) / n")


# --- bad input: errors name the argument -------------------------------------------------------------------


def _names_y(message: str) -> bool:
    return re.search(r"\by\b", message) is not None  # the word y, not y_hat


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_target_of_the_wrong_shape_raises(case_id, backend):
    y_hat, y = draw(case_id, backend, "float64")
    bad = y[:-1] if CASES[case_id].labels else y[..., None]  # e.g. y (n, 1) against y_hat (n,)
    with pytest.raises(ValueError) as info:
        nnref.get_loss(CASES[case_id].loss).forward(y_hat, bad)
    message = str(info.value)
    assert _names_y(message), f"the message should name y: {message}"
    received = str(tuple(bad.shape)) if not CASES[case_id].labels else str(bad.shape[0])
    assert received in message, f"the message should give what was received, {received}: {message}"


BAD_LABELS = [
    ("binary_cross_entropy", 2.0),
    ("binary_cross_entropy", -0.5),
    ("bce_with_logits", 2.0),
    ("bce_with_logits", -1.0),
    ("logistic", 0.0),
    ("logistic", 2.0),
    ("softmax_cross_entropy-labels", K),
    ("softmax_cross_entropy-labels", -1),
]


@pytest.mark.parametrize("case_id, bad_value", BAD_LABELS)
def test_labels_outside_their_set_raise(case_id, bad_value, backend):
    case = CASES[case_id]
    y_hat, y = case.draw(np.random.default_rng(0))
    y[2] = bad_value
    with pytest.raises(ValueError) as info:
        nnref.get_loss(case.loss).forward(
            to_backend(y_hat, backend, "float64"), to_backend(y, backend, None if case.labels else "float64")
        )
    assert _names_y(str(info.value)), f"the message should name y: {info.value}"


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_nan_in_y_hat_raises(case_id, backend):
    case = CASES[case_id]
    y_hat, y = case.draw(np.random.default_rng(0))
    y_hat[(1,) * y_hat.ndim] = np.nan
    with pytest.raises(ValueError, match="y_hat") as info:
        nnref.get_loss(case.loss).forward(
            to_backend(y_hat, backend, "float64"), to_backend(y, backend, None if case.labels else "float64")
        )
    assert "NaN" in str(info.value), f"the message should say what is wrong: {info.value}"


@pytest.mark.parametrize("y_backend, y_hat_backend", [("numpy", "torch-cpu"), ("torch-cpu", "numpy")])
@pytest.mark.parametrize("case_id", sorted(CASES))
def test_mixed_backends_raise(case_id, y_backend, y_hat_backend):
    case = CASES[case_id]
    y_hat, y = case.draw(np.random.default_rng(0))
    y_hat = to_backend(y_hat, y_hat_backend, "float64")
    y = to_backend(y, y_backend, None if case.labels else "float64")
    with pytest.raises(TypeError) as info:
        nnref.get_loss(case.loss).forward(y_hat, y)
    message = str(info.value)
    assert _names_y(message), f"the message should name y: {message}"
    assert "numpy" in message and "torch" in message, f"the message should name both backends: {message}"


@pytest.mark.parametrize("case_id", FLOAT_TARGET_CASES)
def test_mixed_dtypes_raise(case_id, backend):
    y_hat, y = CASES[case_id].draw(np.random.default_rng(0))
    with pytest.raises(TypeError) as info:
        nnref.get_loss(CASES[case_id].loss).forward(
            to_backend(y_hat, backend, "float64"), to_backend(y, backend, "float32")
        )
    message = str(info.value)
    assert _names_y(message), f"the message should name y: {message}"
    assert "float32" in message and "float64" in message, f"the message should name both dtypes: {message}"


@pytest.mark.parametrize("labels", [[0.0, 2.0, 1.0, 3.0, 0.0], [0.5, 2.0, 1.0, 3.0, 0.0]],
                         ids=["integral", "fractional"])
def test_softmax_cross_entropy_rejects_float_labels_with_a_clear_message(labels, backend, dtype):
    """Class labels of a float dtype, shape (n,): neither labels (not integers) nor probability rows
    (not (n, k)); the message says so, not that the shapes fail to broadcast."""
    z = to_backend(np.random.default_rng(0).standard_normal((N, K)), backend, dtype)
    y = to_backend(labels, backend, dtype)
    with pytest.raises(TypeError) as info:
        nnref.get_loss("softmax_cross_entropy").forward(z, y)
    message = str(info.value)
    assert _names_y(message) and "integer" in message, f"the message should ask for integer labels: {message}"
    assert f"({N},)" in message and dtype in message, f"the message should give y's shape and dtype: {message}"
    assert f"({N}, {K})" in message, f"the message should give the shape of probability rows: {message}"
    assert "broadcast" not in message, message


def test_bce_from_probabilities_at_exactly_0_and_1_is_clamped_without_warnings():
    """log 0 is clamped at -100 as in PyTorch, and never evaluated (no RuntimeWarning)."""
    import warnings

    p = np.array([0.0, 1.0, 0.5])
    y = np.array([1.0, 0.0, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = float(nnref.get_loss("binary_cross_entropy")(p, y))
    expected = float(torch.nn.functional.binary_cross_entropy(torch.tensor(p), torch.tensor(y), reduction="sum")) / 3
    assert value == pytest.approx(expected, rel=1e-12)
