"""Mutants of assignment 07_losses (see ``autograder/mutation/__init__.py``)."""

from autograder.mutation import bug, variant

from .checks import (
    check_bce_grad,
    check_bce_loss,
    check_softmax_ce_grad,
    check_softmax_ce_loss,
    check_squared_error_grad,
    check_squared_error_loss,
)

BCE_LOSS, BCE_GRAD = check_bce_loss, check_bce_grad
CE_LOSS, CE_GRAD = check_softmax_ce_loss, check_softmax_ce_grad
SE_LOSS, SE_GRAD = check_squared_error_loss, check_squared_error_grad

BCE = [
    bug("bce_with_logits", "naive_log_sigmoid", "−y log σ(u) − (1 − y) log(1 − σ(u)) literally: log 0 at large |u|",
        replace=[("loss = np.mean(np.logaddexp(0.0, u) - y * u)",
                  "s = 1 / (1 + np.exp(-u))\n    loss = -np.mean(y * np.log(s) + (1 - y) * np.log(1 - s))")],
        fails=[BCE_LOSS], mistake="not_finite"),
    bug("bce_with_logits", "softplus_overflow", "log(1 + exp(u)): overflows at u = 10⁴",
        replace=[("np.logaddexp(0.0, u) - y * u", "np.log(1 + np.exp(u)) - y * u")], fails=[BCE_LOSS],
        mistake="not_finite"),
    bug("bce_with_logits", "loss_summed", "the loss summed over the batch",
        replace=[("loss = np.mean(", "loss = np.sum(")], fails=[BCE_LOSS], mistake="batch_factor"),
    bug("bce_with_logits", "yu_sign", "softplus(u) + y·u", replace=[("- y * u)", "+ y * u)")], fails=[BCE_LOSS],
        mistake="named"),
    bug("bce_with_logits", "labels_swapped", "uses 1 − y for the label in the loss",
        replace=[("- y * u)", "- (1 - y) * u)")], fails=[BCE_LOSS], mistake="named"),
    bug("bce_with_logits", "grad_sign", "du = (y − σ(u)) / n", replace=[("du = (p - y) / n", "du = (y - p) / n")],
        fails=[BCE_GRAD], mistake="sign_flipped"),
    bug("bce_with_logits", "grad_summed", "du without the 1/n", replace=[("du = (p - y) / n", "du = p - y")],
        fails=[BCE_GRAD], mistake="batch_factor"),
    bug("bce_with_logits", "grad_no_sigmoid", "du = (u − y) / n", replace=[("du = (p - y) / n", "du = (u - y) / n")],
        fails=[BCE_GRAD], mistake="named"),
    bug("bce_with_logits", "grad_sigmoid_sign", "σ(−u) instead of σ(u)",
        replace=[("p = np.exp(-np.logaddexp(0.0, -u))", "p = np.exp(-np.logaddexp(0.0, u))")], fails=[BCE_GRAD],
        mistake="constant_factor"),
    bug("bce_with_logits", "grad_in_place", "builds du by overwriting u in place", source='''
def bce_with_logits(u, y):
    n = u.shape[0]
    loss = np.mean(np.logaddexp(0.0, u) - y * u)
    u -= np.logaddexp(0.0, u)
    np.exp(u, out=u)
    u -= y
    u /= n
    return loss, u
''', fails=[BCE_LOSS, BCE_GRAD], mistake="in_place"),
    variant("bce_with_logits", "max_form", "max(u, 0) − y·u + log(1 + e^(−|u|)), σ by np.where", source='''
def bce_with_logits(u, y):
    loss = np.mean(np.maximum(u, 0) - y * u + np.log1p(np.exp(-np.abs(u))))
    e = np.exp(-np.abs(u))
    p = np.where(u >= 0, 1 / (1 + e), e / (1 + e))
    return loss, (p - y) / len(u)
'''),
    variant("bce_with_logits", "float32", "in float32",
            replace=[("    n = u.shape[0]\n",
                      "    n = u.shape[0]\n    u, y = u.astype(np.float32), y.astype(np.float32)\n")]),
]

CE = [
    bug("softmax_cross_entropy", "no_shift", "softmax without subtracting the maximum: overflow",
        replace=[("shifted = Z - Z.max(axis=1, keepdims=True)", "shifted = Z")], fails=[CE_LOSS, CE_GRAD],
        mistake="not_finite"),
    bug("softmax_cross_entropy", "global_shift", "subtracts the maximum of the whole batch: underflow in other rows",
        replace=[("Z.max(axis=1, keepdims=True)", "Z.max()")], fails=[CE_LOSS, CE_GRAD], mistake="not_finite"),
    bug("softmax_cross_entropy", "loss_summed", "the loss summed over the batch",
        replace=[("loss = -np.mean(", "loss = -np.sum(")], fails=[CE_LOSS], mistake="batch_factor"),
    bug("softmax_cross_entropy", "all_classes", "averages −log p over every class",
        replace=[("loss = -np.mean(log_probs[np.arange(n), y])", "loss = -np.mean(log_probs)")], fails=[CE_LOSS],
        mistake="named"),
    bug("softmax_cross_entropy", "loss_sign", "returns the log-likelihood, not its negative",
        replace=[("loss = -np.mean(", "loss = np.mean(")], fails=[CE_LOSS], mistake="named"),
    bug("softmax_cross_entropy", "picks_columns", "log_probs[:, y]: an (n, n) block instead of one entry per row",
        replace=[("loss = -np.mean(log_probs[np.arange(n), y])", "loss = -np.mean(log_probs[:, y])")],
        fails=[CE_LOSS], mistake="constant_factor"),
    bug("softmax_cross_entropy", "grad_no_onehot", "dZ = softmax(Z) / n",
        replace=[("dZ[np.arange(n), y] -= 1.0", "pass")], fails=[CE_GRAD], mistake="named"),
    bug("softmax_cross_entropy", "grad_summed", "dZ without the 1/n", replace=[("return loss, dZ / n",
                                                                                "return loss, dZ")],
        fails=[CE_GRAD], mistake="batch_factor"),
    bug("softmax_cross_entropy", "grad_sign", "dZ = (onehot − softmax) / n",
        replace=[("return loss, dZ / n", "return loss, -dZ / n")], fails=[CE_GRAD], mistake="sign_flipped"),
    bug("softmax_cross_entropy", "grad_wrong_entries", "subtracts 1 in column y of every row",
        replace=[("dZ[np.arange(n), y] -= 1.0", "dZ[:, y] -= 1.0")], fails=[CE_GRAD], mistake="other"),
    variant("softmax_cross_entropy", "logaddexp_loop", "np.logaddexp.reduce and a loop over examples", source='''
def softmax_cross_entropy(Z, y):
    n, k = Z.shape
    loss, dZ = 0.0, np.zeros((n, k))
    for i in range(n):
        lse = np.logaddexp.reduce(Z[i])
        loss += (lse - Z[i, y[i]]) / n
        dZ[i] = np.exp(Z[i] - lse)
        dZ[i, y[i]] -= 1.0
    return loss, dZ / n
'''),
    variant("softmax_cross_entropy", "onehot_matrix", "one-hot matrix and softmax by division", source='''
def softmax_cross_entropy(Z, y):
    E = np.exp(Z - Z.max(axis=1)[:, None])
    P = E / E.sum(axis=1)[:, None]
    onehot = np.eye(Z.shape[1])[y]
    lse = np.log(E.sum(axis=1)) + Z.max(axis=1)
    return np.mean(lse - np.sum(onehot * Z, axis=1)), (P - onehot) / len(Z)
'''),
]

SE = [
    bug("squared_error", "mean_all_entries", "the mean over every entry, n·d",
        replace=[("0.5 * np.sum(residual**2) / n", "0.5 * np.mean(residual**2)")], fails=[SE_LOSS], mistake="named"),
    bug("squared_error", "no_half", "leaves out the ½", replace=[("0.5 * np.sum", "np.sum")], fails=[SE_LOSS],
        mistake="named"),
    bug("squared_error", "loss_summed", "the loss summed over the batch",
        replace=[("0.5 * np.sum(residual**2) / n", "0.5 * np.sum(residual**2)")], fails=[SE_LOSS],
        mistake="batch_factor"),
    bug("squared_error", "grad_sign", "grad = (y − ŷ) / n", replace=[("residual / n", "-residual / n")],
        fails=[SE_GRAD], mistake="sign_flipped"),
    bug("squared_error", "grad_double", "grad = 2(ŷ − y) / n", replace=[("residual / n", "2 * residual / n")],
        fails=[SE_GRAD], mistake="named"),
    bug("squared_error", "grad_all_entries", "grad divided by n·d", replace=[("residual / n",
                                                                              "residual / residual.size")],
        fails=[SE_GRAD], mistake="named"),
    bug("squared_error", "grad_no_mean", "grad without the 1/n", replace=[(", residual / n", ", residual")],
        fails=[SE_GRAD], mistake="batch_factor"),
    variant("squared_error", "einsum", "per-example sums with einsum, then the mean", source='''
def squared_error(y_hat, y):
    r = y_hat - y
    return np.mean(0.5 * np.einsum("nd,nd->n", r, r)), r / len(r)
'''),
    variant("squared_error", "float32", "in float32",
            replace=[("residual = y_hat - y", "residual = y_hat.astype(np.float32) - y.astype(np.float32)")]),
]

GAUSS = [
    bug("gaussian_nll", "no_constant", "leaves out (d/2) log(2πσ²)",
        replace=[("return fit + d / 2 * np.log(2 * np.pi * sigma**2)", "return fit")], mistake="named"),
    bug("gaussian_nll", "constant_once", "(1/2) log(2πσ²) instead of (d/2) log(2πσ²)",
        replace=[("return fit + d / 2 *", "return fit + 1 / 2 *")], mistake="named"),
    bug("gaussian_nll", "sigma_not_squared", "‖ŷ − y‖²/(2σ)", replace=[("(2 * sigma**2 * n)", "(2 * sigma * n)")],
        mistake="named"),
    bug("gaussian_nll", "summed", "summed over the batch", source='''
def gaussian_nll(y_hat, y, sigma):
    n, d = y.shape
    return np.sum((y_hat - y) ** 2) / (2 * sigma**2) + n * d / 2 * np.log(2 * np.pi * sigma**2)
''', mistake="named"),
    bug("gaussian_nll", "log_sigma_once", "log(2π)σ² instead of log(2πσ²)",
        replace=[("np.log(2 * np.pi * sigma**2)", "np.log(2 * np.pi) * sigma**2")], mistake="constant_factor"),
    bug("gaussian_nll", "positive_log_likelihood", "the log-likelihood instead of its negative",
        replace=[("return fit + d / 2", "return -fit - d / 2")], mistake="sign_flipped"),
    variant("gaussian_nll", "log_density", "−mean of the summed log-densities, entry by entry", source='''
def gaussian_nll(y_hat, y, sigma):
    log_density = -0.5 * ((y - y_hat) / sigma) ** 2 - np.log(sigma) - 0.5 * np.log(2 * np.pi)
    return -np.mean(np.sum(log_density, axis=1))
'''),
]

MUTANTS = BCE + CE + SE + GAUSS
