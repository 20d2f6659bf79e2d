"""Row 4: torch on CUDA, judged against ceilings measured in the same run.

* dense matmul throughput, FP64, FP32 (TF32 off), TF32, BF16 and FP16:
  the ceilings of the GPU;
* the MLP training step at large batch and width, nnref on the torch-CUDA
  backend and plain torch autograd, against the raw products of the step's
  own shapes (target: the step reaches 60% of their throughput);
* element-wise kernels (nnref's ReLU forward and backward, sigmoid) against
  the bandwidth of a plain device-to-device copy;
* the speed-up of the same step over the CPU.

On a machine without a GPU the row says "no GPU" and measures nothing.  The
code takes the device as an argument, so the test suite runs it on the CPU
with tiny sizes to keep it working until a GPU is at hand.
"""

from __future__ import annotations

import contextlib
import time

from .gemm import flops, gflops, step_products, torch_products
from .mlp_step import nnref_step, problem, torch_autograd_step
from .report import Row
from .timing import Stats, compare

MATMUL_MODES = {  # name: (dtype, TF32 allowed)
    "FP64": ("float64", False),
    "FP32": ("float32", False),
    "TF32": ("float32", True),
    "BF16": ("bfloat16", False),
    "FP16": ("float16", False),
}


@contextlib.contextmanager
def tf32(allowed: bool):
    """Allow or forbid TF32 tensor-core matmuls inside the block, then restore."""
    import torch

    before = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = allowed
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before


def _sync(device: str):
    import torch

    if str(device).startswith("cuda"):
        return torch.cuda.synchronize
    return lambda: None


def _ms(samples):
    return Stats.of(samples).map(lambda t: t * 1e3)


STEPS = ("matmul", "mlp", "elementwise")


def run(cfg, rng, progress, device: str | None = None, deadline: float | None = None) -> Row:
    """Every CUDA measurement on ``device`` (default: the GPU, if there is one).

    ``deadline`` (a ``time.monotonic()`` value): no step starts after it, and
    the row lists the steps it skipped.
    """
    import torch

    row = Row("4", "torch on CUDA: matmul ceilings, MLP step, element-wise kernels, GPU/CPU speed-up")
    if device is None:
        if not torch.cuda.is_available():
            row.status = "no GPU"
            row.notes.append("no GPU: torch.cuda.is_available() is False on this machine, nothing measured")
            return row
        device = "cuda"
    if not str(device).startswith("cuda"):
        row.notes.append(f"dry run on {device!r}: the code path of the CUDA row, not GPU numbers")
    sync = _sync(device)
    skipped = []
    for step in progress(STEPS, desc="row 4: CUDA"):
        if deadline is not None and time.monotonic() > deadline:
            skipped.append(step)
        elif step == "matmul":
            _matmul(row, cfg, rng, device, sync)
        elif step == "mlp":
            _mlp(row, cfg, rng, device, sync)
        else:
            _elementwise(row, cfg, device, sync)
    if skipped:
        row.notes.append(f"skipped, the time budget ran out first: {', '.join(skipped)}")
        row.status = "ok" if row.entries else "skipped"
    return row


def _matmul(row, cfg, rng, device, sync):
    n = cfg.gpu_gemm_size
    shapes = [(n, n, n)]
    runs = {}
    for mode, (dtype, allow) in MATMUL_MODES.items():
        product = torch_products(shapes, dtype, device, rng)

        def call(product=product, allow=allow):
            with tf32(allow):
                product()

        runs[mode] = call
    samples = compare(runs, repeats=cfg.repeats, min_time=cfg.min_time, sync=sync)
    for mode in MATMUL_MODES:
        row.add(f"matmul {mode} {n}x{n}x{n}", "throughput", "TFLOP/s",
                gflops(samples[mode], flops(shapes)).map(lambda g: g / 1e3))
    row.add_comparison("matmul speed TF32 / FP32", samples, "FP32", "TF32")
    row.add_comparison("matmul speed BF16 / FP32", samples, "FP32", "BF16")


def _mlp(row, cfg, rng, device, sync):
    import torch

    sizes, batch = cfg.gpu_sizes, cfg.gpu_batch
    X, y = problem(sizes, batch, "float32")
    from .mlp_step import initial_weights

    weights = initial_weights(sizes, "float32")
    name = f"{'-'.join(map(str, sizes))} b{batch}"
    # the training step, as fit runs it, skips ∂L/∂X of the data like torch's autograd: the same products
    ours = theirs = step_products(sizes, batch, input_grad=False)
    for mode in ("FP32", "TF32"):
        allow = MATMUL_MODES[mode][1]
        with tf32(allow):
            samples = compare({
                "nnref-torch": nnref_step(sizes, X, y, "float32", backend="torch", device=device),
                "torch-autograd": torch_autograd_step(weights, X, y, device=device),
                "gemm": torch_products(ours, torch.float32, device, rng),
                "gemm-autograd": torch_products(theirs, torch.float32, device, rng),
            }, repeats=cfg.repeats, min_time=cfg.min_time, sync=sync)
        row.add(f"{name} {mode}: nnref-torch step", "time", "ms", _ms(samples["nnref-torch"]))
        row.add(f"{name} {mode}: torch-autograd step", "time", "ms", _ms(samples["torch-autograd"]))
        row.add(f"{name} {mode}: nnref-torch products", "throughput", "TFLOP/s",
                gflops(samples["nnref-torch"], flops(ours)).map(lambda g: g / 1e3))
        row.add_comparison(f"{name} {mode}: matmul share gemm / nnref-torch step", samples, "gemm", "nnref-torch",
                           at_least=0.6)
        row.add_comparison(f"{name} {mode}: matmul share gemm / torch-autograd step", samples,
                           "gemm-autograd", "torch-autograd")
        row.add_comparison(f"{name} {mode}: nnref-torch / torch-autograd", samples, "nnref-torch", "torch-autograd")
        if mode == "FP32":
            gpu_step = samples
    cpu = compare({
        "nnref-torch": nnref_step(sizes, X, y, "float32", backend="torch", device="cpu"),
        "torch-autograd": torch_autograd_step(weights, X, y, device="cpu"),
    }, repeats=cfg.cpu_repeats, min_time=0.0)
    for name_ in ("nnref-torch", "torch-autograd"):
        cpu_median = Stats.of(cpu[name_]).median
        speedup = Stats.of(gpu_step[name_]).map(lambda t, c=cpu_median: c / t)
        row.add(f"{name} FP32: GPU/CPU speed-up, {name_}", "ratio", "x", speedup,
                note=f"CPU median over {cfg.cpu_repeats}, {torch.get_num_threads()} threads")


def _elementwise(row, cfg, device, sync):
    import torch

    from nnref.activations import ReLU, Sigmoid

    n = cfg.gpu_elements
    x = torch.randn(n, device=device, dtype=torch.float32)
    g = torch.randn(n, device=device, dtype=torch.float32)
    out = torch.empty_like(x)
    relu, sig = ReLU(), Sigmoid()
    relu.forward(x)
    size = n * x.element_size()
    runs = {
        "copy": (lambda: out.copy_(x), 2 * size),
        "relu forward": (lambda: relu.forward(x), 2 * size),
        "relu backward": (lambda: relu.backward(g), 3 * size),
        "sigmoid forward": (lambda: sig.forward(x), 2 * size),
    }
    samples = compare({k: fn for k, (fn, _) in runs.items()}, repeats=cfg.repeats, min_time=cfg.min_time, sync=sync)
    for name, (_, moved) in runs.items():
        row.add(f"{name}, {n} float32 ({moved / size:.0f} x {size / 2**20:.0f} MiB moved at least)", "throughput",
                "GB/s", Stats.of(samples[name]).map(lambda t, b=moved: b / t / 1e9))
        if name != "copy":
            achieved = [(moved / t) / (2 * size / c) for t, c in zip(samples[name], samples["copy"])]
            best = (moved / min(samples[name])) / (2 * size / min(samples["copy"]))
            row.add_ratio(f"{name}: achieved / copy bandwidth", Stats.of(achieved), best=best)
