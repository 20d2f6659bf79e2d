"""The gradient checker passes correct gradients and catches planted errors."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_on, split, to_backend, to_np64

from nnref.gradcheck import (
    MAX_SKIPPED_FRACTION,
    GradientCheckError,
    central_difference,
    check_directional,
    check_gradients,
    default_step,
    module_check_function,
    numerical_gradient,
    random_direction,
)
from nnref.layers import Dense, Dropout, Sequential
from nnref.models import MLP

torch = pytest.importorskip("torch")


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
    h = float(default_step(np.ones(1))[0])
    x = np.array([0.3 * h, 1.0, -2.0, 0.5, -1.5, 3.0])
    f = lambda p: float(np.maximum(p["x"], 0).sum())  # noqa: E731
    report = check_directional(f, {"x": x}, {"x": (x > 0).astype(float)}, num_directions=3, rng=0)
    assert report.ok and report.checked == 3, str(report)
    assert report.skipped, "a direction with |v[0]| > 0.3 crosses the kink, and seed 0 draws one"


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
    with pytest.raises(ValueError, match="params is empty"):
        check_directional(lambda p: 0.0, {}, {})

# --- central differences: one routine, a step that suits the dtype ----------------------------------------------


def _micrograd(a, b):
    """micrograd's test expression (its README), g(a, b) = 24.7041 at a = −4, b = 2, with ∂g/∂a = 138.8338 and
    ∂g/∂b = 645.5773; for NumPy scalars and torch tensors alike, in the dtype of a and b."""

    def relu(v):
        return v * (v > 0)

    c = a + b
    d = a * b + b**3
    c = c + c + 1
    c = c + 1 + c + (-a)
    d = d + d * 2 + relu(b + a)
    d = d + 3 * d + relu(b - a)
    e = c - d
    f = e**2
    g = f / 2.0
    g = g + 10.0 / f
    return g


def _micrograd_oracle():
    """∂g/∂a, ∂g/∂b by torch.autograd in float64."""
    a, b = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (-4.0, 2.0))
    _micrograd(a, b).backward()
    return float(a.grad), float(b.grad)


# Central differences with h = ∛ε·max(1, |x|) err by about h²|g‴|/6 + ε|g|/h.  Here |∂³g/∂b³| ≈ 4e4 at b = 2
# (g grows like b⁶), so in float32 (h ≈ 1e-2 at b = 2) the truncation is about 0.7, 1e-3 of ∂g/∂b = 645.6;
# in float64 (h ≈ 1.2e-5) about 1e-6, 2e-9 of it.  The old fixed h = 1e-6 was off by 4.6% in float32.
MICROGRAD_RTOL = {"float32": 2e-3, "float64": 1e-8}


def test_numerical_gradient_of_micrograds_expression_suits_the_dtype(backend, dtype):
    params = {k: to_backend([v], backend, dtype) for k, v in (("a", -4.0), ("b", 2.0))}
    num = numerical_gradient(lambda p: float(_micrograd(p["a"][0], p["b"][0])), params)
    expected = _micrograd_oracle()
    assert expected == pytest.approx((138.8338, 645.5773), rel=1e-6)  # micrograd's published values
    for (k, got), want in zip(num.items(), expected):
        assert isinstance(got, np.ndarray) and got.dtype == np.float64 and got.shape == (1,)
        assert got[0] == pytest.approx(want, rel=MICROGRAD_RTOL[dtype]), f"∂g/∂{k} in {dtype}: {got[0]} vs {want}"


def test_default_step_is_the_cube_root_of_epsilon_scaled_by_large_entries(backend, dtype):
    x = to_backend([0.0, -0.5, 1.0, -8.0, 1000.0], backend, dtype)
    eps = float(np.finfo(dtype).eps)
    expected = np.cbrt(eps) * np.array([1.0, 1.0, 1.0, 8.0, 1000.0])
    np.testing.assert_allclose(default_step(x), expected, rtol=1e-12)


def test_central_difference_of_a_quadratic_on_every_backend_and_dtype(backend, dtype):
    """f(x) = ½xᵀAx, ∇f = Ax: central differences of a quadratic are exact but for round-off,
    about ε|f|/h = ε^(2/3): 4e-11 in float64, 2e-5 in float32 (times the few terms of the sums)."""
    rng = np.random.default_rng(0)
    M = rng.standard_normal((3, 3))
    A = M @ M.T + np.eye(3)
    x_np = rng.standard_normal((3, 1))
    x = to_backend(x_np, backend, dtype)
    A_b = to_backend(A, backend, dtype)
    calls = []

    def f(v):
        calls.append(v)
        assert_on(v, backend, dtype, "the array f receives")
        return float((v.T @ A_b @ v).sum() / 2)

    got = central_difference(f, x)
    assert isinstance(got, np.ndarray) and got.dtype == np.float64 and got.shape == (3, 1)
    rtol = {"float32": 1e-3, "float64": 1e-8}[dtype]
    np.testing.assert_allclose(got, to_np64(A_b) @ to_np64(x), rtol=rtol, atol=rtol)
    assert len(calls) == 6, "two evaluations per entry"
    np.testing.assert_array_equal(to_np64(x), to_np64(to_backend(x_np, backend, dtype)))  # x is left alone


def test_central_difference_takes_a_list_and_a_given_step():
    got = central_difference(lambda v: float(np.sin(v).sum()), [0.1, 2], h=1e-5)
    np.testing.assert_allclose(got, np.cos([0.1, 2.0]), rtol=1e-9)
    with pytest.raises(ValueError, match="h must be > 0"):
        central_difference(lambda v: 0.0, [1.0], h=0.0)
    with pytest.raises(ValueError, match="lost in rounding"):
        central_difference(lambda v: float(v.sum()), np.array([1e20]), h=1.0)


def test_the_test_helpers_use_the_one_central_difference():
    import helpers

    assert helpers.central_difference is central_difference


# --- a check that checked nothing does not pass ---------------------------------------------------------------


def _dropout_problem(check, *, wrong):
    model = Sequential(Dense(4, 5, rng=0), Dropout(0.5, rng=0)).train()
    X = np.random.default_rng(1).standard_normal((6, 4))
    f, params, grads = module_check_function(model, X, rng=0)
    if wrong:
        grads = {k: 3 * g for k, g in grads.items()}
    if check == "central":
        return check_gradients(f, params, grads, max_entries=5, rng=0)
    return check_directional(f, params, grads, rng=0)


@pytest.mark.parametrize("wrong", [False, True], ids=["right gradients", "wrong gradients"])
@pytest.mark.parametrize("check", ["central", "directional"])
def test_a_random_function_is_reported_as_not_deterministic(check, wrong):
    """Dropout in training mode draws a new mask at every call: no difference quotient means anything."""
    report = _dropout_problem(check, wrong=wrong)
    assert not report.ok and not report.deterministic, str(report)
    assert "not deterministic" in str(report) and ".eval()" in str(report), str(report)
    with pytest.raises(GradientCheckError, match="not deterministic"):
        report.raise_if_failed()


def test_the_same_model_in_evaluation_mode_passes():
    model = Sequential(Dense(4, 5, rng=0), Dropout(0.5, rng=0)).eval()
    f, params, grads = module_check_function(model, np.random.default_rng(1).standard_normal((6, 4)), rng=0)
    assert check_gradients(f, params, grads).ok
    assert check_directional(f, params, grads, rng=0).ok


def test_a_check_that_skipped_every_point_does_not_pass():
    """|x| with every entry within h of its kink: nothing could be compared, so nothing was shown."""
    x = np.array([3e-7, -2e-7, 1e-7])
    f = lambda p: float(np.abs(p["x"]).sum())  # noqa: E731
    report = check_gradients(f, {"x": x}, {"x": np.sign(x)}, h=1e-6)
    assert report.checked == 0 and len(report.skipped) == 3
    assert not report.ok and not report.conclusive and "inconclusive" in str(report), str(report)

    relu = lambda p: float(np.maximum(p["x"], 0).sum())  # noqa: E731
    report = check_directional(relu, {"x": x[:1]}, {"x": np.ones(1)}, h=1e-6, rng=0)
    assert report.checked == 0 and len(report.skipped) == 30, str(report)
    assert not report.ok and "inconclusive" in str(report), str(report)


@pytest.mark.parametrize("near_kink, passes", [(2, True), (3, False)])
def test_at_most_half_of_the_points_may_be_skipped(near_kink, passes):
    """4 entries of |x|, ``near_kink`` of them within h of 0: 2 of 4 skipped is allowed, 3 of 4 is not."""
    assert MAX_SKIPPED_FRACTION == 0.5
    x = np.array([3e-7, -2e-7, 1e-7, 0.5])
    if near_kink == 2:
        x[2] = -0.7
    report = check_gradients(lambda p: float(np.abs(p["x"]).sum()), {"x": x}, {"x": np.sign(x)}, h=1e-6)
    assert len(report.skipped) == near_kink and report.checked == 4 - near_kink
    assert report.ok is passes, str(report)


def test_float32_round_off_is_not_mistaken_for_a_kink():
    """A linear float32 function of size 1e3 has second differences of pure round-off, about ε₃₂·1e3 = 1e-4:
    judged against float64's round-off they looked like kinks, and wrong gradients were skipped, not failed."""
    x = np.linspace(-1, 1, 10, dtype=np.float32)
    c = np.random.default_rng(0).standard_normal(10).astype(np.float32)
    f = lambda p: float((c * p["x"]).sum() + np.float32(1000))  # noqa: E731
    report = check_gradients(f, {"x": x}, {"x": np.full(10, 2.0, dtype=np.float32)})  # the gradient is c
    assert len(report.mismatches) == 10 and not report.skipped, str(report)
