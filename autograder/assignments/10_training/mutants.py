"""Mutants of assignment 10_training (see ``autograder/mutation/__init__.py``)."""

from autograder.mutation import bug, variant

from .checks import (
    check_adam_first_step,
    check_adam_trajectory,
    check_bn_dgamma_dbeta,
    check_bn_dX,
    check_bn_eval,
    check_bn_running_stats,
    check_bn_train,
    check_loss_at_init,
    check_momentum_step,
    check_momentum_trajectory,
)

STEP, TRAJ = check_momentum_step, check_momentum_trajectory
FIRST, ADAM = check_adam_first_step, check_adam_trajectory
TRAIN, RUNNING, EVAL = check_bn_train, check_bn_running_stats, check_bn_eval
DGB, DX = check_bn_dgamma_dbeta, check_bn_dX
INIT = check_loss_at_init

MOMENTUM = [
    bug("momentum", "sign_flipped", "θ + lr·b: the step goes uphill",
        replace=[("return theta - lr * velocity, velocity", "return theta + lr * velocity, velocity")],
        fails=[STEP, TRAJ], mistake="sign_flipped"),
    bug("momentum", "old_velocity", "moves with the velocity before updating it", source='''
def momentum_step(theta, grad, velocity, lr, mu):
    new_theta = theta - lr * velocity
    return new_theta, mu * velocity + grad
''', fails=[STEP, TRAJ], mistake="named"),
    bug("momentum", "dampened", "b = μb + (1 − μ)g, an average instead of torch's sum",
        replace=[("velocity = mu * velocity + grad", "velocity = mu * velocity + (1 - mu) * grad")],
        fails=[STEP, TRAJ], mistake="named"),
    bug("momentum", "nesterov", "Nesterov's step θ − lr·(g + μb) in place of the heavy ball",
        replace=[("return theta - lr * velocity, velocity", "return theta - lr * (grad + mu * velocity), velocity")],
        fails=[STEP, TRAJ], mistake="named"),
    bug("momentum", "lr_in_velocity", "b = μb + lr·g, then θ − b: a different velocity than torch's buffer",
        replace=[("    velocity = mu * velocity + grad\n    return theta - lr * velocity, velocity",
                  "    velocity = mu * velocity + lr * grad\n    return theta - velocity, velocity")],
        fails=[STEP, TRAJ], mistake="named"),
    bug("momentum", "velocity_not_returned", "returns the velocity it was given",
        replace=[("    velocity = mu * velocity + grad\n    return theta - lr * velocity, velocity",
                  "    new_velocity = mu * velocity + grad\n    return theta - lr * new_velocity, velocity")],
        fails=[STEP, TRAJ], mistake="named"),
    bug("momentum", "in_place", "updates the velocity in place (velocity *= mu)",
        replace=[("    velocity = mu * velocity + grad\n",
                  "    velocity *= mu\n    velocity += grad\n")], fails=[STEP, TRAJ], mistake="in_place"),
    bug("momentum", "no_momentum", "b = g: plain SGD, the velocity forgotten",
        replace=[("velocity = mu * velocity + grad", "velocity = grad")], fails=[STEP, TRAJ], mistake="named"),
    variant("momentum", "expanded_float32", "θ − lr·μ·b − lr·g, computed in float32", source='''
def momentum_step(theta, grad, velocity, lr, mu):
    theta, grad, velocity = (np.asarray(a, dtype=np.float32) for a in (theta, grad, velocity))
    new_theta = theta - np.float32(lr * mu) * velocity - np.float32(lr) * grad
    return new_theta, np.float32(mu) * velocity + grad
'''),
]

ADAM_CELL = [
    bug("adam", "no_bias_correction", "m and v used without dividing by 1 − βᵗ",
        replace=[("    m_hat = m / (1 - beta1**t)\n    v_hat = v / (1 - beta2**t)\n",
                  "    m_hat = m\n    v_hat = v\n")], fails=[FIRST, ADAM], mistake="named"),
    bug("adam", "correct_m_only", "bias correction of m only; v left uncorrected",
        replace=[("v_hat = v / (1 - beta2**t)", "v_hat = v")], fails=[FIRST, ADAM], mistake="named"),
    bug("adam", "correct_v_only", "bias correction of v only; m left uncorrected",
        replace=[("m_hat = m / (1 - beta1**t)", "m_hat = m")], fails=[FIRST, ADAM], mistake="named"),
    bug("adam", "corrections_swapped", "each moment corrected with the other's β",
        replace=[("    m_hat = m / (1 - beta1**t)\n    v_hat = v / (1 - beta2**t)\n",
                  "    m_hat = m / (1 - beta2**t)\n    v_hat = v / (1 - beta1**t)\n")], fails=[FIRST, ADAM],
        mistake="named"),
    bug("adam", "eps_inside_sqrt", "√(v̂ + ε) instead of √v̂ + ε",
        replace=[("np.sqrt(v_hat) + eps", "np.sqrt(v_hat + eps)")], fails=[FIRST, ADAM], mistake="named"),
    bug("adam", "t_from_zero", "bias correction with the step count before this step (t starting at 0)", source='''
def adam_step(theta, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad**2
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    return theta - lr * m_hat / (np.sqrt(v_hat) + eps), m, v, t + 1
''', fails=[FIRST, ADAM], mistake="not_finite"),
    bug("adam", "t_not_returned", "returns the step count it was given", source='''
def adam_step(theta, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad**2
    m_hat = m / (1 - beta1 ** (t + 1))
    v_hat = v / (1 - beta2 ** (t + 1))
    return theta - lr * m_hat / (np.sqrt(v_hat) + eps), m, v, t
''', fails=[FIRST, ADAM], mistake="named"),
    bug("adam", "v_not_squared", "v averages g instead of g²",
        replace=[("v = beta2 * v + (1 - beta2) * grad**2", "v = beta2 * v + (1 - beta2) * np.abs(grad)")],
        fails=[FIRST, ADAM], mistake="named"),
    bug("adam", "corrected_state_returned", "returns the corrected m̂, v̂ as the state",
        replace=[("return theta - lr * m_hat / (np.sqrt(v_hat) + eps), m, v, t",
                  "return theta - lr * m_hat / (np.sqrt(v_hat) + eps), m_hat, v_hat, t")], fails=[FIRST, ADAM],
        mistake="named"),
    bug("adam", "power_misplaced", "(1 − β)ᵗ instead of 1 − βᵗ",
        replace=[("    m_hat = m / (1 - beta1**t)\n    v_hat = v / (1 - beta2**t)\n",
                  "    m_hat = m / (1 - beta1) ** t\n    v_hat = v / (1 - beta2) ** t\n")], fails=[ADAM],
        mistake="named"),
    variant("adam", "paper_efficient_form", "Kingma and Ba's faster form: αₜ = lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ) and "
            "ε̂ = ε·√(1 − β₂ᵗ)", source='''
def adam_step(theta, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    t += 1
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad * grad
    root = np.sqrt(1 - beta2**t)
    step = lr * root / (1 - beta1**t)
    return theta - step * m / (np.sqrt(v) + eps * root), m, v, t
'''),
]

BN_FORWARD = [
    bug("batchnorm_forward", "unbiased_in_output", "normalises the batch by its unbiased variance (÷ (n − 1))",
        replace=[("var = ((X - mean) ** 2).mean(axis=0)", "var = X.var(axis=0, ddof=1)"),
                 ("momentum * var * n / (n - 1)", "momentum * var")], fails=[TRAIN], mistake="named"),
    bug("batchnorm_forward", "biased_running_var", "updates the running variance with the biased variance",
        replace=[("momentum * var * n / (n - 1)", "momentum * var")], fails=[RUNNING], mistake="named"),
    bug("batchnorm_forward", "momentum_reversed", "r ← m·r + (1 − m)·μ: the momentum weighs the old value",
        replace=[("running_mean = (1 - momentum) * running_mean + momentum * mean",
                  "running_mean = momentum * running_mean + (1 - momentum) * mean"),
                 ("running_var = (1 - momentum) * running_var + momentum * var * n / (n - 1)",
                  "running_var = momentum * running_var + (1 - momentum) * var * n / (n - 1)")], fails=[RUNNING],
        mistake="named"),
    bug("batchnorm_forward", "eval_updates_running", "updates the running statistics in evaluation mode too",
        source='''
def batchnorm_forward(X, gamma, beta, running_mean, running_var, train, momentum=0.1, eps=1e-5):
    n = X.shape[0]
    mean = X.mean(axis=0)
    var = ((X - mean) ** 2).mean(axis=0)
    new_mean = (1 - momentum) * running_mean + momentum * mean
    new_var = (1 - momentum) * running_var + momentum * var * n / (n - 1)
    if not train:
        mean, var = running_mean, running_var
    return gamma * (X - mean) / np.sqrt(var + eps) + beta, new_mean, new_var
''', fails=[EVAL], mistake="named"),
    bug("batchnorm_forward", "eval_batch_stats", "normalises by the batch's statistics in evaluation mode",
        replace=[("        mean, var = running_mean, running_var\n",
                  "        mean, var = X.mean(axis=0), X.var(axis=0)\n")], fails=[EVAL], mistake="named"),
    bug("batchnorm_forward", "eps_outside_sqrt", "(x − μ)/(√σ² + ε) instead of (x − μ)/√(σ² + ε)",
        replace=[("np.sqrt(var + eps)", "(np.sqrt(var) + eps)")], fails=[TRAIN, EVAL], mistake="named"),
    bug("batchnorm_forward", "gamma_beta_swapped", "β x̂ + γ",
        replace=[("Y = gamma * (X - mean) / np.sqrt(var + eps) + beta",
                  "Y = beta * (X - mean) / np.sqrt(var + eps) + gamma")],
        fails=[TRAIN, EVAL], mistake="named"),
    bug("batchnorm_forward", "in_place_running", "updates running_mean and running_var in place", source='''
def batchnorm_forward(X, gamma, beta, running_mean, running_var, train, momentum=0.1, eps=1e-5):
    if train:
        n = X.shape[0]
        mean = X.mean(axis=0)
        var = ((X - mean) ** 2).mean(axis=0)
        running_mean *= 1 - momentum
        running_mean += momentum * mean
        running_var *= 1 - momentum
        running_var += momentum * var * n / (n - 1)
    else:
        mean, var = running_mean, running_var
    return gamma * (X - mean) / np.sqrt(var + eps) + beta, running_mean, running_var
''', fails=[TRAIN, RUNNING], mistake="in_place"),
    bug("batchnorm_forward", "train_running_stats", "normalises by the running statistics in training mode too",
        replace=[("    Y = gamma * (X - mean) / np.sqrt(var + eps) + beta\n    return Y, running_mean, running_var",
                  "    Y = gamma * (X - running_mean) / np.sqrt(running_var + eps) + beta\n"
                  "    return Y, running_mean, running_var")], fails=[TRAIN], mistake="named"),
    variant("batchnorm_forward", "affine_eval_np_var", "np.var with ddof, and evaluation mode as one affine map per "
            "feature", source='''
def batchnorm_forward(X, gamma, beta, running_mean, running_var, train, momentum=0.1, eps=1e-5):
    if not train:
        scale = gamma / np.sqrt(running_var + eps)
        return X * scale + (beta - running_mean * scale), np.array(running_mean), np.array(running_var)
    mean = np.mean(X, axis=0)
    X_hat = (X - mean) / np.sqrt(np.var(X, axis=0) + eps)
    new_mean = running_mean + momentum * (mean - running_mean)
    new_var = running_var + momentum * (np.var(X, axis=0, ddof=1) - running_var)
    return gamma * X_hat + beta, new_mean, new_var
'''),
]

BN_BACKWARD = [
    bug("batchnorm_backward", "no_mean_term", "dX ignores the mean's dependence on X (no − Σ g)",
        replace=[("(n * grad_out - dbeta - X_hat * dgamma)", "(n * grad_out - X_hat * dgamma)")], fails=[DX],
        mistake="named"),
    bug("batchnorm_backward", "no_var_term", "dX ignores the variance's dependence on X (no − x̂ Σ g x̂)",
        replace=[("(n * grad_out - dbeta - X_hat * dgamma)", "(n * grad_out - dbeta)")], fails=[DX], mistake="named"),
    bug("batchnorm_backward", "constant_statistics", "dX = γ g / √(σ² + ε): μ and σ² treated as constants",
        replace=[("dX = gamma * inv_std / n * (n * grad_out - dbeta - X_hat * dgamma)",
                  "dX = gamma * inv_std * grad_out")], fails=[DX], mistake="named"),
    bug("batchnorm_backward", "unbiased_variance", "x̂ and σ from the unbiased variance (÷ (n − 1))",
        replace=[("inv_std = 1 / np.sqrt(((X - mean) ** 2).mean(axis=0) + eps)",
                  "inv_std = 1 / np.sqrt(X.var(axis=0, ddof=1) + eps)")], fails=[DGB, DX], mistake="named"),
    bug("batchnorm_backward", "wrong_axis", "dγ and dβ summed over the features (axis 1)",
        replace=[("dbeta = grad_out.sum(axis=0)", "dbeta = grad_out.sum(axis=1)"),
                 ("dgamma = (grad_out * X_hat).sum(axis=0)", "dgamma = (grad_out * X_hat).sum(axis=1)")],
        fails=[DGB, DX], mistake="crashed"),
    bug("batchnorm_backward", "dbeta_mean", "dβ and dγ averaged over the batch", source='''
def batchnorm_backward(grad_out, X, gamma, eps=1e-5):
    n = X.shape[0]
    mean = X.mean(axis=0)
    inv_std = 1 / np.sqrt(((X - mean) ** 2).mean(axis=0) + eps)
    X_hat = (X - mean) * inv_std
    dX = gamma * inv_std / n * (n * grad_out - grad_out.sum(axis=0) - X_hat * (grad_out * X_hat).sum(axis=0))
    return dX, (grad_out * X_hat).mean(axis=0), grad_out.mean(axis=0)
''', fails=[DGB], mistake="batch_factor"),
    bug("batchnorm_backward", "dgamma_raw_x", "dγ = Σ g x with the raw input instead of x̂", source='''
def batchnorm_backward(grad_out, X, gamma, eps=1e-5):
    n = X.shape[0]
    mean = X.mean(axis=0)
    inv_std = 1 / np.sqrt(((X - mean) ** 2).mean(axis=0) + eps)
    X_hat = (X - mean) * inv_std
    dX = gamma * inv_std / n * (n * grad_out - grad_out.sum(axis=0) - X_hat * (grad_out * X_hat).sum(axis=0))
    return dX, (grad_out * X).sum(axis=0), grad_out.sum(axis=0)
''', fails=[DGB], mistake="named"),
    bug("batchnorm_backward", "no_gamma", "dX without the factor γ",
        replace=[("dX = gamma * inv_std / n", "dX = inv_std / n")], fails=[DX], mistake="named"),
    variant("batchnorm_backward", "staged_graph", "backwards through the graph x → μ → σ² → x̂ → y, one node at a "
            "time", source='''
def batchnorm_backward(grad_out, X, gamma, eps=1e-5):
    n = X.shape[0]
    mu = X.mean(axis=0)
    xc = X - mu
    var = (xc**2).mean(axis=0)
    std = np.sqrt(var + eps)
    X_hat = xc / std
    dbeta = grad_out.sum(axis=0)
    dgamma = (grad_out * X_hat).sum(axis=0)
    dX_hat = grad_out * gamma
    dvar = (dX_hat * xc).sum(axis=0) * -0.5 * (var + eps) ** -1.5
    dmu = -(dX_hat / std).sum(axis=0) + dvar * (-2.0 * xc).mean(axis=0)
    dX = dX_hat / std + dvar * 2.0 * xc / n + dmu / n
    return dX, dgamma, dbeta
'''),
]

SANITY = [
    bug("sanity_check", "log_n", "log n (the batch size) instead of log C",
        replace=[("expected = np.log(logits.shape[1])", "expected = np.log(logits.shape[0])")], fails=[INIT],
        mistake="named"),
    bug("sanity_check", "log2", "log₂ C instead of the natural log",
        replace=[("expected = np.log(logits.shape[1])", "expected = np.log2(logits.shape[1])")], fails=[INIT],
        mistake="named"),
    bug("sanity_check", "unstable", "softmax without subtracting the row maximum: overflows for huge logits",
        replace=[("shifted = logits - logits.max(axis=1, keepdims=True)", "shifted = logits")], fails=[INIT],
        mistake="not_finite"),
    bug("sanity_check", "summed_loss", "the loss summed over the batch instead of averaged",
        replace=[("loss = -log_probs[np.arange(len(y)), y].mean()", "loss = -log_probs[np.arange(len(y)), y].sum()")],
        fails=[INIT], mistake="batch_factor"),
    bug("sanity_check", "no_abs", "loss − log C ≤ tolerance: a loss far below log C passes",
        replace=[("abs(loss - expected) <= rtol * expected", "loss - expected <= rtol * expected")], fails=[INIT],
        mistake="named"),
    bug("sanity_check", "absolute_tolerance", "|loss − log C| ≤ rtol, an absolute tolerance",
        replace=[("abs(loss - expected) <= rtol * expected", "abs(loss - expected) <= rtol")], fails=[INIT],
        mistake="named"),
    bug("sanity_check", "all_classes", "−log softmax averaged over every class, not the labels'",
        replace=[("loss = -log_probs[np.arange(len(y)), y].mean()", "loss = -log_probs.mean()")], fails=[INIT],
        mistake="named"),
    variant("sanity_check", "one_hot_logaddexp", "one-hot labels and np.logaddexp.reduce", source='''
def loss_at_init(logits, y, rtol=0.1):
    n, C = logits.shape
    one_hot = np.eye(C)[y]
    loss = np.mean(np.logaddexp.reduce(logits, axis=1) - (one_hot * logits).sum(axis=1))
    expected = -np.log(1 / C)
    return float(loss), float(expected), bool(np.abs(loss - expected) <= rtol * expected)
'''),
]

MUTANTS = MOMENTUM + ADAM_CELL + BN_FORWARD + BN_BACKWARD + SANITY
