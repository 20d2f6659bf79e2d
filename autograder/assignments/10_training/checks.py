"""Hidden tests of assignment 10_training: the heavy-ball momentum and Adam updates, batch
normalisation forward (training and evaluation mode, running statistics) and backward, and the
loss-at-initialisation sanity check.

Oracles, all torch in float64: ``torch.optim.SGD(momentum=μ)`` and ``torch.optim.Adam`` stepped on
a fixed sequence of gradients (the student's update chained on its own state must follow the same
trajectory, step by step), ``torch.nn.BatchNorm1d`` for the forward pass and the running statistics,
torch.autograd through ``torch.nn.functional.batch_norm`` for the backward pass, and
``torch.nn.functional.cross_entropy`` for the loss.  Shapes are never square, batches hold several
examples, inputs sit away from 0, γ and the hyper-parameters differ from torch's defaults, and one
feature of every batch-norm case has a small variance (where ε's place matters); gradients of Adam
span four orders of magnitude (where ε's place matters there).
"""

from __future__ import annotations

import numpy as np

from autograder import oracles
from autograder.checks import assert_close, assert_equal, call, describe, fail, named, to_array, to_scalar, unpack
from autograder.parts import Parts

PARTS = Parts()


def _trajectory_oracle(kind: str, theta0, grads, hyper: dict) -> dict:
    """``torch.optim`` stepped on ``grads`` (K, ...) from ``theta0``; θ and the state after every step."""
    t = oracles.torch()
    p = t.tensor(theta0, dtype=t.float64, requires_grad=True)
    if kind == "sgd":
        opt = t.optim.SGD([p], lr=hyper["lr"], momentum=hyper["mu"])
        names = {"velocity": "momentum_buffer"}
    else:
        opt = t.optim.Adam([p], lr=hyper["lr"], betas=(hyper["beta1"], hyper["beta2"]), eps=hyper["eps"])
        names = {"m": "exp_avg", "v": "exp_avg_sq", "t": "step"}
    out = {"theta": [], **{k: [] for k in names}}
    for g in grads:
        p.grad = t.tensor(g, dtype=t.float64)
        opt.step()
        out["theta"].append(p.detach().numpy().copy())
        for mine, theirs in names.items():
            value = opt.state[p][theirs]
            out[mine].append(value.detach().numpy().copy() if hasattr(value, "detach") else np.array(value))
    return {k: np.array(v, dtype=np.float64) for k, v in out.items()}


# --- momentum -------------------------------------------------------------------------------------------------

MOMENTUM_CASES = (((3, 2), 0.1, 0.9), ((4,), 0.05, 0.5), ((2, 5), 0.3, 0.75))  # shape, lr, μ
STEPS = 6


def _momentum_case(seed):
    shape, lr, mu = MOMENTUM_CASES[seed]
    rng = np.random.default_rng(1000 + seed)
    theta0 = 1.0 + 2.0 * rng.standard_normal(shape)
    grads = rng.standard_normal((STEPS,) + shape) * rng.uniform(0.5, 3.0, shape)
    return theta0, grads, lr, mu


@oracles.cached
def momentum_oracle(theta0, grads, lr, mu):
    """torch.optim.SGD(lr, momentum=μ): θ and the momentum buffer after each step."""
    return _trajectory_oracle("sgd", theta0, grads, {"lr": lr, "mu": mu})


def _momentum_mistakes(theta, g, b, lr, mu):
    right = mu * b + g
    return {named("sign_flipped", "the sign of the step is flipped: θ + lr·b instead of θ − lr·b"): (
                theta + lr * right, right),
            "the step uses the old velocity: update b after moving, not before": (theta - lr * b, right),
            "the velocity is an average, b = μb + (1 − μ)g: torch's heavy ball adds g itself": (
                theta - lr * (mu * b + (1 - mu) * g), mu * b + (1 - mu) * g),
            "Nesterov's step θ − lr·(g + μb) instead of the heavy ball's θ − lr·b": (
                theta - lr * (g + mu * right), right),
            "lr inside the velocity, b = μb + lr·g, and θ − b": (theta - mu * b - lr * g, mu * b + lr * g),
            "the velocity is forgotten, b = g: plain SGD": (theta - lr * g, g),
            "the velocity returned is the one given: return the updated b": (theta - lr * right, b)}


def _momentum_call(momentum_step, theta, g, b, lr, mu, case):
    what = "momentum_step(theta, grad, velocity, lr, mu)"
    out = call(momentum_step, what, theta=theta, grad=g, velocity=b, lr=lr, mu=mu)
    new_theta, new_b = unpack(out, what, ("theta", "velocity"))
    new_theta, new_b = to_array(new_theta, "theta from momentum_step"), to_array(new_b, "velocity from momentum_step")
    mistakes = _momentum_mistakes(theta, g, b, lr, mu)
    return new_theta, new_b, {k: v[0] for k, v in mistakes.items()}, {k: v[1] for k, v in mistakes.items()}


@PARTS.add("test_momentum_step", points=2, uses=("momentum",))
def check_momentum_step(momentum_step):
    """One step from the middle of a run: b = μb + g, θ − lr·b, against torch's state after step 3."""
    for seed in range(len(MOMENTUM_CASES)):
        theta0, grads, lr, mu = _momentum_case(seed)
        ref = momentum_oracle(theta0, grads, lr, mu)
        k = 3
        theta, g, b = ref["theta"][k - 1], grads[k], ref["velocity"][k - 1]
        case = describe(theta=theta, grad=g, velocity=b) + f", lr = {lr}, mu = {mu}"
        new_theta, new_b, wrong_theta, wrong_b = _momentum_call(momentum_step, theta, g, b, lr, mu, case)
        assert_close(new_b, ref["velocity"][k], "velocity from momentum_step", case=case, mistakes=wrong_b)
        assert_close(new_theta, ref["theta"][k], "theta from momentum_step", case=case, mistakes=wrong_theta)


@PARTS.add("test_momentum_trajectory", points=1, uses=("momentum",))
def check_momentum_trajectory(momentum_step):
    """Six steps from a zero velocity, each from the student's own last θ and velocity, against torch.optim.SGD."""
    for seed in range(len(MOMENTUM_CASES)):
        theta0, grads, lr, mu = _momentum_case(seed)
        ref = momentum_oracle(theta0, grads, lr, mu)
        theta, b = theta0, np.zeros_like(theta0)
        for k, g in enumerate(grads):
            case = describe(theta=theta, grad=g) + f", lr = {lr}, mu = {mu}, step {k + 1} of a run from velocity 0"
            theta_next, b_next, wrong_theta, wrong_b = _momentum_call(momentum_step, theta, g, b, lr, mu, case)
            assert_close(theta_next, ref["theta"][k], "theta from momentum_step", case=case, mistakes=wrong_theta)
            assert_close(b_next, ref["velocity"][k], "velocity from momentum_step", case=case, mistakes=wrong_b)
            theta, b = theta_next, b_next


# --- Adam -----------------------------------------------------------------------------------------------------

ADAM_CASES = (((3, 4), 0.01, 0.9, 0.999, 1e-8), ((5,), 0.05, 0.8, 0.95, 1e-3), ((2, 3), 0.002, 0.5, 0.9, 1e-6))


def _adam_case(seed):
    shape, lr, beta1, beta2, eps = ADAM_CASES[seed]
    rng = np.random.default_rng(1100 + seed)
    theta0 = 1.0 + rng.standard_normal(shape)
    scale = 10.0 ** rng.uniform(-3.0, 1.0, shape)  # per coordinate, from 1e-3 to 10
    scale.reshape(-1)[0] = 1e-3
    return theta0, rng.standard_normal((STEPS,) + shape) * scale, {"lr": lr, "beta1": beta1, "beta2": beta2,
                                                                   "eps": eps}


@oracles.cached
def adam_oracle(theta0, grads, lr, beta1, beta2, eps):
    """torch.optim.Adam(lr, betas, eps): θ, exp_avg m, exp_avg_sq v and the step count t after each step."""
    return _trajectory_oracle("adam", theta0, grads, {"lr": lr, "beta1": beta1, "beta2": beta2, "eps": eps})


def adam_by_hand(theta, g, m, v, t, lr, beta1, beta2, eps, mistake: str = "right"):
    """One Adam step in NumPy, right or with one of the common mistakes (for the diagnoses)."""
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    t_used = t if mistake == "old_t" else t + 1
    with np.errstate(all="ignore"):
        b1, b2 = (beta2, beta1) if mistake == "swapped" else (beta1, beta2)
        c1, c2 = ((1 - b1) ** t_used, (1 - b2) ** t_used) if mistake == "power_outside" else (
            1 - b1**t_used, 1 - b2**t_used)
        m_hat = m if mistake in ("no_correction", "v_only") else m / c1
        v_hat = v if mistake in ("no_correction", "m_only") else v / c2
        root = np.sqrt(v_hat + eps) if mistake == "eps_inside" else np.sqrt(v_hat) + eps
        return theta - lr * m_hat / root, m, v, t + 1


ADAM_MISTAKES = {
    "no_correction": "the bias correction is missing: m and v divided by 1 − βᵗ neither",
    "m_only": "only m is bias-corrected, v is not",
    "v_only": "only v is bias-corrected, m is not",
    "eps_inside": "ε inside the square root: √(v̂ + ε) instead of √v̂ + ε",
    "old_t": "the bias correction uses the step count before this step (t starting at 0): increment t first",
    "swapped": "each moment corrected with the other's β: m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ)",
    "power_outside": "(1 − β)ᵗ instead of 1 − βᵗ in the bias correction",
}


def _adam_call(adam_step, theta, g, m, v, t, hyper, case):
    what = "adam_step(theta, grad, m, v, t, lr, beta1, beta2, eps)"
    out = call(adam_step, what, theta=theta, grad=g, m=m, v=v, t=t, **hyper)
    got = unpack(out, what, ("theta", "m", "v", "t"))
    names = ("theta", "m", "v")
    got = {name: to_array(value, f"{name} from adam_step") for name, value in zip(names, got[:3])} | {
        "t": to_scalar(got[3], "t from adam_step")}
    wrong = {ADAM_MISTAKES[k]: adam_by_hand(theta, g, m, v, t, **hyper, mistake=k)[0] for k in ADAM_MISTAKES}
    b1, b2, new_m = hyper["beta1"], hyper["beta2"], hyper["beta1"] * m + (1 - hyper["beta1"]) * g
    extra = {"m_hat": new_m / (1 - b1 ** (t + 1)), "v_of_g": b2 * v + (1 - b2) * g,
             "v_of_abs_g": b2 * v + (1 - b2) * np.abs(g),
             "v_swapped": b1 * v + (1 - b1) * g * g}
    return got, wrong, extra


def _adam_compare(got, wrong, extra, expected: dict, case: str):
    assert_close(got["m"], expected["m"], "m from adam_step", case=case, mistakes={
        "the bias-corrected m̂ returned as the state m: keep the raw average, correct a copy": extra["m_hat"]})
    assert_close(got["v"], expected["v"], "v from adam_step", case=case, mistakes={
        "v averages g, not g²": extra["v_of_g"],
        "v averages |g|, not g²": extra["v_of_abs_g"], "β₁ in v: the betas are swapped": extra["v_swapped"]})
    if got["t"] != expected["t"]:
        fail(f"t from adam_step is {got['t']:g}, expected {expected['t']:g} (inputs: {case}): return the step count "
             "after this step, t + 1", "named")
    assert_close(got["theta"], expected["theta"], "theta from adam_step", case=case, mistakes=wrong)


@PARTS.add("test_adam_first_step", points=1, uses=("adam",))
def check_adam_first_step(adam_step):
    """The first step, from m = v = 0 and t = 0: with the bias corrections every coordinate moves by about lr."""
    for seed in range(len(ADAM_CASES)):
        theta0, grads, hyper = _adam_case(seed)
        ref = adam_oracle(theta0, grads, **hyper)
        zeros = np.zeros_like(theta0)
        case = describe(theta=theta0, grad=grads[0]) + ", m = v = 0, t = 0, " + ", ".join(
            f"{k} = {v:g}" for k, v in hyper.items())
        got, wrong, extra = _adam_call(adam_step, theta0, grads[0], zeros, zeros, 0, hyper, case)
        _adam_compare(got, wrong, extra, {k: ref[k][0] for k in ("theta", "m", "v", "t")}, case)


@PARTS.add("test_adam_trajectory", points=3, uses=("adam",))
def check_adam_trajectory(adam_step):
    """Six steps, each from the student's own last state, against torch.optim.Adam; then the last three again,
    from torch's state after step 3 (so the state handed in is the one used)."""
    for seed in range(len(ADAM_CASES)):
        theta0, grads, hyper = _adam_case(seed)
        ref = adam_oracle(theta0, grads, **hyper)
        settings = ", ".join(f"{k} = {v:g}" for k, v in hyper.items())
        starts = ((0, theta0, np.zeros_like(theta0), np.zeros_like(theta0), 0),
                  (3, ref["theta"][2], ref["m"][2], ref["v"][2], int(ref["t"][2])))
        for first, theta, m, v, t in starts:
            for k in range(first, STEPS):
                case = describe(theta=theta, grad=grads[k]) + f", t = {t}, {settings}, step {k + 1} of the run"
                got, wrong, extra = _adam_call(adam_step, theta, grads[k], m, v, t, hyper, case)
                _adam_compare(got, wrong, extra, {name: ref[name][k] for name in ("theta", "m", "v", "t")}, case)
                theta, m, v, t = got["theta"], got["m"], got["v"], int(got["t"])


# --- batch normalisation, forward -------------------------------------------------------------------------------

BN_CASES = ((5, 3, 0.1, 1e-5), (8, 4, 0.3, 1e-3), (3, 6, 0.05, 1e-5))  # n, C, momentum, eps


def _bn_case(seed):
    n, C, momentum, eps = BN_CASES[seed]
    rng = np.random.default_rng(1200 + seed)
    spread = rng.uniform(0.5, 3.0, C)
    spread[seed % C] = 0.01  # a feature of small variance: where ε's place matters
    X = rng.uniform(-3.0, 3.0, C) + spread * rng.standard_normal((n, C))
    gamma = rng.uniform(0.5, 2.0, C) * rng.choice([-1.0, 1.0], C)
    beta = rng.standard_normal(C)
    running_mean = rng.standard_normal(C)
    running_var = rng.uniform(0.5, 2.0, C)
    running_var[(seed + 1) % C] = 1e-3
    return {"X": X, "gamma": gamma, "beta": beta, "running_mean": running_mean, "running_var": running_var,
            "momentum": momentum, "eps": eps}


@oracles.cached
def batchnorm_oracle(X, gamma, beta, running_mean, running_var, momentum, eps, train):
    """torch.nn.BatchNorm1d in float64: the output and the running statistics after the call."""
    t = oracles.torch()
    layer = t.nn.BatchNorm1d(X.shape[1], eps=eps, momentum=momentum, dtype=t.float64)
    with t.no_grad():
        layer.weight.copy_(t.tensor(gamma))
        layer.bias.copy_(t.tensor(beta))
        layer.running_mean.copy_(t.tensor(running_mean))
        layer.running_var.copy_(t.tensor(running_var))
        layer.train(train)
        Y = layer(t.tensor(X))
    return {"Y": Y.numpy().copy(), "running_mean": layer.running_mean.numpy().copy(),
            "running_var": layer.running_var.numpy().copy()}


def _bn_by_hand(c, mean, var, eps_outside=False):
    with np.errstate(all="ignore"):
        root = np.sqrt(var) + c["eps"] if eps_outside else np.sqrt(var + c["eps"])
        return c["gamma"] * (c["X"] - mean) / root + c["beta"]


def _bn_call(batchnorm_forward, c, train):
    what = f"batchnorm_forward(X, gamma, beta, running_mean, running_var, train={train}, momentum, eps)"
    out = call(batchnorm_forward, what, X=c["X"], gamma=c["gamma"], beta=c["beta"], running_mean=c["running_mean"],
               running_var=c["running_var"], train=train, momentum=c["momentum"], eps=c["eps"])
    Y, rm, rv = unpack(out, what, ("Y", "running_mean", "running_var"))
    case = describe(X=c["X"], gamma=c["gamma"]) + f", momentum = {c['momentum']}, eps = {c['eps']}"
    return (to_array(Y, "Y from batchnorm_forward"), to_array(rm, "running_mean from batchnorm_forward"),
            to_array(rv, "running_var from batchnorm_forward"), case)


@PARTS.add("test_bn_train", points=2, uses=("batchnorm_forward",))
def check_bn_train(batchnorm_forward):
    """Training mode: each feature normalised by the batch's mean and biased variance, then γ x̂ + β."""
    for seed in range(len(BN_CASES)):
        c = _bn_case(seed)
        ref = batchnorm_oracle(**c, train=True)
        Y, _, _, case = _bn_call(batchnorm_forward, c, True)
        X, n, m = c["X"], len(c["X"]), c["momentum"]
        mean, var = X.mean(axis=0), X.var(axis=0)
        assert_close(Y, ref["Y"], "Y from batchnorm_forward in training mode", case=case, mistakes={
            "normalised by the unbiased variance (÷ (n − 1)): the batch is normalised by its biased variance "
            "(÷ n), only the running variance is unbiased": _bn_by_hand(c, mean, var * n / (n - 1)),
            "ε outside the square root: (x − μ)/(√σ² + ε) instead of (x − μ)/√(σ² + ε)":
                _bn_by_hand(c, mean, var, eps_outside=True),
            "normalised by the running statistics: training mode uses the batch's": _bn_by_hand(
                c, c["running_mean"], c["running_var"]),
            "normalised by the running statistics just updated: training mode uses the batch's own": _bn_by_hand(
                c, (1 - m) * c["running_mean"] + m * mean, (1 - m) * c["running_var"] + m * var * n / (n - 1)),
            "γ and β swapped": c["beta"] * (X - mean) / np.sqrt(var + c["eps"]) + c["gamma"]})


@PARTS.add("test_bn_running_stats", points=2, uses=("batchnorm_forward",))
def check_bn_running_stats(batchnorm_forward):
    """Training mode: r_μ ← (1 − m) r_μ + m μ and r_σ² ← (1 − m) r_σ² + m σ²·n/(n − 1), torch's convention."""
    for seed in range(len(BN_CASES)):
        c = _bn_case(seed)
        ref = batchnorm_oracle(**c, train=True)
        _, rm, rv, case = _bn_call(batchnorm_forward, c, True)
        X, n, m = c["X"], len(c["X"]), c["momentum"]
        mean, var = X.mean(axis=0), X.var(axis=0)
        assert_close(rm, ref["running_mean"], "running_mean from batchnorm_forward in training mode", case=case,
                     mistakes={"the momentum is the weight of the old value, m·r + (1 − m)·μ: in torch it is the "
                               "weight of the batch's, (1 − m)·r + m·μ": m * c["running_mean"] + (1 - m) * mean,
                               "the running mean is not updated": c["running_mean"],
                               "the running mean is replaced by the batch's": mean})
        assert_close(rv, ref["running_var"], "running_var from batchnorm_forward in training mode", case=case,
                     mistakes={"the running variance is updated with the biased variance (÷ n): torch stores the "
                               "unbiased one, σ²·n/(n − 1)": (1 - m) * c["running_var"] + m * var,
                               "the momentum is the weight of the old value, m·r + (1 − m)·σ²: in torch it is the "
                               "weight of the batch's": m * c["running_var"] + (1 - m) * var * n / (n - 1),
                               "the running variance is not updated": c["running_var"]})


@PARTS.add("test_bn_eval", points=1, uses=("batchnorm_forward",))
def check_bn_eval(batchnorm_forward):
    """Evaluation mode: the running statistics replace the batch's, and are returned unchanged."""
    for seed in range(len(BN_CASES)):
        c = _bn_case(seed)
        ref = batchnorm_oracle(**c, train=False)
        Y, rm, rv, case = _bn_call(batchnorm_forward, c, False)
        X = c["X"]
        assert_close(Y, ref["Y"], "Y from batchnorm_forward in evaluation mode", case=case, mistakes={
            "normalised by the batch's statistics: evaluation mode uses the running ones":
                _bn_by_hand(c, X.mean(axis=0), X.var(axis=0)),
            "ε outside the square root: (x − r_μ)/(√r_σ² + ε) instead of (x − r_μ)/√(r_σ² + ε)":
                _bn_by_hand(c, c["running_mean"], c["running_var"], eps_outside=True)})
        updated = batchnorm_oracle(**c, train=True)
        for name, got in (("running_mean", rm), ("running_var", rv)):
            assert_close(got, ref[name], f"{name} from batchnorm_forward in evaluation mode", case=case, mistakes={
                "the running statistics are updated in evaluation mode: only training updates them":
                    updated[name]})


# --- batch normalisation, backward ------------------------------------------------------------------------------

BN_BACK_CASES = ((6, 3, 1e-5), (4, 5, 1e-3), (9, 2, 1e-5))  # n, C, eps


def _bn_back_case(seed):
    n, C, eps = BN_BACK_CASES[seed]
    rng = np.random.default_rng(1300 + seed)
    X = rng.uniform(-3.0, 3.0, C) + rng.uniform(0.5, 3.0, C) * rng.standard_normal((n, C))
    gamma = rng.uniform(0.5, 2.0, C) * rng.choice([-1.0, 1.0], C)
    beta = rng.standard_normal(C)
    return {"grad_out": rng.standard_normal((n, C)) + 0.5, "X": X, "gamma": gamma, "beta": beta, "eps": eps}


@oracles.cached
def batchnorm_grad_oracle(grad_out, X, gamma, beta, eps):
    """dX, dgamma, dbeta of training-mode batch normalisation by torch.autograd in float64."""
    t = oracles.torch()
    return oracles.value_and_grad(
        lambda X, gamma, beta: t.nn.functional.batch_norm(X, None, None, gamma, beta, training=True, eps=eps),
        {"X": X, "gamma": gamma, "beta": beta}, wrt=("X", "gamma", "beta"), grad_out=grad_out)


def _bn_back_call(batchnorm_backward, c):
    what = "batchnorm_backward(grad_out, X, gamma, eps)"
    out = call(batchnorm_backward, what, grad_out=c["grad_out"], X=c["X"], gamma=c["gamma"], eps=c["eps"])
    got = unpack(out, what, ("dX", "dgamma", "dbeta"))
    case = describe(grad_out=c["grad_out"], X=c["X"], gamma=c["gamma"]) + f", eps = {c['eps']}"
    return {k: to_array(v, f"{k} from batchnorm_backward") for k, v in zip(("dX", "dgamma", "dbeta"), got)}, case


def _x_hat(X, eps, ddof=0):
    return (X - X.mean(axis=0)) / np.sqrt(X.var(axis=0, ddof=ddof) + eps)


@PARTS.add("test_bn_dgamma_dbeta", points=1, uses=("batchnorm_backward",))
def check_bn_dgamma_dbeta(batchnorm_backward):
    """∂L/∂γ = Σᵢ gᵢ x̂ᵢ and ∂L/∂β = Σᵢ gᵢ, summed over the batch (axis 0)."""
    for seed in range(len(BN_BACK_CASES)):
        c = _bn_back_case(seed)
        ref = batchnorm_grad_oracle(**c)
        got, case = _bn_back_call(batchnorm_backward, c)
        G, n = c["grad_out"], len(c["X"])
        assert_close(got["dbeta"], ref["dbeta"], "dbeta from batchnorm_backward", case=case, batch_size=n)
        assert_close(got["dgamma"], ref["dgamma"], "dgamma from batchnorm_backward", case=case, batch_size=n,
                     mistakes={"Σ gᵢ xᵢ with the raw input: use the normalised x̂ᵢ": (G * c["X"]).sum(axis=0),
                               "x̂ from the unbiased variance (÷ (n − 1))": (G * _x_hat(c["X"], c["eps"], 1)).sum(0)})


def bn_dX_by_hand(G, X, gamma, eps, mistake="right"):
    """dX of training-mode batch norm in NumPy, right or ignoring the dependence of μ and/or σ² on X."""
    n = len(X)
    x_hat = _x_hat(X, eps, ddof=1 if mistake == "unbiased" else 0)
    inv_std = 1 / np.sqrt(X.var(axis=0, ddof=1 if mistake == "unbiased" else 0) + eps)
    mean_term = 0 if mistake in ("no_mean", "neither") else G.sum(axis=0)
    var_term = 0 if mistake in ("no_var", "neither") else x_hat * (G * x_hat).sum(axis=0)
    return gamma * inv_std / n * (n * G - mean_term - var_term)


@PARTS.add("test_bn_dX", points=3, uses=("batchnorm_backward",))
def check_bn_dX(batchnorm_backward):
    """∂L/∂xᵢ = γ/(n√(σ² + ε)) (n gᵢ − Σⱼ gⱼ − x̂ᵢ Σⱼ gⱼ x̂ⱼ): μ and σ² depend on every xᵢ."""
    for seed in range(len(BN_BACK_CASES)):
        c = _bn_back_case(seed)
        ref = batchnorm_grad_oracle(**c)
        got, case = _bn_back_call(batchnorm_backward, c)
        G, X, gamma, eps = c["grad_out"], c["X"], c["gamma"], c["eps"]
        assert_close(got["dX"], ref["dX"], "dX from batchnorm_backward", case=case, mistakes={
            "the mean's dependence on X is missing (the − Σⱼ gⱼ term)": bn_dX_by_hand(G, X, gamma, eps, "no_mean"),
            "the variance's dependence on X is missing (the − x̂ᵢ Σⱼ gⱼ x̂ⱼ term)":
                bn_dX_by_hand(G, X, gamma, eps, "no_var"),
            "μ and σ² treated as constants: γ gᵢ/√(σ² + ε) is evaluation mode's gradient, not training mode's":
                bn_dX_by_hand(G, X, gamma, eps, "neither"),
            "the unbiased variance (÷ (n − 1)) in x̂ and √(σ² + ε)": bn_dX_by_hand(G, X, gamma, eps, "unbiased"),
            "γ is missing": bn_dX_by_hand(G, X, np.ones_like(gamma), eps)})


# --- the loss at initialisation --------------------------------------------------------------------------------


def _softmax_ce(logits, y):
    shifted = logits - logits.max(axis=1, keepdims=True)
    return float(np.mean(np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(len(y)), y]))


def _init_cases():
    """(logits, y, rtol, what it shows): near log C, far above, far below, huge logits, and one between an
    absolute and a relative tolerance."""
    cases = []
    for seed, (n, C, kind, rtol) in enumerate(((7, 4, "small", 0.05), (5, 10, "large", 0.1), (6, 3, "aligned", 0.1),
                                               (4, 9, "huge", 0.1), (9, 12, "between", 0.1), (11, 5, "small", 0.02))):
        rng = np.random.default_rng(1400 + seed)
        y = rng.integers(0, C, n)
        Z = rng.standard_normal((n, C))
        if kind == "small":
            logits = 0.01 * Z
        elif kind == "large":
            logits = 3.0 * Z
        elif kind == "aligned":
            logits = 0.3 * Z + 4.0 * np.eye(C)[y]
        elif kind == "huge":
            logits = 1000.0 * Z
        else:  # the loss at log C + 0.17: within rtol·log C = 0.25 (relative), not within 0.1 (absolute)
            target, low, high = np.log(C) + 0.17, 0.0, 10.0
            Z = Z - 2.0 * np.eye(C)[y]
            for _ in range(100):
                middle = (low + high) / 2
                low, high = (middle, high) if _softmax_ce(middle * Z, y) < target else (low, middle)
            logits = low * Z
        cases.append((logits, y, rtol))
    return cases


@oracles.cached
def cross_entropy_oracle(logits, y):
    t = oracles.torch()
    return {"loss": t.nn.functional.cross_entropy(t.tensor(logits), t.tensor(y, dtype=t.int64)).numpy()}


@PARTS.add("test_loss_at_init", points=2, uses=("sanity_check",))
def check_loss_at_init(loss_at_init):
    """(loss, log C, |loss − log C| ≤ rtol·log C): the mean softmax cross-entropy, stable for huge logits."""
    what = "loss_at_init(logits, y, rtol)"
    for logits, y, rtol in _init_cases():
        n, C = logits.shape
        case = describe(logits=logits, y=y) + f", rtol = {rtol}, largest |logit| {np.abs(logits).max():.3g}"
        loss, expected, ok = unpack(call(loss_at_init, what, logits=logits, y=y, rtol=rtol), what,
                                    ("loss", "expected", "ok"))
        ref = float(cross_entropy_oracle(logits, y)["loss"])
        log_C = np.log(C)
        assert_close(to_scalar(expected, "expected from loss_at_init"), log_C, "expected from loss_at_init",
                     case=case, mistakes={f"log n (n = {n} examples) instead of log C (C = {C} classes)": np.log(n),
                                          "log₂ C instead of the natural log C": np.log2(C),
                                          named("sign_flipped", "log(1/C): the expected loss is −log(1/C) = log C"):
                                              -log_C})
        loss = to_scalar(loss, "loss from loss_at_init")
        assert_close(loss, ref, "loss from loss_at_init", case=case, batch_size=n, mistakes={
            "the mean over every entry of −log softmax, not only the labels' ones": float(
                np.mean(-(logits - logits.max(1, keepdims=True) - np.log(np.exp(
                    logits - logits.max(1, keepdims=True)).sum(1, keepdims=True)))))})
        if not (type(ok) in (bool, np.bool_) or (type(ok) is np.ndarray and ok.dtype == bool and ok.size == 1)):
            fail(f"ok from loss_at_init must be a bool (True or False), got {type(ok).__name__}", "wrong_type")
        right = abs(ref - log_C) <= rtol * log_C
        assert_equal(np.array(float(ok)), np.array(float(right)), "ok from loss_at_init", case=case + (
            f"; the loss is {ref:.4g}, log C = {log_C:.4g}, the tolerance rtol·log C = {rtol * log_C:.4g}"), mistakes={
            "loss − log C ≤ tolerance without the absolute value: a loss far below log C is suspect too":
                float(ref - log_C <= rtol * log_C),
            "an absolute tolerance |loss − log C| ≤ rtol: rtol is relative, times log C":
                float(abs(ref - log_C) <= rtol)})
