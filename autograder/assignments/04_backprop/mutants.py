"""Mutants of assignment 04_backprop (see ``autograder/mutation/__init__.py``)."""

from autograder.mutation import bug, variant

from .checks import (
    check_dense_db,
    check_dense_dW,
    check_dense_dx,
    check_graph_backward,
    check_graph_forward,
    check_mlp_grad_hidden,
    check_mlp_grad_output,
    check_mlp_loss,
)

FORWARD, BACKWARD = check_graph_forward, check_graph_backward
DX, DW, DB = check_dense_dx, check_dense_dW, check_dense_db
LOSS, OUTPUT, HIDDEN = check_mlp_loss, check_mlp_grad_output, check_mlp_grad_hidden

GRAPH = [
    bug("graph_by_hand", "cube_as_triple", "a = 3w₁ instead of w₁³ (and b from it)",
        replace=[('"a": 8.0, "b": 24.0', '"a": 6.0, "b": 18.0')], fails=[FORWARD], mistake="other"),
    bug("graph_by_hand", "g_without_c", "g = b only", replace=[('"g": 30.0', '"g": 24.0')], fails=[FORWARD],
        mistake="other"),
    bug("graph_by_hand", "w1_one_path", "∂g/∂w₁ through a only (36)",
        replace=[('"w1": 3.0 * 3 * 2**2 + 1.0 * 3', '"w1": 3.0 * 3 * 2**2')], fails=[BACKWARD], mistake="other"),
    bug("graph_by_hand", "w1_other_path", "∂g/∂w₁ through c only (3)",
        replace=[('"w1": 3.0 * 3 * 2**2 + 1.0 * 3', '"w1": 1.0 * 3')], fails=[BACKWARD], mistake="other"),
    bug("graph_by_hand", "a_adjoint_w1", "∂g/∂a = w₁ instead of w₂", replace=[('"a": 3.0,', '"a": 2.0,')],
        fails=[BACKWARD], mistake="other"),
    bug("graph_by_hand", "w2_adjoint_w1", "∂g/∂w₂ = w₁ instead of a", replace=[('"w2": 8.0', '"w2": 2.0')],
        fails=[BACKWARD], mistake="other"),
    variant("graph_by_hand", "integers", "the same numbers as Python ints", source='''
GRAPH_VALUES = {"a": 8, "b": 24, "c": 6, "g": 30}
GRAPH_ADJOINTS = {"g": 1, "b": 1, "c": 1, "a": 3, "w2": 8, "w1": 39}
'''),
]

G_GRADIENT = [
    bug("g_gradient", "missing_c_path", "leaves out the path through c",
        replace=[("a_bar * 3 * w1**2 + c_bar * 3", "a_bar * 3 * w1**2")], mistake="named"),
    bug("g_gradient", "missing_a_path", "leaves out the path through a",
        replace=[("a_bar * 3 * w1**2 + c_bar * 3", "c_bar * 3")], mistake="named"),
    bug("g_gradient", "w2_bar_w1", "∂g/∂w₂ = w₁", replace=[("b_bar * w2, b_bar * a", "b_bar * w2, b_bar * w1")],
        mistake="wrong_rows"),
    bug("g_gradient", "power_rule", "d(w₁³)/dw₁ = 3w₁", replace=[("3 * w1**2", "3 * w1")], mistake="wrong_rows"),
    bug("g_gradient", "order_swapped", "returns (∂g/∂w₂, ∂g/∂w₁)", replace=[("return w1_bar, w2_bar",
                                                                          "return w2_bar, w1_bar")], mistake="other"),
    variant("g_gradient", "closed_form", "the formula (3w₁²w₂ + 3, w₁³)", source='''
def g_gradient(w1, w2):
    return 3 * w1**2 * w2 + 3, w1**3
'''),
    variant("g_gradient", "array", "returns a NumPy array", source='''
def g_gradient(w1, w2):
    return np.array([3 * w1**2 * w2 + 3, w1**3])
'''),
]

DENSE_FORWARD = [
    bug("dense_forward", "output_transposed", "W Xᵀ + b: shape (n_out, n)",
        replace=[("X @ W.T + b", "W @ X.T + b[:, None]")], mistake="transposed"),
    bug("dense_forward", "no_bias", "forgets b", replace=[("X @ W.T + b", "X @ W.T")], mistake="named"),
    bug("dense_forward", "bias_subtracted", "X Wᵀ − b", replace=[("X @ W.T + b", "X @ W.T - b")], mistake="named"),
    bug("dense_forward", "bias_as_column", "adds b as a column: a silent broadcast for a batch of one",
        replace=[("X @ W.T + b", "X @ W.T + b[:, None]")], mistake="broadcast"),
    bug("dense_forward", "W_not_transposed", "X W: a shape error", replace=[("X @ W.T + b", "X @ W + b")],
        mistake="crashed"),
    variant("dense_forward", "loops", "three nested loops", source='''
def dense_forward(X, W, b):
    V = np.zeros((X.shape[0], W.shape[0]))
    for i in range(X.shape[0]):
        for j in range(W.shape[0]):
            V[i, j] = b[j]
            for k in range(X.shape[1]):
                V[i, j] += X[i, k] * W[j, k]
    return V
'''),
    variant("dense_forward", "einsum", "np.einsum", replace=[("X @ W.T + b", 'np.einsum("nk,jk->nj", X, W) + b')]),
    variant("dense_forward", "float32", "computed in float32",
            replace=[("X @ W.T + b", "X.astype(np.float32) @ W.T.astype(np.float32) + b.astype(np.float32)")]),
]

DENSE_BACKWARD = [
    bug("dense_backward", "dW_transposed", "dW = Xᵀ grad_out, shape (n_in, n_out)",
        replace=[("grad_out.T @ X", "X.T @ grad_out")], fails=[DW], mistake="transposed"),
    bug("dense_backward", "dW_averaged", "dW divided by the batch size",
        replace=[("grad_out.T @ X", "grad_out.T @ X / X.shape[0]")], fails=[DW], mistake="batch_factor"),
    bug("dense_backward", "db_mean", "db averaged over the batch", replace=[("grad_out.sum(axis=0)",
                                                                           "grad_out.mean(axis=0)")], fails=[DB],
                                                                           mistake="batch_factor"),
    bug("dense_backward", "db_wrong_axis", "db summed over the outputs: shape (n,)",
        replace=[("grad_out.sum(axis=0)", "grad_out.sum(axis=1)")], fails=[DB], mistake="wrong_shape"),
    bug("dense_backward", "db_sum_all", "db summed over everything: one number",
        replace=[("grad_out.sum(axis=0)", "grad_out.sum()")], fails=[DB], mistake="wrong_shape"),
    bug("dense_backward", "dX_sign", "dX with the wrong sign", replace=[("dX = grad_out @ W", "dX = -grad_out @ W")],
        fails=[DX], mistake="sign_flipped"),
    bug("dense_backward", "dX_transposed", "dX = Wᵀ grad_outᵀ, shape (n_in, n)",
        replace=[("dX = grad_out @ W", "dX = W.T @ grad_out.T")], fails=[DX], mistake="transposed"),
    variant("dense_backward", "outer_products", "sums of outer products over the batch", source='''
def dense_backward(grad_out, X, W):
    dX = np.zeros(X.shape)
    dW = np.zeros(W.shape)
    db = np.zeros(W.shape[0])
    for i in range(X.shape[0]):
        dX[i] = W.T @ grad_out[i]
        dW += np.outer(grad_out[i], X[i])
        db += grad_out[i]
    return dX, dW, db
'''),
    variant("dense_backward", "einsum_float32", "np.einsum in float32", source='''
def dense_backward(grad_out, X, W):
    G, X32, W32 = grad_out.astype(np.float32), X.astype(np.float32), W.astype(np.float32)
    return np.einsum("nj,jk->nk", G, W32), np.einsum("nj,nk->jk", G, X32), np.einsum("nj->j", G)
'''),
]

SIGMOID = [
    bug("sigmoid_backward", "missing_derivative", "returns grad_out", replace=[("return grad_out * s * (1 - s)",
                                                                               "return grad_out")],
                                                                               mistake="missing_derivative"),
    bug("sigmoid_backward", "derivative_at_output", "σ'(σ(v))",
        replace=[("s = sigmoid(v)", "s = sigmoid(sigmoid(v))")], mistake="output_derivative"),
    bug("sigmoid_backward", "v_as_output", "v(1 − v): treats v as the output", replace=[("s = sigmoid(v)", "s = v")],
        mistake="named"),
    bug("sigmoid_backward", "plus_sign", "σ(1 + σ)", replace=[("s * (1 - s)", "s * (1 + s)")], mistake="named"),
    bug("sigmoid_backward", "in_place", "multiplies grad_out in place", source='''
def sigmoid_backward(grad_out, v):
    s = sigmoid(v)
    grad_out *= s * (1 - s)
    return grad_out
''', mistake="in_place"),
    variant("sigmoid_backward", "exp_formula", "e^(−v) / (1 + e^(−v))²", source='''
def sigmoid_backward(grad_out, v):
    e = np.exp(-v)
    return grad_out * e / (1 + e) ** 2
'''),
    variant("sigmoid_backward", "float32", "in float32",
            replace=[("s = sigmoid(v)", "s = sigmoid(v.astype(np.float32))")]),
]

TANH = [
    bug("tanh_backward", "missing_derivative", "returns grad_out", replace=[("grad_out * (1 - np.tanh(v) ** 2)",
                                                                            "grad_out")], mistake="missing_derivative"),
    bug("tanh_backward", "derivative_at_output", "1 − tanh²(tanh v)",
        replace=[("np.tanh(v)", "np.tanh(np.tanh(v))")], mistake="output_derivative"),
    bug("tanh_backward", "v_as_output", "1 − v²", replace=[("np.tanh(v) ** 2", "v**2")], mistake="named"),
    bug("tanh_backward", "no_square", "1 − tanh v", replace=[("np.tanh(v) ** 2", "np.tanh(v)")], mistake="named"),
    bug("tanh_backward", "in_place", "multiplies grad_out in place", source='''
def tanh_backward(grad_out, v):
    grad_out *= 1 - np.tanh(v) ** 2
    return grad_out
''', mistake="in_place"),
    variant("tanh_backward", "sech", "1 / cosh²(v)", replace=[("(1 - np.tanh(v) ** 2)", "(1 / np.cosh(v) ** 2)")]),
]

RELU = [
    bug("relu_backward", "missing_derivative", "returns grad_out", replace=[("np.where(v > 0, grad_out, 0.0)",
                                                                            "grad_out")], mistake="missing_derivative"),
    bug("relu_backward", "mask_from_grad_out", "masks where grad_out > 0",
        replace=[("np.where(v > 0,", "np.where(grad_out > 0,")], mistake="named"),
    bug("relu_backward", "mask_only", "returns the 0/1 mask", replace=[("np.where(v > 0, grad_out, 0.0)",
                                                                      "(v > 0).astype(float)")], mistake="named"),
    bug("relu_backward", "inverted_mask", "passes the gradient where v < 0",
        replace=[("np.where(v > 0,", "np.where(v < 0,")], mistake="named"),
    bug("relu_backward", "in_place", "zeroes grad_out in place", source='''
def relu_backward(grad_out, v):
    grad_out[v <= 0] = 0.0
    return grad_out
''', mistake="in_place"),
    variant("relu_backward", "product", "grad_out * (v > 0)", replace=[("np.where(v > 0, grad_out, 0.0)",
                                                                       "grad_out * (v > 0)")]),
    variant("relu_backward", "heaviside", "np.heaviside(v, 0) * grad_out",
            replace=[("np.where(v > 0, grad_out, 0.0)", "np.heaviside(v, 0.0) * grad_out")]),
]

MLP = [
    bug("mlp_loss_and_grads", "no_tanh_derivative", "skips tanh_backward", replace=[
        ("            grad = tanh_backward(grad, pre_activations[j])\n", "            pass\n")], fails=[HIDDEN],
        mistake="missing_derivative"),
    bug("mlp_loss_and_grads", "derivative_at_output", "tanh_backward at the layer's output tanh(v)",
        replace=[("tanh_backward(grad, pre_activations[j])", "tanh_backward(grad, inputs[j + 1])")], fails=[HIDDEN],
        mistake="output_derivative"),
    bug("mlp_loss_and_grads", "sum_not_mean", "sums over the batch in the loss and its gradient",
        replace=[("np.sum((h - y) ** 2) / X.shape[0]", "np.sum((h - y) ** 2)"),
                 ("grad = (h - y) / X.shape[0]", "grad = h - y")], mistake="batch_factor"),
    bug("mlp_loss_and_grads", "loss_without_half", "the loss without its ½", replace=[(
        "loss = 0.5 * np.sum", "loss = np.sum")], fails=[LOSS], mistake="constant_factor"),
    bug("mlp_loss_and_grads", "grads_reversed", "the gradients listed last layer first",
        replace=[("return loss, grads", "return loss, grads[::-1]")], fails=[OUTPUT, HIDDEN], mistake="wrong_shape"),
    bug("mlp_loss_and_grads", "tanh_on_output", "applies tanh to the output layer too",
        replace=[("h = np.tanh(v) if j < len(params) - 1 else v", "h = np.tanh(v)")], mistake="constant_factor"),
    bug("mlp_loss_and_grads", "stops_before_first_layer", "leaves the first layer's gradients at zero",
        replace=[("for j in reversed(range(len(params))):", "grads[0] = (np.zeros_like(params[0][0]), "
                  "np.zeros_like(params[0][1]))\n    for j in reversed(range(1, len(params))):")], fails=[HIDDEN],
                  mistake="other"),
    variant("mlp_loss_and_grads", "inline_from_outputs", "inline matrix algebra, tanh' from the output as 1 − h²",
            source='''
def mlp_loss_and_grads(X, y, params):
    hs = [X]
    for j, (W, b) in enumerate(params):
        v = hs[-1] @ W.T + b
        hs.append(np.tanh(v) if j < len(params) - 1 else v)
    n = X.shape[0]
    loss = np.mean(0.5 * np.sum((hs[-1] - y) ** 2, axis=1))
    delta = (hs[-1] - y) / n
    grads = []
    for j in range(len(params) - 1, -1, -1):
        grads.append((delta.T @ hs[j], delta.sum(axis=0)))
        if j > 0:
            delta = (delta @ params[j][0]) * (1 - hs[j] ** 2)
    return loss, grads[::-1]
'''),
    variant("mlp_loss_and_grads", "float32", "the whole network in float32",
            replace=[("    h = X\n", "    h = X.astype(np.float32)\n    params = [(W.astype(np.float32), "
                      "b.astype(np.float32)) for W, b in params]\n")]),
]

NUMGRAD = [
    bug("numerical_gradient", "forward_difference", "(f(x + h) − f(x)) / h",
        replace=[("(f(x + step) - f(x - step)) / (2 * h)", "(f(x + step) - f(x)) / h")], mistake="named"),
    bug("numerical_gradient", "divides_by_h", "(f(x + h) − f(x − h)) / h", replace=[("/ (2 * h)", "/ h")],
        mistake="constant_factor"),
    bug("numerical_gradient", "all_at_once", "perturbs every entry at once",
        replace=[("step = np.zeros(x.shape)\n        step[index] = h", "step = np.full(x.shape, h)")], mistake="named"),
    bug("numerical_gradient", "in_place_not_restored", "perturbs x in place and never restores it", source='''
def numerical_gradient(f, x, h):
    grad = np.zeros(x.shape)
    for index in np.ndindex(x.shape):
        x[index] += h
        f_plus = f(x)
        x[index] -= 2 * h
        f_minus = f(x)
        grad[index] = (f_plus - f_minus) / (2 * h)
    return grad
''', mistake="in_place"),
    bug("numerical_gradient", "flattened", "returns the gradient flattened",
        replace=[("return grad", "return grad.ravel()")], mistake="wrong_shape"),
    bug("numerical_gradient", "first_axis_only", "loops over the first axis only", source='''
def numerical_gradient(f, x, h):
    grad = np.zeros(len(x))
    for i in range(len(x)):
        step = np.zeros(x.shape)
        step[i] = h
        grad[i] = (f(x + step) - f(x - step)) / (2 * h)
    return grad
''', mistake="wrong_shape"),
    variant("numerical_gradient", "in_place_restored", "perturbs a copy in place, restoring each entry exactly",
            source='''
def numerical_gradient(f, x, h):
    work = x.copy()
    grad = np.empty_like(work)
    for index in np.ndindex(work.shape):
        saved = work[index]
        work[index] = saved + h
        f_plus = f(work)
        work[index] = saved - h
        f_minus = f(work)
        work[index] = saved
        grad[index] = (f_plus - f_minus) / (2 * h)
    return grad
'''),
    variant("numerical_gradient", "flat_basis", "steps along the rows of an identity matrix, then reshapes", source='''
def numerical_gradient(f, x, h):
    flat = x.reshape(-1)
    values = [(f((flat + h * e).reshape(x.shape)) - f((flat - h * e).reshape(x.shape))) / (2 * h)
              for e in np.eye(flat.size)]
    return np.array(values).reshape(x.shape)
'''),
]

MUTANTS = GRAPH + G_GRADIENT + DENSE_FORWARD + DENSE_BACKWARD + SIGMOID + TANH + RELU + MLP + NUMGRAD
