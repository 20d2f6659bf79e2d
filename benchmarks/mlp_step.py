"""Row 2: one MLP training step, four ways, side by side.

A step is forward, softmax cross-entropy, backward and the SGD update
θ ← θ − lr·∇L, on a ReLU network.  The four candidates share shapes, dtype,
initial weights and thread count:

* ``nnref-numpy``: the reference package as ``fit`` drives it
  (``optim.loss_and_grad`` then ``InPlaceSGD.step``) on the
  NumPy backend: no ∂L/∂X of the first layer (the data needs none), and
  θ − lr·g written into the parameter arrays;
* ``inline-numpy``: the same arithmetic written inline in NumPy, no library;
  it computes exactly what nnref computes, so it too skips ∂L/∂X of the
  first layer and updates in place;
* ``nnref-torch``: the reference package on the torch backend (CPU here);
* ``torch-autograd``: plain torch as one would write it, ``F.linear``,
  ``loss.backward()`` and an in-place update;

plus ``gemm``, the raw matrix products of nnref's step alone (the ceiling),
and, at batch >= 128, ``nnref-numpy-dX``: the step with ``model.backward(g)``
returning ∂L/∂X as well, the contract of ``backward`` that the gradient
checker relies on, for comparison.
"""

from __future__ import annotations

import math

import numpy as np

from .gemm import flops, numpy_products, step_products
from .report import Row
from .timing import Stats, compare

LR = 1e-3


def problem(sizes, batch, dtype, seed=0):
    """Inputs X (batch, n_in), one-hot targets y (batch, n_out), NumPy, ``dtype``."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((batch, sizes[0])).astype(dtype)
    y = np.eye(sizes[-1], dtype=dtype)[rng.integers(sizes[-1], size=batch)]
    return X, y


def initial_weights(sizes, dtype, seed=0):
    """[(W, b), ...] as NumPy arrays, from the package's own initialiser."""
    from nnref.models import MLP

    model = MLP(sizes, activation="relu", output="softmax", rng=seed, dtype=dtype, backend="numpy")
    return [(layer.params["W"].copy(), layer.params["b"].copy()) for layer in model.dense_layers]


def nnref_step(sizes, X, y, dtype, backend="numpy", device=None, seed=0, input_grad=False):
    """The package's step on a backend, as ``fit`` runs it: ``loss_and_grad``
    then ``InPlaceSGD.step``, updating the model's own (fresh) parameter arrays in place.

    ``input_grad=True`` runs the same checks and arithmetic but also computes
    ∂L/∂X of the first layer (``model.backward(g)``, the default of
    ``backward``), which ``loss_and_grad`` skips.
    """
    import nnref
    from nnref.backend import no_grad
    from nnref.models import MLP
    from nnref.optim import Diverged, InPlaceSGD, loss_and_grad
    from nnref.validation import all_finite

    model = MLP(sizes, activation="relu", output="softmax", rng=seed, dtype=dtype, backend=backend, device=device)
    loss, optimiser = model.default_loss(), InPlaceSGD(model, LR)
    X = nnref.asarray(X, backend=backend, device=device)
    y = nnref.asarray(y, backend=backend, device=device)

    def step():
        value = loss_and_grad(model, loss, X, y)
        optimiser.step()
        return value

    @no_grad  # as loss_and_grad
    def step_with_input_grad():
        out = model(X)
        if not all_finite(out):
            raise Diverged("the model's output is no longer finite")
        value = float(loss(out, y))
        if not math.isfinite(value):
            raise Diverged(f"the loss is {value}")
        model.zero_grad()
        model.backward(loss.backward())
        optimiser.step()
        return value

    return step_with_input_grad if input_grad else step


def inline_step(weights, X, y):
    """The same step written inline in NumPy (see the module docstring)."""
    state = [(W.copy(), b.copy()) for W, b in weights]
    n, last = X.shape[0], len(state) - 1

    def step():
        inputs, pre = [], []
        h = X
        for j, (W, b) in enumerate(state):
            inputs.append(h)
            v = h @ W.T + b
            if j < last:
                pre.append(v)
                h = np.maximum(v, 0)
        shifted = v - v.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        value = float(-(y * log_p).sum() / n)
        g = (np.exp(log_p) - y) / n
        for j in range(last, -1, -1):
            W, b = state[j]
            grad_W, grad_b = np.dot(g.T, inputs[j]), g.sum(axis=0)
            if j > 0:  # layer 1's input is the data: no gradient wanted there
                g = np.where(pre[j - 1] > 0, g @ W, 0)
            W -= LR * grad_W
            b -= LR * grad_b
        return value

    return step


def torch_autograd_step(weights, X, y, device="cpu", dtype=None):
    """Plain torch with autograd: ``F.linear``, ``F.cross_entropy``, in-place SGD."""
    import torch
    import torch.nn.functional as F

    def put(a):
        t = torch.as_tensor(a).to(device)
        return t if dtype is None else t.to(dtype)

    params = [(put(W).requires_grad_(), put(b).requires_grad_()) for W, b in weights]
    X, y = put(X), put(y)
    last = len(params) - 1

    def step():
        h = X
        for j, (W, b) in enumerate(params):
            h = F.linear(h, W, b)
            if j < last:
                h = torch.relu(h)
        loss = F.cross_entropy(h, y)
        loss.backward()
        with torch.no_grad():
            for W, b in params:
                W.sub_(W.grad, alpha=LR)
                b.sub_(b.grad, alpha=LR)
                W.grad, b.grad = None, None
        return loss.item()

    return step


def _label(sizes, batch, dtype):
    return f"{'-'.join(map(str, sizes))} b{batch} {dtype}"


def measure(sizes, batch, dtype, cfg, rng) -> dict[str, list[float]]:
    """Seconds per step of every candidate, in the same rounds."""
    X, y = problem(sizes, batch, dtype)
    weights = initial_weights(sizes, dtype)
    candidates = {
        "nnref-numpy": nnref_step(sizes, X, y, dtype),
        "inline-numpy": inline_step(weights, X, y),
        "nnref-torch": nnref_step(sizes, X, y, dtype, backend="torch", device="cpu"),
        "torch-autograd": torch_autograd_step(weights, X, y),
        "gemm": numpy_products(step_products(sizes, batch, input_grad=False), dtype, rng),
    }
    if batch >= 128:
        candidates["nnref-numpy-dX"] = nnref_step(sizes, X, y, dtype, input_grad=True)
    return compare(candidates, repeats=cfg.repeats, min_time=cfg.min_time)


def _warm_process(cfg):
    """Run the first configuration untimed for a while before anything is measured.

    The first few hundred steps of the package in a fresh process ran up to
    twice as slow as later ones (seen with the thread's CPU clock, so not
    load from elsewhere); without this the first row of the table paid for it.
    """
    sizes, dtype = cfg.nets[0], cfg.dtypes[0]
    X, y = problem(sizes, 1, dtype)
    steps = {"nnref": nnref_step(sizes, X, y, dtype), "inline": inline_step(initial_weights(sizes, dtype), X, y)}
    compare(steps, repeats=1, min_time=cfg.min_time, warmup=20.0)


def run(cfg, rng, progress) -> Row:
    row = Row("2", "MLP training step (ReLU, softmax cross-entropy, SGD), CPU")
    _warm_process(cfg)
    configs = [(s, b, d) for s in cfg.nets for d in cfg.dtypes for b in cfg.batches]
    for sizes, batch, dtype in progress(configs, desc="row 2: MLP step"):
        samples = measure(sizes, batch, dtype, cfg, rng)
        label = _label(sizes, batch, dtype)
        work = flops(step_products(sizes, batch, input_grad=False))
        row.add(f"{label}: nnref-numpy step", "time", "ms", Stats.of(samples["nnref-numpy"]).map(lambda t: t * 1e3))
        row.add(f"{label}: nnref-numpy products", "throughput", "GFLOP/s",
                Stats.of(samples["nnref-numpy"]).map(lambda t, w=work: w / t / 1e9))
        row.add_comparison(f"{label}: overhead nnref-numpy / inline-numpy", samples, "nnref-numpy", "inline-numpy",
                           at_most=1.10)
        big = batch >= 128
        row.add_comparison(f"{label}: nnref-numpy / torch-autograd", samples, "nnref-numpy", "torch-autograd",
                           at_most=1.0 if big else None, note=None if big else "target applies at batch >= 128")
        if "nnref-numpy-dX" in samples:
            row.add_comparison(f"{label}: nnref-numpy with dL/dX / torch-autograd", samples,
                               "nnref-numpy-dX", "torch-autograd", note="model.backward(g), no target")
        row.add_comparison(f"{label}: nnref-torch / torch-autograd", samples, "nnref-torch", "torch-autograd")
        row.add_comparison(f"{label}: raw GEMM share gemm / nnref-numpy", samples, "gemm", "nnref-numpy",
                           at_least=0.8 if big else None, note=None if big else "target applies at batch >= 128")
    _cliff(row, cfg, progress)
    row.notes.append("nnref-numpy is the step fit runs: loss_and_grad skips dL/dX of layer 1 (the data needs none) "
                     "and InPlaceSGD writes the update into fit's own copies of the parameters; "
                     "inline-numpy does the same arithmetic (no dL/dX of layer 1, in-place update), and so does "
                     "torch-autograd, as plain torch code does")
    row.notes.append("changed from earlier runs, where nnref's step computed dL/dX of layer 1 and updated out of "
                     "place and inline-numpy mirrored that: the 'with dL/dX' entries time the old backward "
                     "(model.backward(g)) for comparison, without a target")
    row.notes.append("gemm = the raw products of nnref's own step shapes (no dL/dX of layer 1) through np.dot (BLAS); "
                     "'raw GEMM share' = their time / the whole step's time")
    return row


def _cliff(row, cfg, progress):
    """No small-batch cliff: a step on 1 sample must not cost more than a step on 32."""
    small, large = cfg.cliff_batches
    for sizes in cfg.nets:
        for dtype in cfg.dtypes:
            steps = {}
            for batch in (small, large):
                X, y = problem(sizes, batch, dtype)
                steps[f"b{batch}"] = nnref_step(sizes, X, y, dtype)
            samples = compare(steps, repeats=cfg.repeats, min_time=cfg.min_time)
            row.add_comparison(f"{'-'.join(map(str, sizes))} {dtype}: no cliff, step b{small} / step b{large}",
                               samples, f"b{small}", f"b{large}", at_most=1.0)
