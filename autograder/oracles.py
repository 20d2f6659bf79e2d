"""Oracles: the answers the grader trusts, computed by the grader, never by student code.

Two independent sources, used side by side:

* ``torch.autograd`` in float64 (:func:`value_and_grad`), imported lazily so
  that only the hidden-test process pays for it; student kernels never
  import torch themselves;
* central differences (:func:`central_difference`, nnref's one routine,
  ``nnref.gradcheck.central_difference``, re-exported here) of a scalar
  function written in NumPy.

Reference implementations from ``nnref`` (LDA, the perceptron rule, the
graph g(w)) serve where the answer is not a gradient.

Oracles are pure functions of their inputs.  :func:`cached` memoises them in
memory and, when the environment variable ``AUTOGRADER_ORACLE_CACHE`` names a
folder, on disk as ``.npz`` files keyed by a hash of the inputs: grading many
submissions then computes each oracle once, and later submissions do not
import torch at all.  Point it at a fresh folder for each grading run.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

from nnref.gradcheck import central_difference  # noqa: F401 - re-exported: the grader's second oracle

CACHE_ENV = "AUTOGRADER_ORACLE_CACHE"
_memory: dict[str, dict[str, np.ndarray]] = {}


def torch():
    """The torch module, imported on first use, on one thread (oracles are tiny)."""
    import torch as _torch

    if _torch.get_num_threads() != 1:
        _torch.set_num_threads(1)
    return _torch


def value_and_grad(fn, inputs: dict, wrt, grad_out=None) -> dict[str, np.ndarray]:
    """``fn(**inputs)`` and its gradients by torch.autograd in float64.

    ``inputs`` are NumPy arrays (or numbers); those named in ``wrt`` get
    gradients.  ``fn`` receives float64 CPU tensors and returns a tensor: a
    scalar, or any shape together with ``grad_out`` of that shape (the
    vector-Jacobian product ⟨grad_out, fn⟩ is then differentiated).
    Returns ``{"value": ..., "d<name>": ...}`` as float64 NumPy arrays.
    """
    t = torch()
    tensors = {k: t.tensor(np.asarray(v, dtype=np.float64), dtype=t.float64, requires_grad=k in wrt)
               for k, v in inputs.items()}
    out = fn(**tensors)
    seed = t.ones((), dtype=t.float64) if grad_out is None else t.tensor(np.asarray(grad_out, dtype=np.float64))
    if tuple(out.shape) != tuple(seed.shape):
        raise ValueError(f"oracle output has shape {tuple(out.shape)} but grad_out has {tuple(seed.shape)}")
    grads = t.autograd.grad(out, [tensors[k] for k in wrt], grad_outputs=seed, allow_unused=True)
    result = {"value": out.detach().numpy().copy()}
    for name, grad in zip(wrt, grads):
        result[f"d{name}"] = np.zeros(np.shape(inputs[name])) if grad is None else grad.numpy().copy()
    return result


def _digest(hasher, value) -> None:
    if isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        hasher.update(f"array{array.dtype.str}{array.shape}".encode())
        hasher.update(array.tobytes())
    elif isinstance(value, (list, tuple)):
        hasher.update(f"{type(value).__name__}{len(value)}".encode())
        for item in value:
            _digest(hasher, item)
    elif isinstance(value, dict):
        hasher.update(f"dict{len(value)}".encode())
        for key in sorted(value):
            _digest(hasher, key)
            _digest(hasher, value[key])
    elif value is None or isinstance(value, (bool, int, float, str, np.generic)):
        hasher.update(f"{type(value).__name__}:{value!r}".encode())
    else:
        raise TypeError(f"cannot key an oracle on a {type(value).__name__}")


def key(name: str, *args, **kwargs) -> str:
    """A stable hash of an oracle's name and inputs."""
    hasher = hashlib.sha256(name.encode())
    _digest(hasher, list(args))
    _digest(hasher, kwargs)
    return hasher.hexdigest()[:32]


def cached(fn):
    """Memoise an oracle returning a dict of arrays (see the module docstring)."""
    name = f"{fn.__module__}.{fn.__qualname__}"

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        digest = key(name, *args, **kwargs)
        if digest in _memory:
            return {k: v.copy() for k, v in _memory[digest].items()}
        folder = os.environ.get(CACHE_ENV)
        path = Path(folder) / f"{digest}.npz" if folder else None
        if path is not None and path.exists():
            with np.load(path, allow_pickle=False) as stored:
                result = {k: stored[k] for k in stored.files}
        else:
            result = {k: np.asarray(v, dtype=np.float64) for k, v in fn(*args, **kwargs).items()}
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                handle, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz")
                with os.fdopen(handle, "wb") as stream:
                    np.savez(stream, **result)
                os.replace(tmp, path)
        _memory[digest] = result
        return {k: v.copy() for k, v in result.items()}

    return wrapper
