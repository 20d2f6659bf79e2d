"""Row 1: raw matrix-multiply throughput, the ceiling everything else is judged against.

Also the raw products of a training step's own shapes: a dense layer
(n_out, n_in) at batch n costs three products per step, X Wᵀ (forward),
gᵀ X (weight gradient) and g W (input gradient), each 2·n·n_in·n_out flops.
Timing exactly those products, with the fastest call each library offers
(NumPy's ``np.dot`` goes straight to BLAS, also for the rank-1 product at
n = 1 where ``np.matmul`` takes a slow loop), gives the ceiling of that step.
"""

from __future__ import annotations

from .report import Row
from .timing import Stats, compare

DTYPES = ("float32", "float64")


def step_products(sizes: list[int], batch: int, *, input_grad: bool = True) -> list[tuple[int, int, int]]:
    """(m, k, n) of every product C = A B (A m×k, B k×n) in one forward + backward pass.

    ``input_grad=False`` drops g W of the first layer, which autograd skips
    because X needs no gradient.
    """
    shapes = []
    for j, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        shapes.append((batch, n_in, n_out))      # X Wᵀ
        shapes.append((n_out, batch, n_in))      # gᵀ X
        if input_grad or j > 0:
            shapes.append((batch, n_out, n_in))  # g W
    return shapes


def flops(shapes) -> float:
    return float(sum(2 * m * k * n for m, k, n in shapes))


def numpy_products(shapes, dtype: str, rng):
    """A callable that computes every product once with ``np.dot`` (BLAS)."""
    import numpy as np

    pairs = [(rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype))
             for m, k, n in shapes]

    def run():
        for a, b in pairs:
            np.dot(a, b)

    return run


def torch_products(shapes, dtype, device: str, rng):
    """A callable that computes every product once with ``torch.mm`` on ``device``."""
    import torch

    dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
    pairs = [(torch.as_tensor(rng.standard_normal((m, k))).to(device=device, dtype=dtype),
              torch.as_tensor(rng.standard_normal((k, n))).to(device=device, dtype=dtype))
             for m, k, n in shapes]

    def run():
        for a, b in pairs:
            torch.mm(a, b)

    return run


def gflops(seconds: list[float], work: float) -> Stats:
    """Throughput in GFLOP/s from seconds per call (min time → max throughput)."""
    return Stats.of(seconds).map(lambda t: work / t / 1e9)


def run(cfg, rng) -> Row:
    """Square products n×n·n×n, NumPy and torch (CPU), float32 and float64."""
    row = Row("1", "raw matrix multiply (GEMM) throughput, CPU")
    n = cfg.gemm_size
    shapes = [(n, n, n)]
    work = flops(shapes)
    for dtype in DTYPES:
        samples = compare({"numpy": numpy_products(shapes, dtype, rng),
                           "torch": torch_products(shapes, dtype, "cpu", rng)},
                          repeats=cfg.repeats, min_time=cfg.min_time)
        for lib in ("numpy", "torch"):
            row.add(f"{lib} {dtype} {n}x{n}x{n}", "throughput", "GFLOP/s", gflops(samples[lib], work))
        row.add_comparison(f"{dtype}: torch time / numpy time", samples, "torch", "numpy")
        cfg.ceilings[dtype] = gflops(samples["numpy"], work).median
    row.notes.append(f"square products of size {n}; the NumPy float32/float64 medians are the ceilings of row 2")
    return row
