"""Every activation in ``nnref.ACTIVATIONS``: forward and backward against torch.

The tests walk the registry, so an activation added there is tested at once,
and fails until it is given an oracle in ``ORACLES`` below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest
from helpers import FD, TOL, assert_close, assert_on, away_from, central_difference, split, to_backend, to_np64, torch64

import nnref
from autograder.assignments.shared import TORCH_ACTIVATIONS, torch_activation

torch = pytest.importorskip("torch")
F = torch.nn.functional

SHAPE = (5, 6)  # n = 5 samples, 6 features: divisible by the maxout k below


@dataclass(frozen=True)
class Oracle:
    """How torch computes an activation, with the constructor arguments that match."""

    fn: Callable  # float64 CPU tensor -> tensor
    kwargs: dict = field(default_factory=dict)
    kinks: tuple = (0.0,)  # inputs are kept away from these
    ties: int = 0  # maxout: no near-ties inside groups of this size
    training: bool = True


def _from_table(name: str, **settings) -> Oracle:
    """The grader's torch version of ``name`` (``TORCH_ACTIVATIONS``), built with the table's example arguments."""
    example = TORCH_ACTIVATIONS[name].example
    return Oracle(torch_activation(name, **example), example, **settings)


ORACLES = {name: _from_table(name) for name in TORCH_ACTIVATIONS} | {
    "hardtanh": _from_table("hardtanh", kinks=(-1.0, 0.0, 1.0)),
    # evaluation mode: a leaky ReLU with the mean slope; training mode is tested below
    "rrelu": _from_table("rrelu", training=False),
    "maxout": _from_table("maxout", ties=3),
}

NAMES = sorted(nnref.ACTIVATIONS)


def oracle(name: str) -> Oracle:
    if name not in ORACLES:
        pytest.fail(f"activation {name!r} is in nnref.ACTIVATIONS but has no torch oracle in ORACLES")
    return ORACLES[name]


def make(name: str, backend: str, dtype: str):
    """The activation, its parameters on the test backend and dtype, in the oracle's mode."""
    spec = oracle(name)
    backend_name, device = split(backend)
    return nnref.get_activation(name, **spec.kwargs).to(backend_name, device, dtype).train(spec.training)


def draw_input(name: str, seed: int = 0, shape=SHAPE, margin=1e-2) -> np.ndarray:
    """float64 inputs at least ``margin`` from every kink (and from ties, for maxout)."""
    spec, rng = oracle(name), np.random.default_rng(seed)
    for _ in range(100):
        x = away_from(rng, shape, spec.kinks, margin)
        if not spec.ties:
            return x
        pieces = np.sort(x.reshape(*shape[:-1], -1, spec.ties), axis=-1)
        if np.diff(pieces, axis=-1).min() > margin:
            return x
    raise RuntimeError("could not draw maxout inputs without ties")


def output_shape(name: str, shape=SHAPE) -> tuple:
    return tuple(oracle(name).fn(torch.zeros(shape, dtype=torch.float64)).shape)


def test_oracles_name_only_registered_activations():
    stale = sorted(set(ORACLES) - set(nnref.ACTIVATIONS))
    assert not stale, f"ORACLES names activations that are not in nnref.ACTIVATIONS: {stale}"


@pytest.mark.parametrize("name", NAMES)
def test_forward_matches_torch(name, backend, dtype):
    x = to_backend(draw_input(name), backend, dtype)
    y = make(name, backend, dtype).forward(x)
    assert_close(y, oracle(name).fn(torch64(x)), dtype, f"{name}(x)")


@pytest.mark.parametrize("name", NAMES)
def test_backward_matches_autograd(name, backend, dtype):
    rng = np.random.default_rng(1)
    x = to_backend(draw_input(name), backend, dtype)
    grad_out = to_backend(rng.standard_normal(output_shape(name)), backend, dtype)
    act = make(name, backend, dtype)
    act.forward(x)
    grad_x = act.backward(grad_out)

    x64 = torch64(x, requires_grad=True)
    oracle(name).fn(x64).backward(torch64(grad_out))
    assert_close(grad_x, x64.grad, dtype, f"{name}: dL/dx")


@pytest.mark.parametrize("name", NAMES)
def test_backward_matches_central_differences(name, backend):
    rng = np.random.default_rng(2)
    x = draw_input(name)
    g = rng.standard_normal(output_shape(name))
    act = make(name, backend, "float64")
    act.forward(to_backend(x, backend))
    analytic = act.backward(to_backend(g, backend))

    def loss(x_np):
        return float(np.sum(g * to_np64(act.forward(to_backend(x_np, backend)))))

    numeric = central_difference(loss, x)
    what = f"{name}: dL/dx vs central differences"
    assert_close(analytic, numeric, "float64", what, rtol=FD["rtol"], atol=FD["atol"])


@pytest.mark.parametrize("name", NAMES)
def test_backend_device_and_dtype_are_preserved(name, backend, dtype):
    act = make(name, backend, dtype)
    y = act.forward(to_backend(draw_input(name), backend, dtype))
    assert_on(y, backend, dtype, f"{name}.forward output")
    grad_x = act.backward(to_backend(np.ones(output_shape(name)), backend, dtype))
    assert_on(grad_x, backend, dtype, f"{name}.backward output")
    for key, value in act.grads.items():
        assert_on(value, backend, dtype, f"{name}.grads[{key!r}]")


@pytest.mark.parametrize("name", NAMES)
def test_backward_before_forward_raises(name):
    act = make(name, "numpy", "float64")
    with pytest.raises(RuntimeError, match="before forward"):
        act.backward(np.ones(output_shape(name)))


@pytest.mark.parametrize("name", NAMES)
def test_grad_out_of_the_wrong_shape_raises(name, backend):
    act = make(name, backend, "float64")
    act.forward(to_backend(draw_input(name), backend))
    n, m = output_shape(name)
    with pytest.raises(ValueError, match="grad_out") as info:
        act.backward(to_backend(np.ones((n, m + 1)), backend))
    assert f"({n}, {m + 1})" in str(info.value), f"the message should give the shape received: {info.value}"


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="swishy") as info:
        nnref.get_activation("swishy")
    missing = [name for name in NAMES if name not in str(info.value)]
    assert not missing, f"the message should list every known activation, lacks {missing}: {info.value}"


def test_relu_derivative_at_zero_is_zero(backend, dtype):
    relu = make("relu", backend, dtype)
    x = to_backend(np.array([[-1.0, 0.0, 1.0]]), backend, dtype)
    relu.forward(x)
    assert_close(relu.backward(to_backend(np.ones((1, 3)), backend, dtype)), [[0.0, 0.0, 1.0]], dtype, "relu'(x)")


@pytest.mark.parametrize("num_parameters", [1, 4])
def test_prelu_slope_gradient_matches_autograd(num_parameters, backend, dtype):
    rng = np.random.default_rng(3)
    x = to_backend(away_from(rng, (5, 4)), backend, dtype)
    slopes = to_backend(rng.uniform(0.05, 0.5, num_parameters), backend, dtype)
    grad_out = to_backend(rng.standard_normal((5, 4)), backend, dtype)
    prelu = nnref.get_activation("prelu", num_parameters=num_parameters).to(*split(backend), dtype)
    prelu.set_parameters({"a": slopes})
    y = prelu.forward(x)
    grad_x = prelu.backward(grad_out)

    x64, a64 = torch64(x, requires_grad=True), torch64(slopes, requires_grad=True)
    y64 = F.prelu(x64, a64)
    y64.backward(torch64(grad_out))
    assert_close(y, y64, dtype, "prelu(x)")
    assert_close(grad_x, x64.grad, dtype, "prelu: dL/dx")
    assert_close(prelu.grads["a"], a64.grad, dtype, "prelu: dL/da")
    assert_on(prelu.grads["a"], backend, dtype, "prelu.grads['a']")


def test_rrelu_training_slopes_lie_between_the_bounds_and_vary(backend, dtype):
    lower, upper = 0.1, 0.3
    rrelu = nnref.get_activation("rrelu", lower=lower, upper=upper, rng=0).train()
    x_np = -np.abs(away_from(np.random.default_rng(4), (40, 50)))  # all negative
    y = to_np64(rrelu.forward(to_backend(x_np, backend, dtype)))
    slopes = y / to_np64(to_backend(x_np, backend, dtype))
    tol = TOL[dtype]["rtol"]
    assert slopes.min() >= lower - tol and slopes.max() <= upper + tol, (
        f"training slopes should lie in [{lower}, {upper}], got [{slopes.min()}, {slopes.max()}]"
    )
    # U(0.1, 0.3) has standard deviation 0.058; a fixed slope would give 0
    assert slopes.std() > 0.04, f"training slopes should be random, their std is {slopes.std():.3g}"


def test_rrelu_training_backward_uses_the_forward_slopes(backend, dtype):
    rrelu = nnref.get_activation("rrelu", lower=0.1, upper=0.3, rng=0).train()
    x_np = away_from(np.random.default_rng(5), (6, 8))
    x = to_backend(x_np, backend, dtype)
    y = rrelu.forward(x)
    grad_x = rrelu.backward(to_backend(np.ones(x_np.shape), backend, dtype))
    # forward is y = a x, so the slope a used by forward is y / x
    assert_close(grad_x, to_np64(y) / to_np64(x), dtype, "rrelu (training): dL/dx vs the forward slopes y/x")


@pytest.mark.parametrize("beta, threshold", [(1.0, 20.0), (2.0, 20.0), (0.5, 5.0), (3.0, 1.0)])
def test_softplus_beta_and_threshold_match_torch(beta, threshold, backend, dtype):
    """torch's softplus(x, beta, threshold): (1/β) log(1 + e^(βx)), and x itself where βx > threshold.
    Below the threshold the two agree to round-off; above it both return x and pass grad_out through,
    so they agree exactly (log1p(e^(−x)) alone would differ by up to e^(−20) = 2e-9 just above x = 20)."""
    rng = np.random.default_rng(7)
    edge = threshold / beta
    x_np = np.concatenate([np.linspace(-30.0, 60.0, 31), edge + np.array([-0.5, -1e-3, 1e-3, 0.5, 2.0])])
    x = to_backend(x_np, backend, dtype)
    grad_out = to_backend(rng.standard_normal(x_np.shape), backend, dtype)
    act = nnref.get_activation("softplus", beta=beta, threshold=threshold).to(*split(backend), dtype)
    y = act.forward(x)
    grad_x = act.backward(grad_out)

    x64 = torch64(x, requires_grad=True)
    y64 = F.softplus(x64, beta, threshold)
    y64.backward(torch64(grad_out))
    above = x_np * beta > threshold
    assert above.sum() > 10 and (~above).sum() > 10
    assert_close(y, y64, dtype, f"softplus(x, beta={beta}, threshold={threshold})")
    assert_close(grad_x, x64.grad, dtype, f"softplus(x, beta={beta}, threshold={threshold}): dL/dx")
    np.testing.assert_array_equal(to_np64(y)[above], to_np64(x)[above], err_msg="softplus above the threshold is x")
    np.testing.assert_array_equal(to_np64(grad_x)[above], to_np64(grad_out)[above],
                                  err_msg="softplus' above the threshold is 1")


def test_softplus_rejects_a_non_positive_beta():
    with pytest.raises(ValueError, match="beta must be > 0"):
        nnref.get_activation("softplus", beta=0.0)
