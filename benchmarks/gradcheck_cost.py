"""Row 3: the cost of gradient checking at about 100k parameters.

Full central differences evaluate the loss twice per parameter: about
200 000 forward passes here, far too many to run on every benchmark.  So a
random sample of entries is timed and the full check is *extrapolated*
(each entry costs exactly two loss evaluations, so the cost is linear in the
number of entries); the table says so.  The directional check and one
analytic gradient run in full, side by side with the sample.

The directional check must also still catch every error that the checker's
own tests plant (``tests/test_gradcheck.py``): one wrong entry, a transposed
gradient, a flipped sign, and a gradient summed instead of averaged over the
batch.  They are planted here the same way, at this size.
"""

from __future__ import annotations

import numpy as np

from .report import Row
from .timing import Stats, compare

PLANTED = ("one_entry", "transposed", "sign_flip", "batch_factor")


def planted(grads: dict, kind: str, batch_size: int, name: str = "0.W") -> dict:
    """A copy of ``grads`` with one classic mistake planted in ``grads[name]``.

    The same four mistakes, planted the same way, as ``_planted`` in
    tests/test_gradcheck.py (whose batch has 6 samples).
    """
    if kind not in PLANTED:
        raise ValueError(f"kind must be one of {PLANTED}, got {kind!r}")
    bad = dict(grads)
    W = grads[name]
    if kind == "one_entry":
        W = W.clone() if hasattr(W, "clone") else W.copy()
        W[1, 2] += 0.05
    elif kind == "transposed":
        W = W.T.reshape(W.shape)
    elif kind == "sign_flip":
        W = -W
    elif kind == "batch_factor":
        W = W * batch_size
    bad[name] = W
    return bad


def problem(sizes, batch, seed=0):
    """A tanh MLP with squared error on a random batch, in float64.

    Returns ``(f, params, analytic, model)``: f(params) is the loss and
    ``analytic()`` computes the gradient with one forward and backward pass.
    """
    from nnref.models import MLP

    model = MLP(sizes, activation="tanh", rng=seed)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((batch, sizes[0]))
    y = rng.standard_normal((batch, sizes[-1]))
    loss = model.default_loss()
    params = dict(model.parameters())

    def f(p):
        model.set_parameters(p)
        return float(loss(model(X), y))

    def analytic():
        model.set_parameters(params)
        loss(model(X), y)
        model.zero_grad()
        model.backward(loss.backward())
        return dict(model.gradients())

    return f, params, analytic, model


def run(cfg, rng) -> Row:
    row = Row("3", "gradient checking: full central differences vs the directional check")
    for batch in cfg.gradcheck_batches:
        _costs(row, cfg, batch)
    _planted_errors(row, cfg, cfg.gradcheck_batches[0])
    row.notes.append("the directional check's own work per direction (drawing a random direction over every "
                     "parameter, two perturbed copies, an inner product) does not grow with the batch, a forward "
                     "pass does: the directional / analytic ratio falls as the batch grows")
    row.notes.append("'floor' = what the check costs with nothing but its draws and loss evaluations; directions "
                     "are drawn uniform on [-1, 1) per entry, a third of the cost of Gaussian draws (which were "
                     "half of the check at batch 64) and, like them, almost surely not orthogonal to any error")
    return row


def _costs(row, cfg, batch):
    from nnref.gradcheck import check_directional, check_gradients, random_direction

    sizes, sample = cfg.gradcheck_sizes, cfg.gradcheck_sample
    f, params, analytic, model = problem(sizes, batch)
    grads = analytic()
    total = model.num_parameters()
    checked = sum(min(sample, int(np.prod(p.shape))) for p in params.values())
    draw_rng = np.random.default_rng(0)

    def central_sample():
        report = check_gradients(f, params, grads, max_entries=sample, rng=0)
        if report.checked != checked or not report.ok:
            raise RuntimeError(f"central-difference sample went wrong: {report}")

    def draw_direction():
        """What check_directional draws per direction: a unit direction over every parameter."""
        random_direction(params, draw_rng)

    samples = compare({
        "analytic": analytic,
        "directional": lambda: check_directional(f, params, grads, num_directions=cfg.directions, rng=0),
        "central-sample": central_sample,
        "draw": draw_direction,
        "loss": lambda: f(params),
    }, repeats=cfg.repeats, min_time=cfg.min_time)
    full = [t / checked * total for t in samples["central-sample"]]
    label = f"MLP {'-'.join(map(str, sizes))} tanh, {total} parameters, float64, batch {batch}"
    note = f"extrapolated: {checked} sampled entries x {total / checked:.0f}"
    row.add(f"{label}: one analytic gradient", "time", "ms", Stats.of(samples["analytic"]).map(lambda t: t * 1e3))
    row.add(f"batch {batch}: directional check, {cfg.directions} directions", "time", "ms",
            Stats.of(samples["directional"]).map(lambda t: t * 1e3))
    row.add(f"batch {batch}: full central differences", "time", "s", Stats.of(full), note=note)
    row.add_comparison(f"batch {batch}: directional / analytic gradient", samples, "directional", "analytic",
                       at_most=5.0)
    # The check cannot cost less than its directions' draws and two loss evaluations per direction:
    # this floor, in the same rounds, says how much of the ratio above is the check's own overhead.
    n = cfg.directions
    floor = [n * (d + 2 * e) / a for d, e, a in zip(samples["draw"], samples["loss"], samples["analytic"])]
    best_floor = n * (min(samples["draw"]) + 2 * min(samples["loss"])) / min(samples["analytic"])
    row.add_ratio(f"batch {batch}: floor {n} x (one direction's draw + 2 loss evaluations) / analytic gradient",
                  Stats.of(floor), best=best_floor, note=f"{total} uniform draws per direction")
    row.add_ratio(f"batch {batch}: full central differences / directional",
                  Stats.of(c / d for c, d in zip(full, samples["directional"])),
                  best=min(full) / min(samples["directional"]), at_least=1000.0, note=note)
    row.notes.append(f"batch {batch}: full central differences were not run: {checked} entries sampled across "
                     f"every parameter (check_gradients(max_entries={sample})), cost per entry x {total} entries")


def _planted_errors(row, cfg, batch):
    from nnref.gradcheck import check_directional

    f, params, analytic, _ = problem(cfg.gradcheck_sizes, batch)
    grads = analytic()
    passed = check_directional(f, params, grads, num_directions=cfg.directions, rng=0)
    row.add(f"batch {batch}: correct gradient passes the directional check", "count", "passed",
            Stats.of([float(passed.ok)]), target="passes", met=passed.ok)
    for kind in PLANTED:
        report = check_directional(f, params, planted(grads, kind, batch), num_directions=cfg.directions, rng=0)
        caught = not report.ok
        row.add(f"batch {batch}: planted error '{kind}' caught by the directional check", "count", "caught",
                Stats.of([float(caught)]), target="caught", met=caught)
