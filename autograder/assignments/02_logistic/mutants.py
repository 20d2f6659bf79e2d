"""Mutants of assignment 02_logistic (see ``autograder/mutation/__init__.py``)."""

from autograder.mutation import bug, variant

from .checks import (
    check_lda_b,
    check_lda_covariance,
    check_lda_means,
    check_lda_w,
    check_nll01_db,
    check_nll01_dw,
    check_nll01_loss,
    check_pm1_db,
    check_pm1_dw,
    check_pm1_loss,
)

MEANS, COV, W, B = check_lda_means, check_lda_covariance, check_lda_w, check_lda_b

LDA = [
    bug("lda_fit", "means_swapped", "returns the class means in the wrong order (inconsistent with its w and b)",
        replace=[("np.stack([mu0, mu1])", "np.stack([mu1, mu0])")], fails=[MEANS, W, B], mistake="named"),
    bug("lda_fit", "means_transposed", "means with one column per class, shape (d, 2)",
        replace=[("np.stack([mu0, mu1])", "np.stack([mu0, mu1], axis=1)")], fails=[MEANS], mistake="transposed"),
    bug("lda_fit", "cov_divided_by_n", "pooled covariance divided by n instead of n − 2",
        replace=[("scatter / (X.shape[0] - 2)", "scatter / X.shape[0]")], fails=[COV], mistake="named"),
    bug("lda_fit", "cov_global_mean", "centres every example on the overall mean",
        replace=[("scatter = (X0 - mu0).T @ (X0 - mu0) + (X1 - mu1).T @ (X1 - mu1)",
                  "centred = X - X.mean(axis=0)\n    scatter = centred.T @ centred")], fails=[COV], mistake="named"),
    bug("lda_fit", "cov_plain_average", "averages the two class covariances instead of pooling them",
        replace=[("covariance = scatter / (X.shape[0] - 2)", "covariance = (np.cov(X0.T) + np.cov(X1.T)) / 2")],
        fails=[COV], mistake="named"),
    bug("lda_fit", "w_without_inverse", "w = Σ(μ₁ − μ₀)",
        replace=[("w = np.linalg.solve(covariance, mu1 - mu0)", "w = covariance @ (mu1 - mu0)")], fails=[W],
        mistake="named"),
    bug("lda_fit", "w_sign_flipped", "w = Σ⁻¹(μ₀ − μ₁)",
        replace=[("np.linalg.solve(covariance, mu1 - mu0)", "np.linalg.solve(covariance, mu0 - mu1)")], fails=[W],
        mistake="sign_flipped"),
    bug("lda_fit", "b_without_prior", "leaves out log(π₁/π₀)",
        replace=[("+ np.log(prior1 / (1 - prior1))", "+ 0.0")], fails=[B], mistake="named"),
    bug("lda_fit", "b_prior_inverted", "log(π₀/π₁) instead of log(π₁/π₀)",
        replace=[("np.log(prior1 / (1 - prior1))", "np.log((1 - prior1) / prior1)")], fails=[B], mistake="named"),
    bug("lda_fit", "b_quadratic_signs", "the quadratic terms of b with the wrong signs",
        replace=[("b = (-0.5 * mu1 @", "b = (0.5 * mu1 @"), ("+ 0.5 * mu0 @", "- 0.5 * mu0 @")], fails=[B],
        mistake="named"),
    variant("lda_fit", "loops_and_inverse", "scatter summed example by example, Σ⁻¹ by np.linalg.inv, "
            "b = −½(μ₁ + μ₀)·w + log(n₁/n₀)", source='''
def lda_fit(X, y):
    d = X.shape[1]
    means = np.zeros((2, d))
    counts = np.zeros(2)
    for x, label in zip(X, y):
        means[int(label)] += x
        counts[int(label)] += 1
    means /= counts[:, None]
    scatter = np.zeros((d, d))
    for x, label in zip(X, y):
        scatter += np.outer(x - means[int(label)], x - means[int(label)])
    covariance = scatter / (len(y) - 2)
    w = np.linalg.inv(covariance) @ (means[1] - means[0])
    b = -0.5 * (means[1] + means[0]) @ w + np.log(counts[1] / counts[0])
    return {"means": means, "covariance": covariance, "w": w, "b": float(b)}
'''),
]

NLL01 = [
    bug("logistic_nll_01", "naive_loss", "log σ(u) and log(1 − σ(u)) with 1/(1 + exp(−u)): log(0) at large logits",
        replace=[("loss = np.mean(np.logaddexp(0.0, u) - y * u)",
                  "p = 1 / (1 + np.exp(-u))\n    loss = np.mean(-y * np.log(p) - (1 - y) * np.log(1 - p))")],
        fails=[check_nll01_loss], mistake="not_finite"),
    bug("logistic_nll_01", "sum_not_mean", "sums over the batch instead of averaging",
        replace=[("np.mean(np.logaddexp(0.0, u) - y * u)", "np.sum(np.logaddexp(0.0, u) - y * u)"),
                 ("(sigmoid(u) - y) / X.shape[0]", "(sigmoid(u) - y)")], mistake="batch_factor"),
    bug("logistic_nll_01", "dw_sign_flipped", "dw with the wrong sign",
        replace=[("return loss, residual @ X, residual.sum()", "return loss, -(residual @ X), residual.sum()")],
        fails=[check_nll01_dw], mistake="named"),
    bug("logistic_nll_01", "residual_swapped", "y − σ(u) instead of σ(u) − y in both gradients",
        replace=[("(sigmoid(u) - y)", "(y - sigmoid(u))")], fails=[check_nll01_dw, check_nll01_db], mistake="named"),
    bug("logistic_nll_01", "db_zero", "forgets the bias gradient",
        replace=[("residual @ X, residual.sum()", "residual @ X, 0.0")], fails=[check_nll01_db], mistake="other"),
    bug("logistic_nll_01", "dw_without_x", "dw = mean(σ(u) − y) in every entry (forgot xᵢ)",
        replace=[("residual @ X, residual.sum()", "residual.sum() * np.ones(X.shape[1]), residual.sum()")],
        fails=[check_nll01_dw], mistake="other"),
    bug("logistic_nll_01", "matmul_transposed", "X @ residual: a shape error, so every part fails",
        replace=[("residual @ X,", "X @ residual,")], mistake="crashed"),
    variant("logistic_nll_01", "piecewise_stable", "max(u, 0) + log1p(exp(−|u|)) and a loop for the gradient",
            source='''
def logistic_nll_01(w, b, X, y):
    n = X.shape[0]
    u = X @ w + b
    loss = np.mean(np.maximum(u, 0) + np.log1p(np.exp(-np.abs(u))) - y * u)
    dw = np.zeros_like(w)
    db = 0.0
    for i in range(n):
        p = 1 / (1 + np.exp(-u[i])) if u[i] >= 0 else np.exp(u[i]) / (1 + np.exp(u[i]))
        dw += (p - y[i]) * X[i] / n
        db += (p - y[i]) / n
    return loss, dw, db
'''),
    variant("logistic_nll_01", "float32", "the same formulas in float32",
            replace=[("u = X @ w + b", "u = X.astype(np.float32) @ w.astype(np.float32) + np.float32(b)"),
                     ("residual @ X, residual.sum()", "residual @ X.astype(np.float32), residual.sum()")]),
]

PM1 = [
    bug("logistic_nll_pm1", "naive_loss", "log(1 + exp(−y·u)): overflows at large logits",
        replace=[("np.mean(np.logaddexp(0.0, -y * u))", "np.mean(np.log(1 + np.exp(-y * u)))")],
        fails=[check_pm1_loss], mistake="not_finite"),
    bug("logistic_nll_pm1", "sigma_sign", "σ(y·u) instead of σ(−y·u) in the gradient",
        replace=[("sigmoid(-y * u)", "sigmoid(y * u)")], fails=[check_pm1_dw, check_pm1_db], mistake="named"),
    bug("logistic_nll_pm1", "formula_01", "the {0, 1} gradient σ(u) − y used with ±1 labels",
        replace=[("-y * sigmoid(-y * u) / X.shape[0]", "(sigmoid(u) - y) / X.shape[0]")],
        fails=[check_pm1_dw, check_pm1_db], mistake="named"),
    bug("logistic_nll_pm1", "missing_y", "forgets the factor −y of the chain rule",
        replace=[("-y * sigmoid(-y * u) / X.shape[0]", "sigmoid(-y * u) / X.shape[0]")],
        fails=[check_pm1_dw, check_pm1_db], mistake="sign_flipped"),
    bug("logistic_nll_pm1", "loss_sum", "sums the loss over the batch",
        replace=[("np.mean(np.logaddexp(0.0, -y * u))", "np.sum(np.logaddexp(0.0, -y * u))")],
        fails=[check_pm1_loss], mistake="batch_factor"),
    bug("logistic_nll_pm1", "db_is_mean_of_dw", "db = mean of dw",
        replace=[("residual @ X, residual.sum()", "residual @ X, np.mean(residual @ X)")], fails=[check_pm1_db],
        mistake="constant_factor"),
    variant("logistic_nll_pm1", "via_01_labels", "maps y to t = (y + 1)/2 and uses the {0, 1} formulas", source='''
def logistic_nll_pm1(w, b, X, y):
    t = (y + 1) / 2
    u = X @ w + b
    loss = np.mean(np.logaddexp(0.0, u) - t * u)
    residual = (sigmoid(u) - t) / len(y)
    return loss, X.T @ residual, np.sum(residual)
'''),
    variant("logistic_nll_pm1", "softplus_by_hand", "softplus(−m) = max(−m, 0) + log1p(exp(−|m|)) with m = y·u",
            source='''
def logistic_nll_pm1(w, b, X, y):
    m = y * (X @ w + b)
    loss = np.mean(np.maximum(-m, 0.0) + np.log1p(np.exp(-np.abs(m))))
    g = -y * np.where(m >= 0, np.exp(-np.abs(m)) / (1 + np.exp(-np.abs(m))), 1 / (1 + np.exp(-np.abs(m))))
    return loss, np.einsum("i,ij->j", g, X) / len(y), g.mean()
'''),
]

FIT = [
    bug("fit_logistic", "loss_after_step", "records the loss after each step",
        source='''
def fit_logistic(X, y, grad_fn, lr, epochs):
    w, b, losses = np.zeros(X.shape[1]), 0.0, []
    for _ in range(epochs):
        _, dw, db = grad_fn(w, b, X, y)
        w, b = w - lr * dw, b - lr * db
        losses.append(grad_fn(w, b, X, y)[0])
    return w, b, np.array(losses)
''', mistake="named"),
    bug("fit_logistic", "starts_from_ones", "starts from w = 1, b = 1",
        replace=[("np.zeros(X.shape[1]), 0.0, []", "np.ones(X.shape[1]), 1.0, []")], mistake="named"),
    bug("fit_logistic", "ignores_lr", "steps with learning rate 1",
        replace=[("w - lr * dw, b - lr * db", "w - dw, b - db")], mistake="named"),
    bug("fit_logistic", "ascent", "climbs the loss: θ + lr·∇L", replace=[("w - lr * dw, b - lr * db",
                                                                          "w + lr * dw, b + lr * db")],
                                                                          mistake="sign_flipped"),
    bug("fit_logistic", "one_step_short", "epochs − 1 steps", replace=[("range(epochs)", "range(epochs - 1)")],
        mistake="named"),
    bug("fit_logistic", "stale_bias_gradient", "updates w, then takes db at the new w", source='''
def fit_logistic(X, y, grad_fn, lr, epochs):
    w, b, losses = np.zeros(X.shape[1]), 0.0, []
    for _ in range(epochs):
        loss, dw, _ = grad_fn(w, b, X, y)
        w = w - lr * dw
        _, _, db = grad_fn(w, b, X, y)
        b = b - lr * db
        losses.append(loss)
    return w, b, np.array(losses)
''', mistake="other"),
    bug("fit_logistic", "ignores_grad_fn", "descends its own log-likelihood, not the grad_fn it is given",
        source='''
def fit_logistic(X, y, grad_fn, lr, epochs):
    w, b, losses = np.zeros(X.shape[1]), 0.0, []
    for _ in range(epochs):
        loss, dw, db = logistic_nll_01(w, b, X, y)
        w, b = w - lr * dw, b - lr * db
        losses.append(loss)
    return w, b, np.array(losses)
''', mistake="named"),
    variant("fit_logistic", "in_place_on_own_copy", "updates its own arrays in place, returns a list of losses",
            source='''
def fit_logistic(X, y, grad_fn, lr, epochs):
    w = np.zeros(X.shape[1])
    b = 0.0
    losses = []
    step = 0
    while step < epochs:
        loss, dw, db = grad_fn(w, b, X, y)
        losses.append(float(loss))
        w -= lr * dw
        b -= lr * db
        step += 1
    return w, b, losses
'''),
]

ACCURACY = [
    bug("accuracy", "count", "returns the number correct, not the fraction", replace=[("np.mean(", "np.sum(")],
        mistake="named"),
    bug("accuracy", "sigmoid_at_zero", "thresholds σ(u) at 0, so everything is class 1",
        replace=[("(X @ w + b >= 0)", "(sigmoid(X @ w + b) >= 0)")], mistake="named"),
    bug("accuracy", "logit_at_half", "thresholds the logit at 0.5", replace=[("b >= 0)", "b >= 0.5)")],
        mistake="named"),
    bug("accuracy", "error_rate", "the fraction of mistakes", replace=[("== y)", "!= y)")], mistake="named"),
    bug("accuracy", "plus_minus_one", "predictions as ±1 compared with 0/1 labels",
        replace=[("np.mean((X @ w + b >= 0) == y)", "np.mean(np.where(X @ w + b >= 0, 1, -1) == y)")], mistake="named"),
    variant("accuracy", "loop", "counts correct predictions in a loop", source='''
def accuracy(w, b, X, y):
    correct = 0
    for x, label in zip(X, y):
        prediction = 1.0 if x @ w + b >= 0 else 0.0
        correct += prediction == label
    return correct / len(y)
'''),
    variant("accuracy", "one_minus_error", "1 − mean |ŷ − y|",
            replace=[("np.mean((X @ w + b >= 0) == y)", "1.0 - np.mean(np.abs((X @ w + b >= 0).astype(float) - y))")]),
]

COMPARISON = [
    bug("comparison", "lda", "says LDA", replace=[('= "logistic"', '= "lda"')], mistake="other",
        unseen="a choice between two answers: a visible test that refused one would give the other away"),
    bug("comparison", "not_a_method", "an answer that names neither method", replace=[('= "logistic"', '= "both"')],
        mistake="wrong_type"),
    variant("comparison", "capitals_and_spaces", "the right answer typed as 'Logistic '",
            replace=[('= "logistic"', '= "Logistic "')]),
]

# a two-way choice has only so many wrong answers
FEW_BUGS = {"comparison": 2}

MUTANTS = LDA + NLL01 + PM1 + FIT + ACCURACY + COMPARISON
