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
as skipped instead of failed.  A check passes only if f is deterministic and
enough points were actually compared (see ``MAX_SKIPPED_FRACTION``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .backend import asarray, backend_of, dtype_name, is_torch, make_rng, namespace, random_normal
from .validation import check_positive

# Tolerances per dtype for comparing the analytic gradient with finite differences.
DEFAULTS = {
    "float64": {"rtol": 1e-5, "atol": 1e-7},
    "float32": {"rtol": 2e-2, "atol": 1e-3},
}

# A check passes only if at most this fraction of the points it looked at were skipped as kinks.
# A kink spoils the difference quotient only within h of it, a thin slice of the inputs, so a
# genuine kink leaves most points comparable; when most of them look like kinks, f is noisy or
# not smooth at the scale of h, or the gradient is wrong in a way the kink test mistakes for a
# kink, and a check that compared next to nothing must not be reported as passed.
MAX_SKIPPED_FRACTION = 0.5

# One evaluation of f is trusted to this many machine epsilons (of the parameters' dtype) times
# max(1, |f|): closer values are equal as far as the check can tell.
ROUND_OFF_EPS = 64


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
    """The outcome of a check: points compared, mismatches among them, points skipped at kinks,
    and, if f gave two values at one point, those values."""

    method: str
    checked: int = 0
    mismatches: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    not_deterministic: tuple | None = None

    @property
    def deterministic(self) -> bool:
        return self.not_deterministic is None

    @property
    def conclusive(self) -> bool:
        """At least one point compared, and at most ``MAX_SKIPPED_FRACTION`` of those looked at skipped."""
        looked_at = self.checked + len(self.skipped)
        return self.checked > 0 and len(self.skipped) <= MAX_SKIPPED_FRACTION * looked_at

    @property
    def ok(self) -> bool:
        return self.deterministic and self.conclusive and not self.mismatches

    def __str__(self) -> str:
        head = (f"{self.method} gradient check: {self.checked} compared, "
                f"{len(self.mismatches)} wrong, {len(self.skipped)} skipped near a kink")
        lines = [head]
        if not self.deterministic:
            first, second = self.not_deterministic
            lines.append(f"  FAILED: f is not deterministic: two calls at the same point returned {first!r} and "
                         f"{second!r}; finite differences need f to give the same value for the same input "
                         "(call .eval() on models with dropout or RReLU, or fix their random draws)")
        elif not self.conclusive:
            looked_at = self.checked + len(self.skipped)
            lines.append(f"  FAILED: inconclusive: {len(self.skipped)} of {looked_at} points were skipped as kinks, "
                         f"more than {MAX_SKIPPED_FRACTION:.0%}; check at other points, or with a smaller h")
        worst = sorted(self.mismatches, key=lambda m: -m.rel_error)[:10]
        return "\n".join([*lines, *("  " + str(m) for m in worst)])

    def raise_if_failed(self) -> GradCheckReport:
        if not self.ok:
            raise GradientCheckError(str(self))
        return self


def _eps(x) -> float:
    """The machine epsilon of an array's dtype."""
    if is_torch(x):
        import torch

        return float(torch.finfo(x.dtype).eps)
    return float(np.finfo(x.dtype).eps)


def default_step(x) -> np.ndarray:
    """The central-difference step for every entry of ``x``: h = ∛ε · max(1, |x|).

    ε is the machine epsilon of x's dtype.  The error of (f(x + h) − f(x − h)) / 2h
    is the truncation h²|f'''|/6 plus the round-off of f, about ε|f|/h; their sum is
    smallest near h = ∛ε (6.1e-6 in float64, 4.9e-3 in float32), and scaling by
    |x| > 1 keeps the step the same fraction of a large entry.  A float64 NumPy array
    of x's shape.
    """
    return np.cbrt(_eps(x)) * np.maximum(1.0, np.abs(_to_float64(x)))


def _scalar(value) -> float:
    out = float(value)
    if not math.isfinite(out):
        raise ValueError(f"f returned {out}; gradient checking needs a finite function value")
    return out


def _check_inputs(params, grads):
    if not params:
        raise ValueError("params is empty: there is nothing to check")
    if set(params) != set(grads):
        raise ValueError(f"params and grads must have the same names, got {sorted(params)} and {sorted(grads)}")
    for name in params:
        namespace(params[name], grads[name])
        if tuple(params[name].shape) != tuple(grads[name].shape):
            raise ValueError(f"grads[{name!r}] has shape {tuple(grads[name].shape)}, "
                             f"expected {tuple(params[name].shape)} like params[{name!r}]")


def _reference(params):
    """The parameter whose dtype sets the defaults: a float32 one if any (the less precise)."""
    values = list(params.values())
    return next((v for v in values if dtype_name(v) == "float32"), values[0])


def _tolerances(params, rtol, atol):
    base = DEFAULTS["float32" if dtype_name(_reference(params)) == "float32" else "float64"]
    return base["rtol"] if rtol is None else rtol, base["atol"] if atol is None else atol


def _close(expected, received, rtol, atol) -> bool:
    return abs(expected - received) <= atol + rtol * max(abs(expected), abs(received))


def _round_off(value, eps) -> float:
    return ROUND_OFF_EPS * eps * max(1.0, abs(value))


def _repeatable(report, first, again, eps) -> bool:
    """Record in ``report`` whether two values of f at one point agree; True if they do."""
    if abs(first - again) > _round_off(first, eps):
        report.not_deterministic = (first, again)
        return False
    return True


def _is_kink(g, h, eps) -> bool:
    """g(t): the function along one line through the point.  A smooth g has second
    differences d(s) ≈ s² g''(0), so d(s) ≈ 4 d(s/2); a kink within h breaks
    that at s = h or at s = h/2 (one of the two wherever the kink lies)."""
    f0 = g(0.0)
    noise = _round_off(f0, eps)

    def d(s):
        return g(s) - 2 * f0 + g(-s)

    d_h, d_half, d_quarter = d(h), d(h / 2), d(h / 4)
    for big, small in ((d_h, d_half), (d_half, d_quarter)):
        if abs(big) > noise and abs(big - 4 * small) > 0.1 * abs(big) + noise:
            return True
    return False


def _work_copy(x):
    """A private flat copy of ``x`` and a view of it with x's shape: writing into the
    flat copy changes the view that f receives."""
    if is_torch(x):
        flat = x.detach().clone().reshape(-1)
    else:
        flat = np.array(x).reshape(-1)
    return flat, flat.reshape(tuple(x.shape))


def _line(evaluate, flat, i):
    """g(t) = f with entry i moved by t (as stored in the array's dtype), with the move as stored."""
    original = float(flat[i])

    def g(t):
        flat[i] = original + t
        moved = float(flat[i]) - original
        try:
            return _scalar(evaluate()), moved
        finally:
            flat[i] = original

    return g


def _difference(g, h, where) -> float:
    """(g(h) − g(−h)) / (t₊ − t₋): the central difference over the step as it was stored,
    2h up to the rounding of x ± h, whose error it thereby leaves out."""
    (f_plus, up), (f_minus, down) = g(h), g(-h)
    if up == down:
        raise ValueError(f"the step h = {h:.3g} is lost in rounding at {where}: give a larger h")
    return (f_plus - f_minus) / (up - down)


def _steps(x, h) -> np.ndarray:
    if h is None:
        return default_step(x).reshape(-1)
    check_positive(h, "h")
    return np.full(math.prod(tuple(x.shape)), float(h))


def central_difference(f, x, h=None) -> np.ndarray:
    """∂f/∂x entry by entry for a scalar function f of one array x:
    gᵢ = (f(x + hᵢeᵢ) − f(x − hᵢeᵢ)) / 2hᵢ.

    ``h`` is one step for every entry, or None for :func:`default_step`, which suits
    x's dtype.  x is a NumPy array or a torch tensor of a float dtype (a list or an
    integer NumPy array is taken as float64); f receives an array of x's shape,
    backend, device and dtype (one work copy, changed between calls: f must not keep
    it) and returns a number.  The division is by the step as stored, x₊ᵢ − x₋ᵢ
    after rounding to x's dtype.  Returns a float64 NumPy array of x's shape.
    """
    if not is_torch(x):
        x = np.asarray(x)
        if x.dtype.kind != "f":
            x = x.astype(np.float64)
    flat, work = _work_copy(x)
    steps = _steps(x, h)
    grad = np.empty(steps.shape[0])
    for i in range(steps.shape[0]):
        grad[i] = _difference(_line(lambda: f(work), flat, i), steps[i], f"entry {i} of x")
    return grad.reshape(tuple(x.shape))


def numerical_gradient(f, params: dict, h=None) -> dict:
    """Central differences of ``f`` (a function of the dict ``params``) for every entry of
    every parameter, by :func:`central_difference`; float64 NumPy arrays keyed like ``params``."""
    return {name: central_difference(lambda value, name=name: f({**params, name: value}), x, h)
            for name, x in params.items()}


def check_gradients(f, params: dict, grads: dict, *, h=None, rtol=None, atol=None,
                    max_entries: int | None = None, rng=None) -> GradCheckReport:
    """Compare ``grads`` with central differences of ``f`` entry by entry.

    ``h`` defaults to :func:`default_step` of each entry; ``max_entries`` checks a
    random sample of that many entries per parameter (all of them by default).
    """
    _check_inputs(params, grads)
    rtol, atol = _tolerances(params, rtol, atol)
    eps = _eps(_reference(params))
    rng, report = make_rng(rng), GradCheckReport("central-difference")
    if not _repeatable(report, _scalar(f(params)), _scalar(f(params)), eps):
        return report
    for name, value in params.items():
        flat, work = _work_copy(value)
        point = {**params, name: work}

        def evaluate(point=point):
            return f(point)

        analytic = _to_float64(grads[name]).reshape(-1)
        steps, size = _steps(value, h), flat.shape[0]
        if max_entries is None or max_entries >= size:
            entries = range(size)
        else:
            entries = rng.choice(size, max_entries, replace=False)
        for i in entries:
            where = str(tuple(int(k) for k in np.unravel_index(int(i), tuple(value.shape))))
            g = _line(evaluate, flat, i)
            numeric = _difference(g, steps[i], f"{name}{where}")
            if not _close(numeric, float(analytic[i]), rtol, atol):
                if _is_kink(lambda t, g=g: g(t)[0], steps[i], eps):
                    report.skipped.append(f"{name}{where}")
                    continue
                report.mismatches.append(Mismatch(name, where, numeric, float(analytic[i])))
            report.checked += 1
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

    ``h`` defaults to :func:`default_step` of an entry of size 1, the length of v.
    A direction that crosses a kink within h is replaced by a fresh one (up to
    ``max_tries`` draws per direction) and listed in ``report.skipped``.
    """
    _check_inputs(params, grads)
    rtol, atol = _tolerances(params, rtol, atol)
    reference = _reference(params)
    eps = _eps(reference)
    if h is None:
        h = float(default_step(asarray([1.0], dtype=dtype_name(reference)))[0])
    check_positive(h, "h")
    rng, report = make_rng(rng), GradCheckReport("directional")
    analytic_grads = {k: _to_float64(g).reshape(-1) for k, g in grads.items()}
    tries = 0
    while report.checked < num_directions and tries < max_tries * num_directions:
        tries += 1
        v = random_direction(params, rng)

        def point(t, v=v):
            return {k: params[k] + t * v[k] for k in params}

        def along(t):
            return _scalar(f(point(t)))

        plus, minus = point(h), point(-h)
        f_plus = _scalar(f(plus))
        if tries == 1 and not _repeatable(report, f_plus, _scalar(f(plus)), eps):
            return report
        numeric = (f_plus - _scalar(f(minus))) / (2 * h)
        # ⟨∇f, θ₊ − θ₋⟩ / 2h with θ± as stored, so that the rounding of θ ± hv to the dtype cancels out
        analytic = sum(float(np.dot(analytic_grads[k], _to_float64(plus[k] - minus[k]).reshape(-1)))
                       for k in params) / (2 * h)
        label = f"direction {tries}"
        if not _close(numeric, analytic, rtol, atol):
            if _is_kink(along, h, eps):
                report.skipped.append(label)
                continue
            report.mismatches.append(Mismatch("⟨∇f, v⟩", f" along {label}", numeric, analytic))
        report.checked += 1
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
