"""Timing side by side: every candidate of a comparison runs in the same rounds.

A shared, noisy machine makes absolute times wander by tens of percent from
one minute to the next.  A ratio of two codes timed in the *same* rounds
cancels the slow drift, so ``compare`` interleaves its candidates (in a
rotated order, so none is always first) and ``ratio`` divides them round by
round.  Bursts of load from other processes only ever add time, so the
ratio of each candidate's fastest sample (``report.Row.add_comparison``)
is the least disturbed estimate of all.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Stats:
    """Minimum, median and maximum of repeated measurements."""

    min: float
    median: float
    max: float
    n: int

    @classmethod
    def of(cls, values) -> Stats:
        values = [float(v) for v in values]
        if not values:
            raise ValueError("Stats.of needs at least one value, got an empty sequence")
        return cls(min(values), statistics.median(values), max(values), len(values))

    def map(self, fn: Callable[[float], float]) -> Stats:
        """Apply a monotone function; a decreasing one (such as 1/t) swaps min and max."""
        a, b = fn(self.min), fn(self.max)
        return Stats(min(a, b), fn(self.median), max(a, b), self.n)


_CLOCKS = {"wall": time.perf_counter, "thread-cpu": time.thread_time}
_clock_name = "wall"


def use_clock(name: str) -> None:
    """``"wall"`` (elapsed time) or ``"thread-cpu"`` (CPU time of this thread).

    With one BLAS and torch thread all the work runs on the calling thread,
    and its CPU time leaves out the time other processes held the core:
    the right clock on a shared machine.  With more threads (their work is
    not on this thread) and on a GPU (time waiting for it is not CPU time)
    only the wall clock is right; ``compare`` uses it whenever ``sync`` is
    given.
    """
    global _clock_name
    if name not in _CLOCKS:
        raise ValueError(f"clock must be one of {sorted(_CLOCKS)}, got {name!r}")
    _clock_name = name


def clock_name() -> str:
    return _clock_name


def _no_sync() -> None:
    return None


def _timed(fn: Callable[[], object], loops: int, sync: Callable[[], None]) -> float:
    clock = _CLOCKS["wall" if sync is not _no_sync else _clock_name]
    sync()
    start = clock()
    for _ in range(loops):
        fn()
    sync()
    return (clock() - start) / loops


def calibrate(fn: Callable[[], object], min_time: float, sync=_no_sync, max_loops: int = 10_000) -> int:
    """How many calls make one sample last at least ``min_time`` seconds."""
    once = _timed(fn, 1, sync)
    if once >= min_time:
        return 1
    return int(min(max_loops, math.ceil(min_time / max(once, 1e-9))))


def compare(candidates: dict[str, Callable[[], object]], *, repeats: int, min_time: float,
            sync=_no_sync, warmup: float = 5.0) -> dict[str, list[float]]:
    """Seconds per call of every candidate, one sample per round, ``repeats`` rounds.

    Each candidate is warmed up (called for ``warmup`` x ``min_time`` seconds,
    and at least once: a fresh training step was seen to run twice as slow
    for its first few hundred calls), then called often enough that a sample lasts
    ``min_time`` (once, if one warm-up call alone took that long); round r
    runs the candidates in an order rotated by r.  The garbage collector is
    paused during a sample, as ``timeit`` does.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats!r}")
    names = list(candidates)
    loops = {}
    for name in names:
        spent, last = 0.0, 0.0
        while spent <= warmup * min_time:
            last = _timed(candidates[name], 1, sync)
            spent += last
        # a warm-up call that already lasts min_time makes a calibration call pointless
        loops[name] = 1 if last >= min_time else calibrate(candidates[name], min_time, sync)
    samples: dict[str, list[float]] = {name: [] for name in names}
    enabled = gc.isenabled()
    try:
        for r in range(repeats):
            order = names[r % len(names):] + names[:r % len(names)]
            for name in order:
                gc.disable()
                samples[name].append(_timed(candidates[name], loops[name], sync))
                if enabled:
                    gc.enable()
    finally:
        if enabled:
            gc.enable()
    return samples


def ratio(samples: dict[str, list[float]], numerator: str, denominator: str) -> Stats:
    """Round-by-round ratio numerator / denominator of times from one ``compare``."""
    top, bottom = samples[numerator], samples[denominator]
    if len(top) != len(bottom):
        raise ValueError(f"{numerator!r} has {len(top)} samples but {denominator!r} has {len(bottom)}")
    return Stats.of(t / b for t, b in zip(top, bottom))


def once(fn: Callable[[], object], sync=_no_sync) -> float:
    """Seconds for a single call (for things too slow to repeat many times)."""
    return _timed(fn, 1, sync)
