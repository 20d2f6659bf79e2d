"""The gradient checker passes correct gradients and catches planted errors."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_on, split, to_backend, to_np64

from nnref.gradcheck import (
    GradientCheckError,
    check_directional,
    check_gradients,
    module_check_function,
    numerical_gradient,
    random_direction,
)
from nnref.models import MLP


def _problem(backend, dtype="float64", seed=0):
    """A 2-layer tanh network on a batch of 6: loss and correct gradients."""
    name, device = split(backend)
    model = MLP([4, 5, 3], activation="tanh", rng=seed, dtype=dtype, backend=name, device=device)
    rng = np.random.default_rng(seed)
    X = to_backend(rng.standard_normal((6, 4)), backend, dtype)
    y = to_backend(rng.standard_normal((6, 3)), backend, dtype)
    loss = model.default_loss()

    def f(p):
        model.set_parameters(p)
        return float(loss(model(X), y))

    params = dict(model.parameters())
    loss(model(X), y)
    model.backward(loss.backward())
    grads = dict(model.gradients())
    return f, params, grads


def _planted(grads, kind):
    """Copies of the correct gradients with one classic mistake planted."""
    bad = dict(grads)
    W = grads["0.W"]
    if kind == "one_entry":
        W = W.clone() if hasattr(W, "clone") else W.copy()
        W[1, 2] += 0.05
    elif kind == "transposed":
        W = W.T.reshape(W.shape)  # same shape, entries in the wrong places
    elif kind == "sign_flip":
        W = -W
    elif kind == "batch_factor":
        W = W * 6  # sum instead of mean over the batch of 6
    bad["0.W"] = W
    return bad


CHECKERS = {
    "central": lambda f, p, g: check_gradients(f, p, g),
    "directional": lambda f, p, g: check_directional(f, p, g, num_directions=3, rng=0),
}


@pytest.mark.parametrize("checker", CHECKERS)
def test_correct_gradients_pass(backend, checker):
    f, params, grads = _problem(backend)
    report = CHECKERS[checker](f, params, grads)
    assert report.ok, str(report)
    assert report.checked > 0


@pytest.mark.parametrize("kind", ["one_entry", "transposed", "sign_flip", "batch_factor"])
@pytest.mark.parametrize("checker", CHECKERS)
def test_planted_errors_are_caught(backend, checker, kind):
    f, params, grads = _problem(backend)
    report = CHECKERS[checker](f, params, _planted(grads, kind))
    assert not report.ok, f"{checker} check missed a {kind} error"
    with pytest.raises(GradientCheckError):
        report.raise_if_failed()


def test_two_swapped_entries_are_caught_by_every_single_direction(backend):
    """An error (a − b) at one entry and (b − a) at another, as a mixed-up index leaves it, is orthogonal to a
    random-sign direction half the time; a direction drawn from a continuous distribution is never
    orthogonal to it, so each of many seeds catches it with one direction alone."""
    f, params, grads = _problem(backend)
    W = grads["0.W"]
    bad = W.clone() if hasattr(W, "clone") else W.copy()
    bad[0, 1], bad[1, 0] = W[1, 0], W[0, 1]
    assert abs(float(W[0, 1]) - float(W[1, 0])) > 1e-2  # a real error at this scale
    for seed in range(20):
        report = check_directional(f, params, {**grads, "0.W": bad}, num_directions=1, rng=seed)
        assert not report.ok, f"seed {seed} missed the swap"


def test_random_direction_is_unit_and_the_same_on_every_backend(backend):
    f, params, _ = _problem(backend)
    v = random_direction(params, np.random.default_rng(3))
    assert list(v) == list(params)
    for k, p in params.items():
        assert tuple(v[k].shape) == tuple(p.shape)
        assert_on(v[k], backend, "float64", f"direction[{k!r}]")
    flat = np.concatenate([to_np64(d).reshape(-1) for d in v.values()])
    # the draw spelled out: one uniform [-1, 1) entry per parameter entry, in order, scaled to norm 1
    expected = np.random.default_rng(3).random(flat.size) * 2 - 1
    np.testing.assert_allclose(flat, expected / np.linalg.norm(expected), rtol=1e-14, atol=0)
    assert np.dot(flat, flat) == pytest.approx(1.0, rel=1e-12)
    with pytest.raises(ValueError, match="no entries"):
        random_direction({}, np.random.default_rng(0))


def test_failure_message_names_parameter_index_values_and_error():
    f, params, grads = _problem("numpy")
    report = check_gradients(f, params, _planted(grads, "one_entry"))
    assert len(report.mismatches) == 1
    text = str(report)
    assert "0.W(1, 2)" in text and "expected" in text and "received" in text and "relative error" in text
    mismatch = report.mismatches[0]
    assert mismatch.received - mismatch.expected == pytest.approx(0.05, rel=1e-4)


def test_directional_message_names_the_direction():
    f, params, grads = _problem("numpy")
    text = str(check_directional(f, params, _planted(grads, "sign_flip"), rng=0))
    assert "direction" in text and "relative error" in text


def test_kinks_are_skipped_not_failed():
    """|x| at points within h of 0: the difference quotient is meaningless there."""
    h = 1e-6
    x = np.array([3e-7, -2e-7, 0.5, -0.7])
    grads = {"x": np.sign(x)}
    report = check_gradients(lambda p: float(np.abs(p["x"]).sum()), {"x": x}, grads, h=h)
    assert report.ok, str(report)
    assert sorted(report.skipped) == ["x(0,)", "x(1,)"]


def test_a_wrong_gradient_near_a_kink_is_still_caught_elsewhere():
    x = np.array([3e-7, 0.5])
    report = check_gradients(lambda p: float(np.abs(p["x"]).sum()), {"x": x}, {"x": np.array([1.0, -1.0])})
    assert [m.where for m in report.mismatches] == ["(1,)"]


def test_directional_check_avoids_kinks():
    """A ReLU input sitting within h of its kink: directions that cross it are
    redrawn, and the check still passes on the correct gradient."""
    x = np.array([3e-7, 1.0, -2.0])
    f = lambda p: float(np.maximum(p["x"], 0).sum())  # noqa: E731
    report = check_directional(f, {"x": x}, {"x": (x > 0).astype(float)}, num_directions=3, rng=0)
    assert report.ok and report.checked == 3
    assert report.skipped, "a direction with |v[0]| > 0.3 crosses the kink, so some must be skipped"


def test_sampled_entries_and_module_helper():
    model = MLP([3, 4, 2], activation="tanh", rng=0)
    X = np.random.default_rng(1).standard_normal((5, 3))
    f, params, grads = module_check_function(model, X, rng=0)
    report = check_gradients(f, params, grads, max_entries=4, rng=0)
    assert report.ok and report.checked == sum(min(4, p.size) for p in params.values())


def test_numerical_gradient_of_a_quadratic():
    A = np.array([[2.0, 1.0], [1.0, 3.0]])
    x = np.array([0.3, -0.4])
    num = numerical_gradient(lambda p: float(p["x"] @ A @ p["x"] / 2), {"x": x})
    np.testing.assert_allclose(num["x"], A @ x, rtol=1e-8)


def test_bad_arguments():
    with pytest.raises(ValueError, match="same names"):
        check_gradients(lambda p: 0.0, {"a": np.zeros(2)}, {"b": np.zeros(2)})
    with pytest.raises(ValueError, match=r"grads\['a'\] has shape"):
        check_gradients(lambda p: 0.0, {"a": np.zeros(2)}, {"a": np.zeros(3)})
    with pytest.raises(ValueError, match="finite"):
        check_gradients(lambda p: float("nan"), {"a": np.zeros(2)}, {"a": np.zeros(2)})
