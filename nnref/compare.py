"""Time the same computation on NumPy and on torch, and count the array calls it makes.

The chapters use :func:`compare_backends` to run one small training on every
backend and show where its time goes; the performance appendix uses
:func:`seconds_per_call` and :func:`dense_step` to time single calls over a
range of sizes.  torch is imported only when a torch backend is timed.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import numpy as np

from .backend import Backend, asarray, cuda_available, resolve, to_numpy


def backends_to_compare() -> list[Backend]:
    """NumPy, torch on the CPU, and torch on the GPU when one is present (or ``NNREF_DEVICE`` names one)."""
    found = [Backend("numpy"), Backend("torch", "cpu")]
    default_torch = resolve("torch")
    if default_torch.device != "cpu" or cuda_available():
        found.append(default_torch if default_torch.device != "cpu" else Backend("torch", "cuda"))
    return found


def _on_gpu(backend: Backend) -> bool:
    return backend.name == "torch" and str(backend.device).startswith("cuda")


def _synchronize(backend: Backend) -> None:
    # CUDA calls return before the GPU has finished; the clock must wait for it
    if _on_gpu(backend):
        import torch

        torch.cuda.synchronize()


@contextlib.contextmanager
def one_cpu_thread(backend: Backend):
    """Run torch on one CPU thread inside the block (nothing changes for NumPy or a GPU).

    On small arrays a pool of threads costs more than it saves, and its idle
    threads spin, which CPU time would count; with one thread it does not.
    """
    if backend.name != "torch" or _on_gpu(backend):
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def clock(backend: Backend):
    """The clock that times ``backend``: this process's CPU time on the CPU, the wall clock on a GPU.

    CPU time leaves out the moments when other programs held the processor,
    the main noise on a shared machine; a GPU's work is not CPU time.
    """
    return time.perf_counter if _on_gpu(backend) else time.process_time


def seconds_per_call(fn, *, backend: Backend | None = None, min_time: float = 0.01, repeat: int = 3) -> float:
    """The fastest time of one call of ``fn()``, in seconds, on the clock of ``backend``.

    Each of ``repeat`` samples calls ``fn`` often enough to last ``min_time``;
    the fastest sample is kept, because a busy machine only ever adds time.
    torch on the CPU runs on one thread (:func:`one_cpu_thread`).
    """
    if min_time <= 0 or repeat < 1:
        raise ValueError(f"min_time must be > 0 and repeat >= 1, got min_time={min_time}, repeat={repeat}")
    backend = backend or Backend("numpy")
    with one_cpu_thread(backend):
        fn()  # the first call pays one-off costs (caches, a GPU's start-up)
        _synchronize(backend)
        number, best, now = 1, float("inf"), clock(backend)
        for _ in range(repeat):
            while True:
                start = now()
                for _ in range(number):
                    fn()
                _synchronize(backend)
                elapsed = now() - start
                if elapsed >= min_time:
                    break
                number *= 2 if elapsed == 0 else max(2, int(1.2 * min_time / elapsed))
            best = min(best, elapsed / number)
    return best


def count_calls(fn) -> int:
    """How many torch functions and tensor methods ``fn()`` calls (attribute reads such as ``.shape`` excluded)."""
    from torch.overrides import TorchFunctionMode

    class Counter(TorchFunctionMode):
        calls = 0

        def __torch_function__(self, func, types, args=(), kwargs=None):
            if getattr(func, "__name__", "") != "__get__":
                Counter.calls += 1
            return func(*args, **(kwargs or {}))

    with Counter():
        fn()
    return Counter.calls


@dataclass(frozen=True)
class Run:
    """One backend's run: where it ran, its first and its fastest time in seconds, its result as a NumPy array."""

    backend: Backend
    first: float
    seconds: float
    result: np.ndarray


@dataclass(frozen=True)
class Comparison:
    """The same computation run on several backends, and the array calls it makes each time."""

    runs: list[Run]
    calls: int

    def seconds(self, backend: str) -> float:
        """The time of the run on ``backend`` (``"numpy"``, ``"torch:cpu"``, ``"torch:cuda"``, ...)."""
        for run in self.runs:
            if str(run.backend) == backend:
                return run.seconds
        raise KeyError(f"no run on {backend!r}; the runs were on {[str(r.backend) for r in self.runs]}")

    def max_difference(self) -> float:
        """The largest |NumPy result − other backend's result| over every entry and every other backend."""
        reference = self.runs[0].result
        return max(float(np.max(np.abs(reference - run.result))) for run in self.runs[1:])

    def markdown(self) -> str:
        """A MyST table: backend, first and fastest run in seconds, microseconds per array call."""
        lines = ["| backend | first run (s) | fastest run (s) | µs per array call |", "| --- | ---: | ---: | ---: |"]
        for run in self.runs:
            lines.append(f"| {run.backend} | {run.first:.3f} | {run.seconds:.3f} | "
                         f"{1e6 * run.seconds / self.calls:.1f} |")
        return "\n".join(lines)


def compare_backends(run, backends: list[Backend] | None = None, repeat: int = 2) -> Comparison:
    """Call ``run(backend)`` ``repeat`` times on each backend; keep the first and the fastest time.

    ``run`` builds its model and data inside ``with nnref.use_backend(backend):``
    and returns an array (a loss curve, say).  The first backend is the
    reference of :meth:`Comparison.max_difference`.  torch on the CPU runs on
    one thread (:func:`one_cpu_thread`).  The array calls are counted once on
    torch's CPU; the code is the same on every backend.
    """
    backends = backends_to_compare() if backends is None else list(backends)
    if len(backends) < 2 or repeat < 1:
        raise ValueError(f"need at least two backends and repeat >= 1, got {len(backends)} and {repeat}")
    runs = []
    for backend in backends:
        asarray([1.0], backend=backend)  # start the device before the clock does
        times, result, now = [], None, clock(backend)
        with one_cpu_thread(backend):
            for _ in range(repeat):
                start = now()
                result = to_numpy(run(backend))  # copying to the host waits for a GPU to finish
                times.append(now() - start)
        runs.append(Run(backend, times[0], min(times), result))
    return Comparison(runs, count_calls(lambda: run(Backend("torch", "cpu"))))


def dense_step(batch: int, n_in: int, n_out: int, backend: Backend, *, plain: bool = False,
               dtype: str = "float64", rng=0):
    """A function that runs one forward and backward pass of a Dense(n_in, n_out) layer on a batch.

    ``plain=True`` writes the same arithmetic directly (v = X Wᵀ + b, ∂L/∂W = gᵀX,
    ∂L/∂b = Σ g, ∂L/∂X = g W), without nnref's modules and input checks.
    """
    from .layers import Dense

    if min(batch, n_in, n_out) < 1:
        raise ValueError(f"batch, n_in and n_out must be >= 1, got {batch}, {n_in}, {n_out}")
    generator = np.random.default_rng(rng)
    X = asarray(generator.standard_normal((batch, n_in)), dtype=dtype, backend=backend)
    g = asarray(generator.standard_normal((batch, n_out)), dtype=dtype, backend=backend)
    layer = Dense(n_in, n_out, rng=generator, dtype=dtype, backend=backend)
    if not plain:
        return lambda: (layer(X), layer.backward(g))
    W, b = layer.params["W"], layer.params["b"]
    return lambda: (X @ W.T + b, g.T @ X, g.sum(axis=0), g @ W)
