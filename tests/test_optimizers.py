"""Momentum, Nesterov, RMSProp, Adam and AdamW against torch.optim, step by step.

Both sides start from the same parameters and receive the same gradients,
drawn in advance (so a round-off difference in θ never changes a gradient);
the whole trajectory is compared, step by step, on every backend and dtype.
nnref decays the weights W only: torch gets them as one parameter group with
the weight decay and the biases as another without.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from helpers import assert_close, assert_on, split, to_backend, to_np64, torch64
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import MAX_EXAMPLES, floats

from nnref import Dense, Sequential
from nnref.module import is_weight
from nnref.optimizers import OPTIMIZERS, Adam, AdamW, Momentum, RMSProp

torch = pytest.importorskip("torch")

STEPS = 60
SETTINGS = settings(deadline=None, max_examples=MAX_EXAMPLES)

# Trajectories.  float64 is compared with torch.optim in float64: both round each of the
# few operations of a step (≲ 5 × 1.1e-16 relative) and, the gradients being given,
# nothing amplifies the differences, so after 60 steps they stay below 60 × 5 × 1.1e-16 × |θ|
# ≈ 3e-13 for the |θ| ≲ 9 reached here; hence 1e-12.  float32 is compared with the float64
# oracle on the same float32-rounded start and gradients: nnref rounds θ to float32 (2⁻²⁴
# relative) at every step, and those errors add up to at most 60 × 6e-8 × |θ| ≈ 3e-5.
TRAJECTORY_TOL = {
    "float64": dict(rtol=1e-12, atol=1e-12),
    "float32": dict(rtol=1e-5, atol=3e-5),
}

# (nnref optimiser, its keyword arguments, the torch.optim class and its keyword arguments)
CASES = {
    "heavy-ball": (Momentum, dict(lr=0.05, momentum=0.9), "SGD", dict(lr=0.05, momentum=0.9)),
    "heavy-ball-dampening-decay": (Momentum, dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.05),
                                   "SGD", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.05)),
    "nesterov": (Momentum, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.05),
                 "SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.05)),
    "rmsprop": (RMSProp, dict(lr=0.01), "RMSprop", dict(lr=0.01)),
    "rmsprop-centred-momentum": (RMSProp, dict(lr=0.01, alpha=0.9, eps=1e-3, weight_decay=0.05, momentum=0.5,
                                               centered=True),
                                 "RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-3, weight_decay=0.05, momentum=0.5,
                                                 centered=True)),
    "adam": (Adam, dict(lr=0.01), "Adam", dict(lr=0.01)),
    "adam-betas-eps-decay": (Adam, dict(lr=0.01, betas=(0.8, 0.99), eps=1e-3, weight_decay=0.05),
                             "Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-3, weight_decay=0.05)),
    "adamw": (AdamW, dict(lr=0.01, weight_decay=0.1), "AdamW", dict(lr=0.01, weight_decay=0.1)),
    "adamw-betas-eps": (AdamW, dict(lr=0.01, betas=(0.5, 0.9), eps=1e-2), "AdamW",
                        dict(lr=0.01, betas=(0.5, 0.9), eps=1e-2)),
}


def model_on(backend, dtype, seed=0):
    """Two dense layers (parameters 0.W, 0.b, 1.W, 1.b) with random nonzero biases."""
    name, device = split(backend)
    model = Sequential(Dense(4, 3, rng=seed, dtype=dtype, backend=name, device=device),
                       Dense(3, 2, rng=seed + 1, dtype=dtype, backend=name, device=device))
    rng = np.random.default_rng(seed + 2)
    model.set_parameters({k: to_backend(rng.standard_normal(v.shape), backend, dtype)
                          for k, v in model.parameters().items() if k.endswith("b")})
    return model


def gradient_sequence(model, steps, seed=3):
    """``steps`` dicts of float64 gradients, each step on its own scale (from e⁻² to e)."""
    rng = np.random.default_rng(seed)
    shapes = {k: tuple(v.shape) for k, v in model.parameters().items()}
    return [{k: np.exp(rng.uniform(-2, 1)) * rng.standard_normal(s) for k, s in shapes.items()}
            for _ in range(steps)]


def torch_trajectory(start, grads, torch_name, torch_kwargs):
    """θ after each step of torch.optim in float64 from ``start``; W in a group with the weight decay."""
    params = {k: torch64(v, requires_grad=True) for k, v in start.items()}
    kwargs = dict(torch_kwargs)
    decay = kwargs.pop("weight_decay", 0.0 if torch_name != "AdamW" else 1e-2)
    # the test's own statement of the rule (the oracle must not use the code under test)
    weights = {k for k in params if k.endswith(".W")}
    groups = [{"params": [p for k, p in params.items() if k in weights], "weight_decay": decay},
              {"params": [p for k, p in params.items() if k not in weights], "weight_decay": 0.0}]
    optimizer = getattr(torch.optim, torch_name)(groups, **kwargs)
    trajectory = []
    for g in grads:
        for k, p in params.items():
            p.grad = torch64(g[k])
        optimizer.step()
        trajectory.append({k: p.detach().clone() for k, p in params.items()})
    return trajectory


@pytest.mark.parametrize("case", list(CASES))
def test_trajectory_matches_torch_optim(case, backend, dtype):
    cls, kwargs, torch_name, torch_kwargs = CASES[case]
    model = model_on(backend, dtype)
    grads = gradient_sequence(model, STEPS)
    on_backend = [{k: to_backend(g, backend, dtype) for k, g in step.items()} for step in grads]
    # the oracle sees exactly the numbers nnref sees: the dtype-rounded start and gradients
    expected = torch_trajectory(model.parameters(), [{k: to_np64(g) for k, g in s.items()} for s in on_backend],
                                torch_name, torch_kwargs)
    optimizer = cls(model, **kwargs)
    for t, (g, want) in enumerate(zip(on_backend, expected), start=1):
        optimizer.step(g)
        for name, value in model.parameters().items():
            assert_close(value, want[name], dtype, f"{case}: {name} after step {t} vs torch.optim.{torch_name}",
                         **TRAJECTORY_TOL[dtype])
    for name, value in model.parameters().items():
        assert_on(value, backend, dtype, f"{case}: parameter {name}")


@pytest.mark.parametrize("case", ["heavy-ball", "rmsprop-centred-momentum", "adam", "adamw"])
def test_state_is_kept_per_parameter_name_on_the_parameters_backend(case, backend, dtype):
    cls, kwargs, _, _ = CASES[case]
    model = model_on(backend, dtype)
    optimizer = cls(model, **kwargs)
    grads = gradient_sequence(model, 3)
    for g in grads:
        optimizer.step({k: to_backend(v, backend, dtype) for k, v in g.items()})
    assert set(optimizer.state) == set(model.parameters()), "one state entry per parameter name"
    for name, state in optimizer.state.items():
        assert state["step"] == 3, f"{name}: step count {state['step']}, expected 3"
        for key, value in state.items():
            if key != "step":
                assert_on(value, backend, dtype, f"{case}: state[{name!r}][{key!r}]")


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_step_reads_the_gradients_of_the_last_backward_pass(name):
    rng = np.random.default_rng(0)
    X, grad_out = rng.standard_normal((5, 4)), rng.standard_normal((5, 2))
    explicit, implicit = model_on("numpy", "float64"), model_on("numpy", "float64")
    opt_explicit, opt_implicit = OPTIMIZERS[name](explicit, lr=0.01), OPTIMIZERS[name](implicit, lr=0.01)
    for _ in range(3):
        for model in (explicit, implicit):
            model.zero_grad()
            model.backward(grad_out - model.forward(X))
        opt_explicit.step(dict(explicit.gradients()))
        opt_implicit.step()
    for k, v in implicit.parameters().items():
        np.testing.assert_array_equal(v, explicit.parameters()[k], err_msg=f"{name}: {k}")


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_step_without_backward_is_an_error(name):
    with pytest.raises(RuntimeError, match=re.escape("no gradient for ['0.W', '0.b', '1.W', '1.b']")):
        OPTIMIZERS[name](model_on("numpy", "float64"), lr=0.1).step()


def test_a_gradient_of_the_wrong_shape_or_dtype_names_the_parameter():
    model = model_on("numpy", "float64")
    grads = {k: np.zeros(v.shape) for k, v in model.parameters().items()}
    with pytest.raises(ValueError, match=r"gradient of '0\.W' has shape \(4, 3\).*'0\.W' has shape \(3, 4\)"):
        Adam(model).step({**grads, "0.W": np.zeros((4, 3))})
    with pytest.raises(TypeError, match=r"gradient of '1\.b' has dtype float32.*float64"):
        Adam(model).step({**grads, "1.b": np.zeros(2, dtype=np.float32)})


@pytest.mark.parametrize("cls, kwargs, message", [
    (Adam, dict(lr=0.0), r"lr must be > 0, got 0\.0"),
    (Adam, dict(lr=-1e-3), r"lr must be > 0, got -0\.001"),
    (Adam, dict(betas=(0.9, 1.0)), r"betas\[1\] must be a number in \[0, 1\), got 1\.0"),
    (Adam, dict(betas=(-0.1, 0.999)), r"betas\[0\] must be a number in \[0, 1\), got -0\.1"),
    (Adam, dict(betas=0.9), r"betas must be a pair \(beta1, beta2\), got 0\.9"),
    (Adam, dict(eps=-1e-8), r"eps must be >= 0, got -1e-08"),
    (AdamW, dict(weight_decay=-0.1), r"weight_decay must be >= 0, got -0\.1"),
    (Momentum, dict(lr=0.1, momentum=1.0), r"momentum must be a number in \[0, 1\), got 1\.0"),
    (Momentum, dict(lr=0.1, dampening=1.5), r"dampening must be a number in \[0, 1\], got 1\.5"),
    (Momentum, dict(lr=0.1, momentum=0.0, nesterov=True), r"Nesterov momentum needs momentum > 0 and dampening = 0"),
    (Momentum, dict(lr=0.1, dampening=0.1, nesterov=True), r"Nesterov .* got momentum=0\.9, dampening=0\.1"),
    (RMSProp, dict(alpha=1.0), r"alpha must be a number in \[0, 1\), got 1\.0"),
    (RMSProp, dict(momentum=-0.5), r"momentum must be a number in \[0, 1\), got -0\.5"),
])
def test_bad_hyper_parameters_are_named(cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls(model_on("numpy", "float64"), **kwargs)


def test_the_model_must_be_a_module():
    with pytest.raises(TypeError, match=r"model must be an nnref Module .*got dict"):
        Adam({"W": np.zeros(3)})


def test_weight_decay_spares_biases_and_normalisation_parameters():
    assert is_weight("W") and is_weight("0.W") and is_weight("block.dense.W")
    assert not any(is_weight(k) for k in ("b", "0.b", "3.gamma", "3.beta", "1.a", "Wb"))


# --- properties ----------------------------------------------------------------------------------------------


@SETTINGS
@given(g=floats(1e-3, 1e3).flatmap(lambda m: st.sampled_from([m, -m])), lr=floats(1e-4, 1.0),
       beta1=floats(0.0, 0.99), beta2=floats(0.0, 0.9999))
def test_adams_first_step_moves_each_coordinate_by_about_lr(backend, g, lr, beta1, beta2):
    """m̂₁ = g and v̂₁ = g², so θ₁ − θ₀ = −lr · g / (|g| + ε): lr per coordinate, against the gradient."""
    model = model_on(backend, "float64")
    before = {k: to_np64(v) for k, v in model.parameters().items()}
    grads = {k: to_backend(np.full(v.shape, g), backend, "float64") for k, v in model.parameters().items()}
    Adam(model, lr=lr, betas=(beta1, beta2)).step(grads)
    expected_step = -lr * g / (abs(g) + 1e-8)
    for k, v in model.parameters().items():
        assert_close(to_np64(v) - before[k], np.full(before[k].shape, expected_step), "float64",
                     f"Adam's first step on {k} (g={g}, lr={lr}, betas=({beta1}, {beta2}))", rtol=1e-9, atol=1e-15)


@SETTINGS
@given(g=floats(-10.0, 10.0), lr=floats(1e-3, 1.0), momentum=floats(0.0, 0.99), steps=st.integers(1, 40))
def test_heavy_ball_under_a_constant_gradient_follows_its_closed_form(g, lr, momentum, steps):
    """With gₜ = g, bₜ = g (1 − μᵗ) / (1 − μ), so θₜ = θ₀ − lr g Σₖ₌₁ᵗ (1 − μᵏ) / (1 − μ)."""
    model = model_on("numpy", "float64")
    before = model.parameters()
    optimizer = Momentum(model, lr=lr, momentum=momentum)
    grads = {k: np.full(v.shape, g) for k, v in before.items()}
    for _ in range(steps):
        optimizer.step(grads)
    travelled = lr * g * sum((1 - momentum**k) / (1 - momentum) for k in range(1, steps + 1))
    for k, v in model.parameters().items():
        # the closed form sums the same terms in another order: round-off grows with the distance travelled
        assert_close(v, before[k] - travelled, "float64", f"heavy ball after {steps} steps: {k}",
                     rtol=1e-10, atol=1e-12 * (1 + abs(travelled)))
