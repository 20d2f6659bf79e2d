"""Gradient checking: central differences entry by entry, and a cheap
randomized directional check.

Both compare an analytic gradient with finite differences of ``f``, a
function of a dict of named arrays returning a scalar:

* ``check_gradients`` perturbs one entry at a time,
  ∂f/∂θᵢ ≈ (f(θ + h eᵢ) − f(θ − h eᵢ)) / 2h, costing two evaluations per entry;
* ``check_directional`` compares ⟨∇f, v⟩ with (f(θ + h v) − f(θ − h v)) / 2h
  for a few random unit directions v, costing two evaluations per direction
  whatever the number of parameters, and still catches any wrong entry
  (a random v has a non-zero component along every error).

Where f has a kink within h of the point (ReLU at 0, say) the difference
quotient is meaningless.  The checker recognises that, because a smooth f
has second differences that scale as h², and reports the entry or direction
as skipped instead of failed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .backend import asarray, backend_of, dtype_name, make_rng, namespace, random_normal

DEFAULTS = {
    "float64": {"h": 1e-6, "rtol": 1e-5, "atol": 1e-7},
    "float32": {"h": 1e-2, "rtol": 2e-2, "atol": 1e-3},
}


class GradientCheckError(AssertionError):
    """Raised by :meth:`GradCheckReport.raise_if_failed`."""


@dataclass
class Mismatch:
    """One entry (or direction) where analytic and numeric gradients disagree."""

    param: str
    where: str
    expected: float
    received: float

    @property
    def rel_error(self) -> float:
        return abs(self.received - self.expected) / max(abs(self.received), abs(self.expected), 1e-300)

    def __str__(self) -> str:
        return (f"{self.param}{self.where}: expected {self.expected:.6g} (finite differences), "
                f"received {self.received:.6g} (analytic), relative error {self.rel_error:.3g}")


@dataclass
class GradCheckReport:
    """The outcome of a check: mismatches, entries skipped at kinks, entries checked."""

    method: str
    checked: int = 0
    mismatches: list = field(default_factory=list)
    skipped: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def __str__(self) -> str:
        head = (f"{self.method} gradient check: {self.checked} checked, "
                f"{len(self.mismatches)} wrong, {len(self.skipped)} skipped near a kink")
        worst = sorted(self.mismatches, key=lambda m: -m.rel_error)[:10]
        return "\n".join([head, *("  " + str(m) for m in worst)])

    def raise_if_failed(self) -> GradCheckReport:
        if not self.ok:
            raise GradientCheckError(str(self))
        return self


def _settings(params, h, rtol, atol):
    dtypes = {dtype_name(v) for v in params.values()}
    base = DEFAULTS["float32" if "float32" in dtypes else "float64"]
    return (base["h"] if h is None else h, base["rtol"] if rtol is None else rtol,
            base["atol"] if atol is None else atol)


def _scalar(value) -> float:
    out = float(value)
    if not math.isfinite(out):
        raise ValueError(f"f returned {out}; gradient checking needs a finite function value")
    return out


def _check_inputs(params, grads):
    if set(params) != set(grads):
        raise ValueError(f"params and grads must have the same names, got {sorted(params)} and {sorted(grads)}")
    for name in params:
        namespace(params[name], grads[name])
        if tuple(params[name].shape) != tuple(grads[name].shape):
            raise ValueError(f"grads[{name!r}] has shape {tuple(grads[name].shape)}, "
                             f"expected {tuple(params[name].shape)} like params[{name!r}]")


def _close(expected, received, rtol, atol) -> bool:
    return abs(expected - received) <= atol + rtol * max(abs(expected), abs(received))


def _is_kink(g, h) -> bool:
    """g(t): the function along one line through the point.  A smooth g has second
    differences d(s) ≈ s² g''(0), so d(s) ≈ 4 d(s/2); a kink within h breaks
    that at s = h or at s = h/2 (one of the two wherever the kink lies)."""
    f0 = g(0.0)
    noise = 64 * np.finfo(np.float64).eps * max(1.0, abs(f0))

    def d(s):
        return g(s) - 2 * f0 + g(-s)

    d_h, d_half, d_quarter = d(h), d(h / 2), d(h / 4)
    for big, small in ((d_h, d_half), (d_half, d_quarter)):
        if abs(big) > noise and abs(big - 4 * small) > 0.1 * abs(big) + noise:
            return True
    return False


def numerical_gradient(f, params: dict, h: float = 1e-6) -> dict:
    """Central differences of ``f`` for every entry of every parameter."""
    grads = {}
    for name, value in params.items():
        work = dict(params)
        work[name] = value.clone() if backend_of(value).name == "torch" else value.copy()
        flat = work[name].reshape(-1)
        out = np.empty(flat.shape[0])
        for i in range(flat.shape[0]):
            original = float(flat[i])
            flat[i] = original + h
            f_plus = _scalar(f(work))
            flat[i] = original - h
            f_minus = _scalar(f(work))
            flat[i] = original
            out[i] = (f_plus - f_minus) / (2 * h)
        grads[name] = out.reshape(tuple(value.shape))
    return grads


def check_gradients(f, params: dict, grads: dict, *, h=None, rtol=None, atol=None,
                    max_entries: int | None = None, rng=None) -> GradCheckReport:
    """Compare ``grads`` with central differences of ``f`` entry by entry.

    ``max_entries`` checks a random sample of that many entries per parameter
    (all of them by default).
    """
    _check_inputs(params, grads)
    h, rtol, atol = _settings(params, h, rtol, atol)
    rng, report = make_rng(rng), GradCheckReport("central-difference")
    for name, value in params.items():
        work = dict(params)
        work[name] = value.clone() if backend_of(value).name == "torch" else value.copy()
        flat = work[name].reshape(-1)
        analytic = np.asarray(_to_float64(grads[name])).reshape(-1)
        size = flat.shape[0]
        if max_entries is None or max_entries >= size:
            entries = range(size)
        else:
            entries = rng.choice(size, max_entries, replace=False)
        for i in entries:
            original = float(flat[i])

            def along(t, i=i, original=original, flat=flat, work=work):
                flat[i] = original + t
                try:
                    return _scalar(f(work))
                finally:
                    flat[i] = original

            numeric = (along(h) - along(-h)) / (2 * h)
            report.checked += 1
            if _close(numeric, float(analytic[i]), rtol, atol):
                continue
            where = str(tuple(int(k) for k in np.unravel_index(int(i), tuple(value.shape))))
            if _is_kink(along, h):
                report.skipped.append(f"{name}{where}")
            else:
                report.mismatches.append(Mismatch(name, where, numeric, float(analytic[i])))
    return report


def random_direction(params: dict, rng: np.random.Generator) -> dict:
    """A random unit direction over all of ``params``: one entry uniform on
    [−1, 1) per parameter entry, scaled to norm 1, each piece on its
    parameter's backend, device and dtype.

    Any direction drawn from a continuous distribution has, with probability
    one, a non-zero component along every error, so it catches any wrong
    entry; the uniform draw costs a third of a Gaussian one, which at 100k
    parameters was half of the whole check.  The draw is made by NumPy on the
    host, so a seed gives the same direction on every backend.
    """
    sizes = [math.prod(tuple(p.shape)) for p in params.values()]
    if sum(sizes) == 0:
        raise ValueError("params has no entries: there is no direction to check along")
    flat = rng.random(sum(sizes))
    flat *= 2.0
    flat -= 1.0
    flat /= math.sqrt(float(np.dot(flat, flat)))
    pieces = np.split(flat, np.cumsum(sizes)[:-1])
    return {k: asarray(piece.reshape(tuple(p.shape)), dtype=dtype_name(p), backend=backend_of(p))
            for (k, p), piece in zip(params.items(), pieces)}


def check_directional(f, params: dict, grads: dict, *, num_directions: int = 3, h=None, rtol=None,
                      atol=None, rng=None, max_tries: int = 10) -> GradCheckReport:
    """Compare ⟨grads, v⟩ with (f(θ + hv) − f(θ − hv)) / 2h for random unit v.

    A direction that crosses a kink within h is replaced by a fresh one (up
    to ``max_tries`` draws) and listed in ``report.skipped``.
    """
    _check_inputs(params, grads)
    h, rtol, atol = _settings(params, h, rtol, atol)
    rng, report = make_rng(rng), GradCheckReport("directional")
    analytic_grads = {k: _to_float64(g).reshape(-1) for k, g in grads.items()}
    tries = 0
    while report.checked < num_directions and tries < max_tries * num_directions:
        tries += 1
        v = random_direction(params, rng)

        def along(t, v=v):
            return _scalar(f({k: params[k] + t * v[k] for k in params}))

        numeric = (along(h) - along(-h)) / (2 * h)
        # the direction as the perturbation used it (rounded to the parameters' dtype), in float64
        analytic = sum(float(np.dot(analytic_grads[k], _to_float64(v[k]).reshape(-1))) for k in params)
        label = f"direction {tries}"
        if not _close(numeric, analytic, rtol, atol) and _is_kink(along, h):
            report.skipped.append(label)
            continue
        report.checked += 1
        if not _close(numeric, analytic, rtol, atol):
            report.mismatches.append(Mismatch("⟨∇f, v⟩", f" along {label}", numeric, analytic))
    return report


def _to_float64(x) -> np.ndarray:
    if backend_of(x).name == "torch":
        return x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


def module_check_function(module, x, rng=None):
    """A scalar test function for a module: f(θ, x) = ⟨R, module(x)⟩ with a fixed
    random R, together with the analytic gradients of f from one backward pass.

    Returns ``(f, params, grads)`` ready for ``check_gradients`` or
    ``check_directional``; ``params`` holds the input under the name ``"x"``.
    """
    rng = make_rng(rng)
    out = module(x)
    R = random_normal(tuple(out.shape), rng, dtype_name(out), backend_of(out))
    module.zero_grad()
    grads = {"x": module.backward(R), **module.gradients()}
    saved = dict(module.parameters())
    training = module.training

    def f(p):
        module.set_parameters({k: p[k] for k in saved})
        module.train(training)
        try:
            return float((module(p["x"]) * R).sum())
        finally:
            module.set_parameters(saved)

    return f, {"x": x, **saved}, grads
