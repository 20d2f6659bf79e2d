"""Learning-rate schedules: step decay, cosine annealing, linear warm-up, and one after another.

They follow ``torch.optim.lr_scheduler``: a scheduler wraps an optimiser,
sets its learning rate ``optimizer.lr`` when it is made (step t = 0) and
again at every ``scheduler.step()``, called once per epoch (or per batch)
after ``optimizer.step()``::

    optimizer = Adam(model, lr=1e-3)
    warmup = LinearLR(optimizer, start_factor=0.1, total_iters=5)
    cosine = CosineAnnealingLR(optimizer, T_max=95)
    scheduler = SequentialLR(optimizer, [warmup, cosine], milestones=[5])
    for epoch in range(100):
        ...                     # optimizer.step() for every batch
        scheduler.step()

Each schedule is a function of the step number, ``lr_at(t)`` = base lr ×
``factor(t)``, where the base lr is the optimiser's learning rate before any
scheduler touched it (kept, as torch keeps ``initial_lr``, in
``optimizer.initial_lr``).  Any object with an ``lr`` attribute can be
scheduled: ``nnref.optim.SGD`` and the optimisers of ``nnref.optimizers``.
"""

from __future__ import annotations

import math

from .validation import check_positive


class LRScheduler:
    """The shared part: the base lr, the step counter ``last_epoch`` and ``step()``."""

    def __init__(self, optimizer):
        lr = getattr(optimizer, "lr", None)
        if isinstance(lr, bool) or not isinstance(lr, (int, float)):
            raise TypeError(f"optimizer must have a numeric learning rate attribute lr, "
                            f"got {type(optimizer).__name__} with lr={lr!r}")
        if not hasattr(optimizer, "initial_lr"):
            optimizer.initial_lr = float(lr)
        self.optimizer, self.base_lr, self.last_epoch = optimizer, optimizer.initial_lr, 0
        self.optimizer.lr = self.lr_at(0)

    def factor(self, t: int) -> float:
        """The multiplier of the base lr at step t."""
        raise NotImplementedError

    def lr_at(self, t: int) -> float:
        """The learning rate at step t = 0, 1, 2, ..."""
        return self.base_lr * self.factor(t)

    def step(self) -> None:
        """Advance one step and set ``optimizer.lr``."""
        self.last_epoch += 1
        self.optimizer.lr = self.lr_at(self.last_epoch)

    def get_last_lr(self) -> float:
        """The learning rate set last (one number: an nnref optimiser has one parameter group)."""
        return self.lr_at(self.last_epoch)


def _check_count(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


class StepLR(LRScheduler):
    """Step decay: lr · γ^⌊t / step_size⌋ (the lr falls by a factor γ every ``step_size`` steps)."""

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1):
        self.step_size = _check_count(step_size, "step_size")
        check_positive(gamma, "gamma")
        self.gamma = float(gamma)
        super().__init__(optimizer)

    def factor(self, t: int) -> float:
        return self.gamma ** (t // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing (Loshchilov and Hutter, 2017, "SGDR: stochastic gradient descent with
    warm restarts", without the restarts):

        ηₜ = η_min + (η₀ − η_min) · (1 + cos(π t / T_max)) / 2,

    from the base lr η₀ at t = 0 down to ``eta_min`` at t = T_max (and back up
    after it, as in torch: the cosine goes on).
    """

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0):
        self.T_max = _check_count(T_max, "T_max")
        check_positive(eta_min, "eta_min", allow_zero=True)
        self.eta_min = float(eta_min)
        super().__init__(optimizer)

    def lr_at(self, t: int) -> float:
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * t / self.T_max)) / 2

    def factor(self, t: int) -> float:
        return self.lr_at(t) / self.base_lr


class LinearLR(LRScheduler):
    """Linear warm-up (or decay) of the factor from ``start_factor`` to ``end_factor``
    over ``total_iters`` steps, then constant:

        lr · (s + (e − s) · min(t, T) / T).
    """

    def __init__(self, optimizer, start_factor: float = 1 / 3, end_factor: float = 1.0, total_iters: int = 5):
        if not 0 < start_factor <= 1:
            raise ValueError(f"start_factor must lie in (0, 1], got {start_factor!r}")
        if not 0 <= end_factor <= 1:
            raise ValueError(f"end_factor must lie in [0, 1], got {end_factor!r}")
        self.start_factor, self.end_factor = float(start_factor), float(end_factor)
        self.total_iters = _check_count(total_iters, "total_iters")
        super().__init__(optimizer)

    def factor(self, t: int) -> float:
        fraction = min(t, self.total_iters) / self.total_iters
        return self.start_factor + (self.end_factor - self.start_factor) * fraction


class SequentialLR(LRScheduler):
    """Schedules one after another: ``schedulers[i]`` runs from ``milestones[i - 1]`` on,
    restarted at its own step 0 (torch's ``SequentialLR``); typically a warm-up, then a decay."""

    def __init__(self, optimizer, schedulers: list, milestones: list[int]):
        schedulers, milestones = list(schedulers), list(milestones)
        if not schedulers:
            raise ValueError("schedulers must list at least one scheduler, got none")
        for i, scheduler in enumerate(schedulers):
            if not isinstance(scheduler, LRScheduler):
                raise TypeError(f"schedulers[{i}] must be a scheduler, got {type(scheduler).__name__}")
            if scheduler.optimizer is not optimizer:
                raise ValueError(f"schedulers[{i}] ({type(scheduler).__name__}) schedules another optimizer")
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"milestones must have one entry fewer than schedulers ({len(schedulers) - 1}), "
                             f"got {len(milestones)}: {milestones!r}")
        for i, m in enumerate(milestones):
            _check_count(m, f"milestones[{i}]")
        if milestones != sorted(set(milestones)):
            raise ValueError(f"milestones must be strictly increasing, got {milestones!r}")
        self.schedulers, self.milestones = schedulers, milestones
        super().__init__(optimizer)

    def lr_at(self, t: int) -> float:
        i = sum(t >= m for m in self.milestones)
        start = self.milestones[i - 1] if i else 0
        return self.schedulers[i].lr_at(t - start)

    def factor(self, t: int) -> float:
        return self.lr_at(t) / self.base_lr


SCHEDULERS = {"step": StepLR, "cosine": CosineAnnealingLR, "linear": LinearLR, "sequential": SequentialLR}
