"""Mutants of assignment 06_relu (see ``autograder/mutation/__init__.py``)."""

from autograder.mutation import bug, variant

from .checks import (
    check_crelu_backward,
    check_crelu_forward,
    check_elu_backward,
    check_elu_forward,
    check_leaky_relu_backward,
    check_leaky_relu_forward,
    check_maxout_backward,
    check_maxout_forward,
    check_prelu_da,
    check_prelu_dv,
    check_prelu_forward,
    check_selu_backward,
    check_selu_forward,
)

LEAKY = [
    bug("leaky_relu", "forward_plain_relu", "forward max(v, 0)",
        replace=[("return np.where(v > 0, v, alpha * v)", "return np.maximum(v, 0)")],
        fails=[check_leaky_relu_forward], mistake="named"),
    bug("leaky_relu", "forward_slope_swapped", "alpha on the positive side",
        replace=[("return np.where(v > 0, v, alpha * v)", "return np.where(v > 0, alpha * v, v)")],
        fails=[check_leaky_relu_forward], mistake="named"),
    bug("leaky_relu", "backward_plain_relu", "backward without alpha",
        replace=[("np.where(v > 0, 1.0, alpha)", "np.where(v > 0, 1.0, 0.0)")], fails=[check_leaky_relu_backward],
        mistake="named"),
    bug("leaky_relu", "backward_mask_only", "returns the derivative without grad_out",
        replace=[("return grad_out * np.where(v > 0, 1.0, alpha)", "return np.where(v > 0, 1.0, alpha)")],
        fails=[check_leaky_relu_backward], mistake="named"),
    bug("leaky_relu", "backward_mask_from_grad_out", "the mask taken from grad_out",
        replace=[("np.where(v > 0, 1.0, alpha)", "np.where(grad_out > 0, 1.0, alpha)")],
        fails=[check_leaky_relu_backward], mistake="other"),
    bug("leaky_relu", "backward_times_v", "multiplies by the forward value",
        replace=[("np.where(v > 0, 1.0, alpha)", "np.where(v > 0, v, alpha * v)")], fails=[check_leaky_relu_backward],
        mistake="named"),
    variant("leaky_relu", "max_form", "max(v, αv) for α < 1 and a slope array", source='''
def leaky_relu_forward(v, alpha):
    return np.maximum(v, alpha * v)


def leaky_relu_backward(grad_out, v, alpha):
    slope = np.full(v.shape, alpha)
    slope[v > 0] = 1.0
    return grad_out * slope
'''),
]

PRELU = [
    bug("prelu", "forward_slope_positive", "the slope on the positive side",
        replace=[("np.maximum(v, 0) + a * np.minimum(v, 0)", "a * np.maximum(v, 0) + np.minimum(v, 0)")],
        fails=[check_prelu_forward], mistake="named"),
    bug("prelu", "forward_slope_per_row", "one slope per example (a as a column)", source='''
def prelu_forward(v, a):
    return np.maximum(v, 0) + a[:, None] * np.minimum(v, 0)


def prelu_backward(grad_out, v, a):
    dv = grad_out * np.where(v > 0, 1.0, a)
    da = np.sum(grad_out * np.minimum(v, 0), axis=0)
    return dv, da
''', fails=[check_prelu_forward], mistake="broadcast"),
    bug("prelu", "dv_without_slope", "dv = grad_out · 1[v > 0]", replace=[("np.where(v > 0, 1.0, a)",
                                                                          "np.where(v > 0, 1.0, 0.0)")],
        fails=[check_prelu_dv], mistake="named"),
    bug("prelu", "da_mean", "da averaged over the batch", replace=[("da = np.sum(", "da = np.mean(")],
        fails=[check_prelu_da], mistake="batch_factor"),
    bug("prelu", "da_whole_v", "da = Σ grad_out · v", replace=[("grad_out * np.minimum(v, 0)", "grad_out * v")],
        fails=[check_prelu_da], mistake="named"),
    bug("prelu", "da_no_grad_out", "da = Σ min(v, 0)", replace=[("grad_out * np.minimum(v, 0)", "np.minimum(v, 0)")],
        fails=[check_prelu_da], mistake="named"),
    bug("prelu", "da_wrong_axis", "da summed over the features: shape (n,)",
        replace=[("np.minimum(v, 0), axis=0)", "np.minimum(v, 0), axis=1)")], fails=[check_prelu_da],
        mistake="wrong_shape"),
    bug("prelu", "da_times_a", "da = Σ grad_out · a · 1[v < 0]",
        replace=[("grad_out * np.minimum(v, 0)", "grad_out * a * (v < 0)")], fails=[check_prelu_da], mistake="named"),
    bug("prelu", "da_shared", "one shared slope gradient, summed over everything",
        replace=[("da = np.sum(grad_out * np.minimum(v, 0), axis=0)",
                  "da = np.full(a.shape, np.sum(grad_out * np.minimum(v, 0)))")], fails=[check_prelu_da],
                  mistake="named"),
    variant("prelu", "loops", "loops over the columns; einsum for da", source='''
def prelu_forward(v, a):
    out = v.copy()
    for j in range(v.shape[1]):
        out[:, j] = np.where(v[:, j] > 0, v[:, j], a[j] * v[:, j])
    return out


def prelu_backward(grad_out, v, a):
    negative = v < 0
    dv = np.where(negative, grad_out * a, grad_out)
    da = np.einsum("nk,nk->k", grad_out, v * negative)
    return dv, da
'''),
]

ELU = [
    bug("elu", "forward_no_alpha", "eᵛ − 1 without alpha",
        replace=[("return np.where(v > 0, v, alpha * np.expm1(np.minimum(v, 0)))",
                  "return np.where(v > 0, v, np.expm1(np.minimum(v, 0)))")], fails=[check_elu_forward],
                  mistake="named"),
    bug("elu", "forward_no_minus_one", "α eᵛ without the − 1", replace=[("alpha * np.expm1(np.minimum(v, 0)))",
                                                                    "alpha * np.exp(np.minimum(v, 0)))")],
        fails=[check_elu_forward], mistake="named"),
    bug("elu", "backward_forward_value", "α(eᵛ − 1) as the negative-side derivative",
        replace=[("alpha * np.exp(np.minimum(v, 0)))", "alpha * np.expm1(np.minimum(v, 0)))")],
        fails=[check_elu_backward], mistake="named"),
    bug("elu", "backward_no_alpha", "eᵛ as the negative-side derivative",
        replace=[("np.where(v > 0, 1.0, alpha * np.exp(", "np.where(v > 0, 1.0, np.exp(")],
        fails=[check_elu_backward], mistake="named"),
    bug("elu", "backward_zero_negative", "derivative 0 on the negative side (ReLU's)",
        replace=[("np.where(v > 0, 1.0, alpha * np.exp(np.minimum(v, 0)))", "np.where(v > 0, 1.0, 0.0)")],
        fails=[check_elu_backward], mistake="other"),
    bug("elu", "backward_mask_only", "returns the derivative without grad_out",
        replace=[("return grad_out * np.where(v > 0, 1.0, alpha", "return np.where(v > 0, 1.0, alpha")],
        fails=[check_elu_backward], mistake="other"),
    variant("elu", "from_output", "derivative as y + α from the forward output", source='''
def elu_forward(v, alpha):
    out = v.copy()
    negative = v <= 0
    out[negative] = alpha * (np.exp(v[negative]) - 1)
    return out


def elu_backward(grad_out, v, alpha):
    y = elu_forward(v, alpha)
    return grad_out * np.where(v > 0, 1.0, y + alpha)
'''),
]

SELU = [
    bug("selu", "forward_no_lambda", "forgets λ in the forward pass",
        replace=[("return SELU_LAMBDA * np.where(v > 0, v,", "return np.where(v > 0, v,")],
        fails=[check_selu_forward], mistake="named"),
    bug("selu", "forward_lambda_negative_only", "λ on the negative side only",
        replace=[("return SELU_LAMBDA * np.where(v > 0, v, SELU_ALPHA",
                  "return np.where(v > 0, v, SELU_LAMBDA * SELU_ALPHA")], fails=[check_selu_forward], mistake="named"),
    bug("selu", "forward_constants_swapped", "λ and α swapped",
        replace=[("return SELU_LAMBDA * np.where(v > 0, v, SELU_ALPHA *",
                  "return SELU_ALPHA * np.where(v > 0, v, SELU_LAMBDA *")], fails=[check_selu_forward],
                  mistake="other"),
    bug("selu", "backward_no_lambda", "forgets λ in the backward pass",
        replace=[("return grad_out * SELU_LAMBDA * np.where", "return grad_out * np.where")],
        fails=[check_selu_backward], mistake="named"),
    bug("selu", "backward_lambda_negative_only", "λ on the negative side only", replace=[(
        "return grad_out * SELU_LAMBDA * np.where(v > 0, 1.0, SELU_ALPHA",
        "return grad_out * np.where(v > 0, 1.0, SELU_LAMBDA * SELU_ALPHA")], fails=[check_selu_backward],
        mistake="named"),
    bug("selu", "backward_expm1", "λα(eᵛ − 1) as the negative-side derivative",
        replace=[("SELU_ALPHA * np.exp(np.minimum(v, 0)))", "SELU_ALPHA * np.expm1(np.minimum(v, 0)))")],
        fails=[check_selu_backward], mistake="other"),
    variant("selu", "scaled_pieces", "separate positive and negative pieces", source='''
def selu_forward(v):
    negative = np.minimum(v, 0)
    return SELU_LAMBDA * np.maximum(v, 0) + SELU_LAMBDA * SELU_ALPHA * (np.exp(negative) - 1)


def selu_backward(grad_out, v):
    slope = np.where(v > 0, SELU_LAMBDA, SELU_LAMBDA * SELU_ALPHA * np.exp(np.minimum(v, 0)))
    return slope * grad_out
'''),
]

CRELU = [
    bug("crelu", "forward_min", "[max(v, 0), min(v, 0)]",
        replace=[("np.maximum(-v, 0)], axis=1)", "np.minimum(v, 0)], axis=1)")], fails=[check_crelu_forward],
        mistake="named"),
    bug("crelu", "forward_rows", "concatenated along the rows", replace=[("np.maximum(-v, 0)], axis=1)",
                                                                        "np.maximum(-v, 0)], axis=0)")],
        fails=[check_crelu_forward], mistake="wrong_shape"),
    bug("crelu", "forward_order", "[max(−v, 0), max(v, 0)]", replace=[(
        "np.concatenate([np.maximum(v, 0), np.maximum(-v, 0)], axis=1)",
        "np.concatenate([np.maximum(-v, 0), np.maximum(v, 0)], axis=1)")], fails=[check_crelu_forward],
        mistake="other"),
    bug("crelu", "backward_plus", "adds the second half instead of subtracting it",
        replace=[("0.0) - np.where(v < 0", "0.0) + np.where(v < 0")], fails=[check_crelu_backward], mistake="named"),
    bug("crelu", "backward_first_half", "uses the first half of grad_out only",
        replace=[("0.0) - np.where(v < 0, grad_out[:, k:], 0.0)", "0.0)")], fails=[check_crelu_backward],
        mistake="named"),
    bug("crelu", "backward_halves_swapped", "halves of grad_out swapped",
        replace=[("np.where(v > 0, grad_out[:, :k], 0.0) - np.where(v < 0, grad_out[:, k:], 0.0)",
                  "np.where(v > 0, grad_out[:, k:], 0.0) - np.where(v < 0, grad_out[:, :k], 0.0)")],
        fails=[check_crelu_backward], mistake="other"),
    variant("crelu", "split", "np.split and masks", source='''
def crelu_forward(v):
    return np.hstack((v * (v > 0), -v * (v < 0)))


def crelu_backward(grad_out, v):
    g_pos, g_neg = np.split(grad_out, 2, axis=1)
    return g_pos * (v > 0) - g_neg * (v < 0)
'''),
]

MAXOUT = [
    bug("maxout", "forward_strided", "groups every k-th column",
        replace=[("return v.reshape(n, -1, k).max(axis=2)", "return v.reshape(n, k, -1).max(axis=1)")],
        fails=[check_maxout_forward], mistake="named"),
    bug("maxout", "forward_mean", "the mean of each group", replace=[("v.reshape(n, -1, k).max(axis=2)",
                                                                     "v.reshape(n, -1, k).mean(axis=2)")],
        fails=[check_maxout_forward], mistake="other"),
    bug("maxout", "forward_over_all", "the maximum over all columns, repeated", source='''
def maxout_forward(v, k):
    return np.repeat(v.max(axis=1, keepdims=True), v.shape[1] // k, axis=1)


def maxout_backward(grad_out, v, k):
    n = v.shape[0]
    grouped = v.reshape(n, -1, k)
    winner = grouped == grouped.max(axis=2, keepdims=True)
    return (winner * grad_out[:, :, None]).reshape(v.shape)
''', fails=[check_maxout_forward], mistake="other"),
    bug("maxout", "backward_shared", "grad_out shared equally among the pieces",
        replace=[("return (winner * grad_out[:, :, None]).reshape(v.shape)",
                  "return np.repeat(grad_out / k, k, axis=1)")], fails=[check_maxout_backward], mistake="named"),
    bug("maxout", "backward_mask_only", "the winner mask without grad_out",
        replace=[("return (winner * grad_out[:, :, None]).reshape(v.shape)",
                  "return winner.reshape(v.shape).astype(float)")], fails=[check_maxout_backward], mistake="named"),
    bug("maxout", "backward_loser", "sends the gradient to the smallest piece",
        replace=[("grouped == grouped.max(axis=2, keepdims=True)", "grouped == grouped.min(axis=2, keepdims=True)")],
        fails=[check_maxout_backward], mistake="other"),
    bug("maxout", "backward_repeat_unmasked", "grad_out copied to every piece",
        replace=[("return (winner * grad_out[:, :, None]).reshape(v.shape)",
                  "return np.repeat(grad_out, k, axis=1)")], fails=[check_maxout_backward], mistake="other"),
    variant("maxout", "argmax_loops", "argmax and loops", source='''
def maxout_forward(v, k):
    n, width = v.shape
    out = np.empty((n, width // k))
    for j in range(width // k):
        out[:, j] = np.max(v[:, j * k:(j + 1) * k], axis=1)
    return out


def maxout_backward(grad_out, v, k):
    dv = np.zeros(v.shape)
    for i in range(v.shape[0]):
        for j in range(grad_out.shape[1]):
            dv[i, j * k + np.argmax(v[i, j * k:(j + 1) * k])] = grad_out[i, j]
    return dv
'''),
]

DEAD = [
    bug("dead_fraction", "zero_entries", "the fraction of zero entries", replace=[(
        "dead = np.all(V <= 0, axis=0)", "dead = V <= 0")], mistake="named"),
    bug("dead_fraction", "any_example", "units zero on at least one example",
        replace=[("np.all(V <= 0, axis=0)", "np.any(V <= 0, axis=0)")], mistake="named"),
    bug("dead_fraction", "count", "the number of dead units", replace=[("float(np.mean(dead))",
                                                                        "float(np.sum(dead))")], mistake="named"),
    bug("dead_fraction", "wrong_axis", "all over the units, per example", replace=[("np.all(V <= 0, axis=0)",
                                                                                   "np.all(V <= 0, axis=1)")],
                                                                                   mistake="named"),
    bug("dead_fraction", "alive_fraction", "the fraction of live units", replace=[("np.all(V <= 0, axis=0)",
                                                                                  "~np.all(V <= 0, axis=0)")],
                                                                                  mistake="constant_factor"),
    bug("dead_fraction", "no_bias", "forgets the bias", replace=[("V = X @ W.T + b", "V = X @ W.T")],
        mistake="constant_factor"),
    variant("dead_fraction", "max_activation", "the largest activation of each unit is 0", source='''
def dead_fraction(X, W, b):
    H = np.maximum(X @ W.T + b, 0)
    return np.count_nonzero(H.max(axis=0) == 0) / W.shape[0]
'''),
]

MUTANTS = LEAKY + PRELU + ELU + SELU + CRELU + MAXOUT + DEAD
