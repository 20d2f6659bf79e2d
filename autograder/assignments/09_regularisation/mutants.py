"""Mutants of assignment 09_regularisation (see ``autograder/mutation/__init__.py``)."""

from autograder.mutation import bug, variant

from .checks import (
    check_dropout_backward,
    check_dropout_eval,
    check_dropout_train,
    check_residual_dW1_db1,
    check_residual_dW2_db2,
    check_residual_dX,
    check_residual_forward,
)

TRAIN, EVAL, BACK = check_dropout_train, check_dropout_eval, check_dropout_backward
FWD, DX, D1, D2 = check_residual_forward, check_residual_dX, check_residual_dW1_db1, check_residual_dW2_db2

DROPOUT = [
    bug("dropout", "no_rescale", "training output not divided by 1 − p",
        replace=[("    return X * (u >= p) / (1 - p)", "    return X * (u >= p)")], fails=[TRAIN], mistake="named"),
    bug("dropout", "inverted_mask", "keeps units where u < p",
        replace=[("    return X * (u >= p) / (1 - p)", "    return X * (u < p) / (1 - p)")], fails=[TRAIN],
        mistake="named"),
    bug("dropout", "scale_by_p", "divides by p", replace=[("    return X * (u >= p) / (1 - p)",
                                                           "    return X * (u >= p) / p")], fails=[TRAIN],
                                                           mistake="named"),
    bug("dropout", "train_ignored", "drops units in evaluation mode too",
        replace=[("    if not train:\n        return X.copy()\n", "")], fails=[EVAL], mistake="named"),
    bug("dropout", "eval_scaled", "multiplies by 1 − p at test time",
        replace=[("        return X.copy()", "        return X * (1 - p)")], fails=[EVAL], mistake="named"),
    bug("dropout", "train_in_place", "zeroes X in place in training", source='''
def dropout_forward(X, p, train, u):
    if not train:
        return X.copy()
    X[u < p] = 0.0
    X /= 1 - p
    return X


def dropout_backward(grad_out, p, u):
    return grad_out * (u >= p) / (1 - p)
''', fails=[TRAIN], mistake="in_place"),
    bug("dropout", "backward_no_rescale", "backward without 1/(1 − p)",
        replace=[("    return grad_out * (u >= p) / (1 - p)", "    return grad_out * (u >= p)")], fails=[BACK],
        mistake="named"),
    bug("dropout", "backward_no_mask", "backward scales but does not mask",
        replace=[("    return grad_out * (u >= p) / (1 - p)", "    return grad_out / (1 - p)")], fails=[BACK],
        mistake="other"),
    bug("dropout", "backward_fresh_mask", "backward with the complementary mask",
        replace=[("    return grad_out * (u >= p) / (1 - p)", "    return grad_out * (u < p) / (1 - p)")],
        fails=[BACK], mistake="named"),
    bug("dropout", "backward_mask_only", "backward returns the scaled mask",
        replace=[("    return grad_out * (u >= p) / (1 - p)", "    return (u >= p) / (1 - p)")], fails=[BACK],
        mistake="other"),
    variant("dropout", "where_float32", "np.where and a scale factor; the backward in float32", source='''
def dropout_forward(X, p, train, u):
    if train:
        return np.where(u >= p, X / (1 - p), 0.0)
    return np.array(X)


def dropout_backward(grad_out, p, u):
    keep = (u >= p).astype(np.float32)
    return grad_out.astype(np.float32) * keep * np.float32(1 / (1 - p))
'''),
]

RESIDUAL = [
    bug("residual_block", "forward_no_skip", "forward without + X",
        replace=[("return X + np.maximum(X @ W1.T + b1, 0) @ W2.T + b2",
                  "return np.maximum(X @ W1.T + b1, 0) @ W2.T + b2")],
        fails=[FWD], mistake="named"),
    bug("residual_block", "forward_relu_after_sum", "ReLU applied after the second layer instead of between",
        replace=[("return X + np.maximum(X @ W1.T + b1, 0) @ W2.T + b2",
                  "return X + np.maximum((X @ W1.T + b1) @ W2.T + b2, 0)")], fails=[FWD], mistake="other"),
    bug("residual_block", "dX_no_skip", "dX without the skip path",
        replace=[("dX = grad_out + dA @ W1", "dX = dA @ W1")], fails=[DX], mistake="named"),
    bug("residual_block", "dX_skip_only", "dX = grad_out only", replace=[("dX = grad_out + dA @ W1", "dX = grad_out")],
        fails=[DX], mistake="named"),
    bug("residual_block", "no_relu_derivative", "leaves ReLU's derivative out",
        replace=[("dA = (grad_out @ W2) * (A > 0)", "dA = grad_out @ W2")], fails=[DX, D1], mistake="named"),
    bug("residual_block", "relu_mask_from_output", "mask from F's output grad_out instead of A",
        replace=[("dA = (grad_out @ W2) * (A > 0)", "dA = (grad_out @ W2) * (grad_out @ W2 > 0)")], fails=[DX, D1],
        mistake="other"),
    bug("residual_block", "dW1_transposed", "dW1 = Xᵀ dA", replace=[("dW1 = dA.T @ X", "dW1 = X.T @ dA")], fails=[D1],
        mistake="transposed"),
    bug("residual_block", "db1_mean", "db1 averaged", replace=[("db1 = dA.sum(axis=0)", "db1 = dA.mean(axis=0)")],
        fails=[D1], mistake="batch_factor"),
    bug("residual_block", "dW2_from_A", "dW2 from the pre-activation A instead of ReLU(A)",
        replace=[("dW2 = grad_out.T @ R", "dW2 = grad_out.T @ A")], fails=[D2], mistake="other"),
    bug("residual_block", "db2_wrong_axis", "db2 summed over the features",
        replace=[("db2 = grad_out.sum(axis=0)", "db2 = grad_out.sum(axis=1)")], fails=[D2], mistake="wrong_shape"),
    bug("residual_block", "dW2_transposed", "dW2 = Rᵀ grad_out", replace=[("dW2 = grad_out.T @ R",
                                                                           "dW2 = R.T @ grad_out")],
        fails=[D2], mistake="transposed"),
    variant("residual_block", "loops_einsum", "einsum and an explicit identity Jacobian", source='''
def residual_forward(X, W1, b1, W2, b2):
    A = np.einsum("nd,md->nm", X, W1) + b1
    return X + np.einsum("nm,dm->nd", np.where(A > 0, A, 0.0), W2) + b2


def residual_backward(grad_out, X, W1, b1, W2, b2):
    A = np.einsum("nd,md->nm", X, W1) + b1
    mask = (A > 0).astype(float)
    dA = np.einsum("nd,dm->nm", grad_out, W2) * mask
    dX = np.einsum("nd,de->ne", grad_out, np.eye(X.shape[1])) + np.einsum("nm,md->nd", dA, W1)
    return (dX, np.einsum("nm,nd->md", dA, X), dA.sum(0), np.einsum("nd,nm->dm", grad_out, A * mask),
            grad_out.sum(0))
'''),
    variant("residual_block", "float32", "the backward pass in float32",
            replace=[("    A = X @ W1.T + b1\n", "    X, W1, b1, W2, grad_out = (a.astype(np.float32) for a in "
                      "(X, W1, b1, W2, grad_out))\n    A = X @ W1.T + b1\n")]),
]

MUTANTS = DROPOUT + RESIDUAL
