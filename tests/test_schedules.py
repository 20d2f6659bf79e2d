"""Learning-rate schedules against torch.optim.lr_scheduler, alone, in sequence and driving an optimiser."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_close, split, to_backend, to_np64, torch64

import nnref.schedules
from nnref import Dense
from nnref.optim import SGD
from nnref.optimizers import Adam, Momentum
from nnref.schedules import CosineAnnealingLR, LinearLR, SequentialLR, StepLR

torch = pytest.importorskip("torch")
lr_scheduler = torch.optim.lr_scheduler

STEPS = 60
BASE_LR = 0.1

# nnref evaluates each schedule in closed form; torch mostly updates the previous lr
# recursively (cosine: a ratio of two cosines per step).  Each recursive step rounds a few
# times (~1e-16 relative) and 60 of them stay far below 1e-12; the absolute part covers
# cosine annealing near its minimum, where lr itself is ~1e-4 of the base.
LR_TOL = dict(rtol=1e-12, atol=1e-15)


def both(make):
    """``make(optimizer, module)`` applied to an nnref optimiser and to torch's, on one parameter each."""
    ours = Momentum(Dense(2, 1, rng=0), lr=BASE_LR)
    theirs = torch.optim.SGD([torch.zeros(1, dtype=torch.float64, requires_grad=True)], lr=BASE_LR, momentum=0.9)
    return (ours, make(ours, nnref.schedules)), (theirs, make(theirs, lr_scheduler))


CASES = {
    "step": lambda opt, m: m.StepLR(opt, step_size=7, gamma=0.5),
    "cosine-past-T_max": lambda opt, m: m.CosineAnnealingLR(opt, T_max=20, eta_min=1e-3),
    "cosine-to-zero": lambda opt, m: m.CosineAnnealingLR(opt, T_max=STEPS),
    "linear-warm-up": lambda opt, m: m.LinearLR(opt, start_factor=0.1, total_iters=10),
    "linear-decay": lambda opt, m: m.LinearLR(opt, start_factor=1.0, end_factor=0.2, total_iters=30),
    "warm-up-then-cosine": lambda opt, m: m.SequentialLR(
        opt, [m.LinearLR(opt, start_factor=0.01, total_iters=5), m.CosineAnnealingLR(opt, T_max=40, eta_min=1e-4)],
        milestones=[5]),
    "warm-up-step-cosine": lambda opt, m: m.SequentialLR(
        opt, [m.LinearLR(opt, start_factor=0.25, end_factor=1.0, total_iters=4), m.StepLR(opt, step_size=5, gamma=0.3),
              m.CosineAnnealingLR(opt, T_max=15)], milestones=[6, 25]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_learning_rates_match_torch(case):
    (ours, ours_sched), (theirs, theirs_sched) = both(CASES[case])
    got, want = [ours.lr], [theirs.param_groups[0]["lr"]]
    for _ in range(STEPS):
        theirs.step()  # torch warns when the scheduler steps before the optimiser
        ours_sched.step()
        theirs_sched.step()
        got.append(ours.lr)
        want.append(theirs.param_groups[0]["lr"])
    assert_close(np.array(got), np.array(want), "float64", f"{case}: lr at steps 0..{STEPS}", **LR_TOL)
    assert ours_sched.get_last_lr() == ours.lr
    assert_close(np.array(got), np.array([ours_sched.lr_at(t) for t in range(STEPS + 1)]), "float64",
                 f"{case}: lr_at(t) vs the lr that step() set", rtol=0, atol=0)


@pytest.mark.parametrize("make_ours, torch_name, torch_kwargs", [
    (lambda m: Momentum(m, lr=0.05, momentum=0.9, nesterov=True), "SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    (lambda m: Adam(m, lr=0.02, betas=(0.8, 0.99)), "Adam", dict(lr=0.02, betas=(0.8, 0.99))),
])
def test_a_scheduled_optimiser_follows_torch(make_ours, torch_name, torch_kwargs, backend):
    """Warm-up then cosine, stepped every update: the lr enters each update (and, for momentum,
    rescales the whole velocity, as torch does), so the trajectories agree only if both agree."""
    rng = np.random.default_rng(0)
    name, device = split(backend)
    model = Dense(3, 2, rng=0, backend=name, device=device)
    start = {k: to_np64(v) for k, v in model.parameters().items()}
    grads = [{k: rng.standard_normal(v.shape) for k, v in start.items()} for _ in range(40)]
    ours = make_ours(model)
    ours_sched = SequentialLR(ours, [LinearLR(ours, 0.1, total_iters=5), CosineAnnealingLR(ours, T_max=35)], [5])
    params = {k: torch64(v, requires_grad=True) for k, v in start.items()}
    theirs = getattr(torch.optim, torch_name)(list(params.values()), **torch_kwargs)
    theirs_sched = lr_scheduler.SequentialLR(theirs, [lr_scheduler.LinearLR(theirs, 0.1, total_iters=5),
                                                      lr_scheduler.CosineAnnealingLR(theirs, T_max=35)], [5])
    for t, g in enumerate(grads, start=1):
        ours.step({k: to_backend(v, backend, "float64") for k, v in g.items()})
        for k, p in params.items():
            p.grad = torch64(g[k])
        theirs.step()
        ours_sched.step()
        theirs_sched.step()
        for k, v in model.parameters().items():
            # 40 steps of a few roundings each, |θ| ≲ 3 (see test_optimizers.TRAJECTORY_TOL)
            assert_close(v, params[k], "float64", f"{torch_name} with a schedule: {k} after step {t}",
                         rtol=1e-12, atol=1e-12)


def test_the_first_scheduler_sets_the_lr_at_step_zero_and_the_base_lr_is_kept():
    optimizer = SGD(Dense(2, 1, rng=0), lr=0.5)
    LinearLR(optimizer, start_factor=0.2, total_iters=4)
    assert optimizer.lr == pytest.approx(0.1, rel=1e-15) and optimizer.initial_lr == 0.5
    later = CosineAnnealingLR(optimizer, T_max=10)  # made after the warm-up changed lr: its base is still 0.5
    assert later.base_lr == 0.5


def test_plain_sgd_uses_the_scheduled_lr():
    model = Dense(2, 1, rng=0)
    optimizer = SGD(model, lr=1.0)
    scheduler = StepLR(optimizer, step_size=1, gamma=0.5)
    scheduler.step()
    before = model.parameters()["b"].copy()
    optimizer.step({"W": np.zeros((1, 2)), "b": np.ones(1)})
    np.testing.assert_allclose(model.parameters()["b"], before - 0.5, rtol=0, atol=0)


@pytest.mark.parametrize("make, message", [
    (lambda o: StepLR(o, step_size=0), r"step_size must be a positive integer, got 0"),
    (lambda o: StepLR(o, step_size=2.5), r"step_size must be a positive integer, got 2\.5"),
    (lambda o: StepLR(o, step_size=3, gamma=0.0), r"gamma must be > 0, got 0\.0"),
    (lambda o: CosineAnnealingLR(o, T_max=0), r"T_max must be a positive integer, got 0"),
    (lambda o: CosineAnnealingLR(o, T_max=10, eta_min=-1.0), r"eta_min must be >= 0, got -1\.0"),
    (lambda o: LinearLR(o, start_factor=0.0), r"start_factor must lie in \(0, 1\], got 0\.0"),
    (lambda o: LinearLR(o, end_factor=1.5), r"end_factor must lie in \[0, 1\], got 1\.5"),
    (lambda o: SequentialLR(o, [], []), r"schedulers must list at least one scheduler"),
    (lambda o: SequentialLR(o, [StepLR(o, 2), StepLR(o, 3)], []), r"milestones must have one entry fewer .* got 0"),
    (lambda o: SequentialLR(o, [StepLR(o, 2), StepLR(o, 3), StepLR(o, 4)], [5, 5]), r"strictly increasing"),
    (lambda o: SequentialLR(o, [StepLR(SGD(Dense(2, 1), lr=1.0), 2)], []), r"schedulers\[0\] \(StepLR\) .*another"),
])
def test_bad_arguments_are_named(make, message):
    with pytest.raises(ValueError, match=message):
        make(SGD(Dense(2, 1, rng=0), lr=0.1))


def test_something_without_a_learning_rate_cannot_be_scheduled():
    with pytest.raises(TypeError, match=r"optimizer must have a numeric learning rate attribute lr, got dict"):
        StepLR({"lr": 0.1}, step_size=2)
    with pytest.raises(TypeError, match=r"schedulers\[1\] must be a scheduler, got function"):
        optimizer = SGD(Dense(2, 1, rng=0), lr=0.1)
        SequentialLR(optimizer, [StepLR(optimizer, 2), lambda t: 0.1], [3])
