"""Mutants of assignment 05_vanishing (see ``autograder/mutation/__init__.py``)."""

from autograder.mutation import bug, variant

NORMS = [
    bug("layer_gradient_norms", "no_sigmoid_derivative", "leaves σ'(v) out of the backward pass",
        replace=[("delta = (delta @ params[j][0]) * s * (1 - s)", "delta = delta @ params[j][0]")],
        mistake="missing_derivative"),
    bug("layer_gradient_norms", "derivative_at_output", "σ' taken at the output σ(v) instead of at v",
        replace=[("s = sigmoid(pre_activations[j - 1])", "s = sigmoid(inputs[j])")], mistake="output_derivative"),
    bug("layer_gradient_norms", "last_layer_first", "returns the norms last layer first",
        replace=[("return norms", "return norms[::-1]")], mistake="named"),
    bug("layer_gradient_norms", "squared_norms", "returns ‖dW‖² instead of ‖dW‖",
        replace=[("norms[j] = np.linalg.norm(delta.T @ inputs[j])",
                  "norms[j] = np.sum((delta.T @ inputs[j]) ** 2)")], mistake="named"),
    bug("layer_gradient_norms", "weight_norms", "the norms of W instead of dW",
        replace=[("norms[j] = np.linalg.norm(delta.T @ inputs[j])", "norms[j] = np.linalg.norm(params[j][0])")],
        mistake="named"),
    bug("layer_gradient_norms", "summed_loss", "the loss summed over the batch, not averaged",
        replace=[("delta = (h - y) / X.shape[0]", "delta = h - y")], mistake="batch_factor"),
    bug("layer_gradient_norms", "sigmoid_on_output", "a sigmoid on the output layer too",
        replace=[("h = sigmoid(v) if j < len(params) - 1 else v", "h = sigmoid(v)")], mistake="other"),
    variant("layer_gradient_norms", "from_outputs", "σ' = h(1 − h) from the stored outputs; norms by sqrt of sums",
            source='''
def layer_gradient_norms(X, y, params):
    hs = [X]
    for j, (W, b) in enumerate(params):
        v = hs[-1] @ W.T + b
        hs.append(sigmoid(v) if j < len(params) - 1 else v)
    delta = (hs[-1] - y) / len(X)
    out = []
    for j in range(len(params) - 1, -1, -1):
        out.append(np.sqrt(np.sum((delta.T @ hs[j]) ** 2)))
        delta = (delta @ params[j][0]) * hs[j] * (1 - hs[j])
    return np.array(out[::-1])
'''),
    variant("layer_gradient_norms", "float32", "the whole network in float32",
            replace=[("    h = X\n", "    h = X.astype(np.float32)\n    params = [(W.astype(np.float32), "
                      "b.astype(np.float32)) for W, b in params]\n")]),
]

CLIP_NORM = [
    bug("clip_by_norm", "each_own_norm", "clips each gradient by its own norm", source='''
def clip_by_norm(grads, max_norm):
    return [g * min(1.0, max_norm / np.linalg.norm(g)) for g in grads]
''', mistake="named"),
    bug("clip_by_norm", "always_rescale", "rescales to max_norm even below the threshold",
        replace=[("scale = max_norm / total if total > max_norm else 1.0", "scale = max_norm / total")],
        mistake="named"),
    bug("clip_by_norm", "inverted_scale", "scales by norm / max_norm",
        replace=[("scale = max_norm / total if", "scale = total / max_norm if")], mistake="named"),
    bug("clip_by_norm", "sum_of_norms", "the sum of the norms instead of the global norm",
        replace=[("total = np.sqrt(sum(np.sum(g**2) for g in grads))",
                  "total = sum(np.linalg.norm(g) for g in grads)")], mistake="constant_factor"),
    bug("clip_by_norm", "squared_norm", "compares the squared norm with max_norm",
        replace=[("total = np.sqrt(sum(np.sum(g**2) for g in grads))", "total = sum(np.sum(g**2) for g in grads)")],
        mistake="constant_factor"),
    bug("clip_by_norm", "in_place", "rescales the gradients in place", source='''
def clip_by_norm(grads, max_norm):
    total = np.sqrt(sum(np.sum(g**2) for g in grads))
    if total > max_norm:
        for g in grads:
            g *= max_norm / total
    return grads
''', mistake="in_place"),
    variant("clip_by_norm", "concatenate", "the global norm of one concatenated vector, np.minimum for the scale",
            source='''
def clip_by_norm(grads, max_norm):
    norm = np.linalg.norm(np.concatenate([g.ravel() for g in grads]))
    return [g * np.minimum(1.0, max_norm / norm) for g in grads]
'''),
    variant("clip_by_norm", "float32", "in float32", source='''
def clip_by_norm(grads, max_norm):
    grads = [g.astype(np.float32) for g in grads]
    total = np.sqrt(sum(float(np.vdot(g, g)) for g in grads))
    return [g * np.float32(max_norm / total) if total > max_norm else g for g in grads]
'''),
]

CLIP_VALUE = [
    bug("clip_by_value", "upper_only", "clamps to c from above only",
        replace=[("np.clip(g, -clip_value, clip_value)", "np.minimum(g, clip_value)")], mistake="named"),
    bug("clip_by_value", "loses_sign", "clamps |g| to [0, c]",
        replace=[("np.clip(g, -clip_value, clip_value)", "np.clip(np.abs(g), 0, clip_value)")], mistake="named"),
    bug("clip_by_value", "by_norm", "rescales each gradient by its norm instead",
        replace=[("np.clip(g, -clip_value, clip_value)", "g * min(1.0, clip_value / np.linalg.norm(g))")],
        mistake="named"),
    bug("clip_by_value", "zeroes_large", "sets entries beyond c to zero",
        replace=[("np.clip(g, -clip_value, clip_value)", "np.where(np.abs(g) > clip_value, 0.0, g)")], mistake="other"),
    bug("clip_by_value", "in_place", "clamps in place", source='''
def clip_by_value(grads, clip_value):
    for g in grads:
        np.clip(g, -clip_value, clip_value, out=g)
    return grads
''', mistake="in_place"),
    variant("clip_by_value", "where", "two np.where", source='''
def clip_by_value(grads, clip_value):
    out = []
    for g in grads:
        g = np.where(g > clip_value, clip_value, g)
        out.append(np.where(g < -clip_value, -clip_value, g))
    return out
'''),
    variant("clip_by_value", "sign_min", "sign(g) · min(|g|, c)",
            replace=[("np.clip(g, -clip_value, clip_value)", "np.sign(g) * np.minimum(np.abs(g), clip_value)")]),
]

PROJECT = [
    bug("project_spectral", "rescale_whole", "rescales W by max_norm / ‖W‖₂", source='''
def project_spectral(W, max_norm):
    top = np.linalg.svd(W, compute_uv=False)[0]
    return W * min(1.0, max_norm / top)
''', mistake="named"),
    bug("project_spectral", "frobenius", "rescales onto the Frobenius ball", source='''
def project_spectral(W, max_norm):
    return W * min(1.0, max_norm / np.linalg.norm(W))
''', mistake="named"),
    bug("project_spectral", "all_to_c", "sets every singular value to max_norm",
        replace=[("np.minimum(s, max_norm)", "np.full_like(s, max_norm)")], mistake="named"),
    bug("project_spectral", "entries", "clips the entries instead of the singular values", source='''
def project_spectral(W, max_norm):
    return np.clip(W, -max_norm, max_norm)
''', mistake="named"),
    bug("project_spectral", "maximum", "np.maximum: raises the small singular values to max_norm",
        replace=[("np.minimum(s, max_norm)", "np.maximum(s, max_norm)")], mistake="other"),
    bug("project_spectral", "V_not_transposed", "uses V where Vᵀ is returned already",
        replace=[("@ Vt", "@ Vt.T[: Vt.shape[0]]")], mistake="other"),
    variant("project_spectral", "broadcast", "U * clipped s, no diag; full_matrices=True with slicing", source='''
def project_spectral(W, max_norm):
    U, s, Vt = np.linalg.svd(W)
    k = len(s)
    return (U[:, :k] * np.clip(s, None, max_norm)) @ Vt[:k]
'''),
    variant("project_spectral", "subtract", "W minus the excess of each singular direction", source='''
def project_spectral(W, max_norm):
    U, s, Vt = np.linalg.svd(W, full_matrices=False)
    excess = np.maximum(s - max_norm, 0.0)
    return W - (U * excess) @ Vt
'''),
]

MUTANTS = NORMS + CLIP_NORM + CLIP_VALUE + PROJECT
