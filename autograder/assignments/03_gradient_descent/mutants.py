"""Mutants of assignment 03_gradient_descent (see ``autograder/mutation/__init__.py``)."""

from autograder.mutation import bug, variant

BATCH = [
    bug("batch_gd", "no_initial_row", "leaves θ₀ out of the history: shape (epochs, p)",
        replace=[("thetas = [theta]", "thetas = []")], mistake="wrong_shape"),
    bug("batch_gd", "in_place_on_theta0", "updates theta0 itself with -=", source='''
def batch_gd(theta0, grad_fn, X, y, lr, epochs):
    theta = theta0
    thetas = [theta.copy()]
    for _ in range(epochs):
        theta -= lr * grad_fn(theta, X, y)
        thetas.append(theta.copy())
    return np.array(thetas)
''', mistake="in_place"),
    bug("batch_gd", "one_array_stored", "stores one array and updates it in place: every row is the last θ",
        source='''
def batch_gd(theta0, grad_fn, X, y, lr, epochs):
    theta = np.array(theta0, dtype=float)
    thetas = [theta]
    for _ in range(epochs):
        theta -= lr * grad_fn(theta, X, y)
        thetas.append(theta)
    return np.array(thetas)
''', mistake="in_place"),
    bug("batch_gd", "ascent", "θ + lr·∇L", replace=[("theta - lr * grad_fn", "theta + lr * grad_fn")],
        mistake="sign_flipped"),
    bug("batch_gd", "ignores_lr", "steps without the learning rate", replace=[("lr * grad_fn", "grad_fn")],
        mistake="named"),
    bug("batch_gd", "extra_epoch", "runs epochs + 1 steps", replace=[("range(epochs)", "range(epochs + 1)")],
        mistake="other"),
    variant("batch_gd", "preallocated", "fills a preallocated (epochs + 1, p) array", source='''
def batch_gd(theta0, grad_fn, X, y, lr, epochs):
    thetas = np.empty((epochs + 1, len(theta0)))
    thetas[0] = theta0
    for k in range(epochs):
        thetas[k + 1] = thetas[k] - lr * grad_fn(thetas[k], X, y)
    return thetas
'''),
    variant("batch_gd", "float32_start", "keeps θ₀ in float32 (NumPy promotes the steps to float64)",
            replace=[("np.array(theta0, dtype=float)", "np.array(theta0, dtype=np.float32)")]),
]

SGD = [
    bug("sgd", "no_shuffle", "visits the examples in their original order",
        replace=[("rng.permutation(X.shape[0])", "range(X.shape[0])")], mistake="other"),
    bug("sgd", "same_order_every_epoch", "draws one permutation for all epochs", source='''
def sgd(theta0, grad_fn, X, y, lr, epochs, rng):
    theta = np.array(theta0, dtype=float)
    thetas = [theta]
    order = rng.permutation(X.shape[0])
    for _ in range(epochs):
        for i in order:
            theta = theta - lr * grad_fn(theta, X[[i]], y[[i]])
        thetas.append(theta)
    return np.array(thetas)
''', mistake="other"),
    bug("sgd", "with_replacement", "samples n examples with replacement",
        replace=[("rng.permutation(X.shape[0])", "rng.integers(0, X.shape[0], X.shape[0])")], mistake="other"),
    bug("sgd", "one_dimensional_batch", "passes X[i] (shape (p,)) instead of X[[i]]",
        replace=[("grad_fn(theta, X[[i]], y[[i]])", "grad_fn(theta, X[i], y[i])")], mistake="crashed"),
    bug("sgd", "own_generator", "ignores rng and seeds its own generator",
        replace=[("rng.permutation(X.shape[0])", "np.random.default_rng(0).permutation(X.shape[0])")], mistake="other"),
    bug("sgd", "history_per_step", "records θ after every step instead of every epoch", source='''
def sgd(theta0, grad_fn, X, y, lr, epochs, rng):
    theta = np.array(theta0, dtype=float)
    thetas = [theta]
    for _ in range(epochs):
        for i in rng.permutation(X.shape[0]):
            theta = theta - lr * grad_fn(theta, X[[i]], y[[i]])
            thetas.append(theta)
    return np.array(thetas)
''', mistake="wrong_shape"),
    variant("sgd", "slices", "steps on slices X[i:i + 1] of a permutation drawn first", source='''
def sgd(theta0, grad_fn, X, y, lr, epochs, rng):
    theta = np.asarray(theta0, dtype=float).copy()
    history = [theta.copy()]
    for epoch in range(epochs):
        order = rng.permutation(len(y))
        for k in range(len(order)):
            i = order[k]
            theta -= lr * grad_fn(theta, X[i:i + 1], y[i:i + 1])
        history.append(theta.copy())
    return np.stack(history)
'''),
]

MINIBATCH = [
    bug("minibatch_sgd", "drops_last_batch", "drops the last, smaller batch",
        replace=[("range(0, X.shape[0], batch_size)", "range(0, X.shape[0] - batch_size + 1, batch_size)")],
        mistake="other"),
    bug("minibatch_sgd", "no_shuffle", "batches of the data in its original order",
        replace=[("order = rng.permutation(X.shape[0])", "order = np.arange(X.shape[0])")], mistake="other"),
    bug("minibatch_sgd", "same_order_every_epoch", "one permutation for all epochs", source='''
def minibatch_sgd(theta0, grad_fn, X, y, lr, epochs, batch_size, rng):
    theta = np.array(theta0, dtype=float)
    thetas = [theta]
    order = rng.permutation(X.shape[0])
    for _ in range(epochs):
        for start in range(0, X.shape[0], batch_size):
            batch = order[start:start + batch_size]
            theta = theta - lr * grad_fn(theta, X[batch], y[batch])
        thetas.append(theta)
    return np.array(thetas)
''', mistake="other"),
    bug("minibatch_sgd", "overlapping_batches", "batches one example too long (off by one): they overlap",
        replace=[("order[start:start + batch_size]", "order[start:start + batch_size + 1]")], mistake="other"),
    bug("minibatch_sgd", "summed_gradient", "scales the step by the batch size (a sum, not a mean)",
        replace=[("lr * grad_fn(theta, X[batch], y[batch])", "lr * len(batch) * grad_fn(theta, X[batch], y[batch])")],
        mistake="wrong_rows"),
    bug("minibatch_sgd", "array_split", "np.array_split balances the sizes (5, 5, 5, 4, 4) instead of (5, 5, 5, 5, 3)",
        source='''
def minibatch_sgd(theta0, grad_fn, X, y, lr, epochs, batch_size, rng):
    theta = np.array(theta0, dtype=float)
    thetas = [theta]
    for _ in range(epochs):
        order = rng.permutation(X.shape[0])
        for batch in np.array_split(order, int(np.ceil(X.shape[0] / batch_size))):
            theta = theta - lr * grad_fn(theta, X[batch], y[batch])
        thetas.append(theta)
    return np.array(thetas)
''', mistake="other"),
    variant("minibatch_sgd", "while_loop", "a while loop over the permutation", source='''
def minibatch_sgd(theta0, grad_fn, X, y, lr, epochs, batch_size, rng):
    theta = np.array(theta0, dtype=float)
    out = [theta.copy()]
    for _ in range(epochs):
        order = rng.permutation(len(X))
        start = 0
        while start < len(order):
            idx = order[start:min(start + batch_size, len(order))]
            theta = theta - lr * grad_fn(theta, X[idx, :], y[idx])
            start += batch_size
        out.append(theta.copy())
    return np.array(out)
'''),
]

CRITICAL = [
    bug("critical_learning_rate", "one_over_lambda_max", "1/λ_max", replace=[("2.0 /", "1.0 /")], mistake="named"),
    bug("critical_learning_rate", "lambda_min", "2/λ_min", replace=[("eigvalsh(A)[-1]", "eigvalsh(A)[0]")],
        mistake="named"),
    bug("critical_learning_rate", "max_diagonal", "2/max(diag A)",
        replace=[("np.linalg.eigvalsh(A)[-1]", "np.max(np.diag(A))")], mistake="named"),
    bug("critical_learning_rate", "trace", "2/trace(A)", replace=[("np.linalg.eigvalsh(A)[-1]", "np.trace(A)")],
        mistake="named"),
    bug("critical_learning_rate", "frobenius", "2/‖A‖_F", replace=[("np.linalg.eigvalsh(A)[-1]", "np.linalg.norm(A)")],
        mistake="named"),
    bug("critical_learning_rate", "unsorted_eigvals", "takes the last of np.linalg.eigvals, which are not sorted",
        replace=[("np.linalg.eigvalsh(A)[-1]", "np.linalg.eigvals(A).real[-1]")], mistake="constant_factor"),
    variant("critical_learning_rate", "power_iteration", "λ_max by power iteration", source='''
def critical_learning_rate(A):
    v = np.ones(A.shape[0])
    for _ in range(1000):
        v = A @ v
        v = v / np.linalg.norm(v)
    return 2.0 / (v @ A @ v)
'''),
    variant("critical_learning_rate", "spectral_norm", "2/‖A‖₂ (the spectral norm is λ_max for A ≻ 0)",
            replace=[("np.linalg.eigvalsh(A)[-1]", "np.linalg.norm(A, 2)")]),
]

CLASSIFY = [
    bug("classify_learning_rates", "threshold_one_over", "converges when lr < 1/λ_max",
        replace=[("np.asarray(lrs) < critical_learning_rate(A)", "np.asarray(lrs) < critical_learning_rate(A) / 2")],
        mistake="named"),
    bug("classify_learning_rates", "threshold_lambda_min", "uses the smallest eigenvalue",
        replace=[("np.asarray(lrs) < critical_learning_rate(A)", "np.asarray(lrs) < 2 / np.linalg.eigvalsh(A)[0]")],
        mistake="named"),
    bug("classify_learning_rates", "boundary_included", "lr ≤ 2/λ_max: the critical rate itself counted as converging",
        replace=[("np.asarray(lrs) < critical_learning_rate(A)", "np.asarray(lrs) <= critical_learning_rate(A)")],
        mistake="boundary"),
    bug("classify_learning_rates", "inverted", "True for the diverging ones", replace=[("<", ">=")],
        mistake="sign_flipped"),
    bug("classify_learning_rates", "ten_steps", "simulates 10 steps and compares the norm: too short to see "
        "slow divergence", source='''
def classify_learning_rates(A, lrs):
    out = []
    for lr in lrs:
        theta = np.ones(A.shape[0])
        for _ in range(10):
            theta = theta - lr * A @ theta
        out.append(np.linalg.norm(theta) < np.sqrt(A.shape[0]))
    return np.array(out)
''', mistake="other"),
    bug("classify_learning_rates", "first_eigenvalue_only", "checks |1 − lr·λ| < 1 for the first diagonal entry",
        replace=[("np.asarray(lrs) < critical_learning_rate(A)", "np.abs(1 - np.asarray(lrs) * A[0, 0]) < 1")],
        mistake="other"),
    variant("classify_learning_rates", "every_eigenvalue", "|1 − lr·λᵢ| < 1 for every eigenvalue, as a list",
            source='''
def classify_learning_rates(A, lrs):
    eigenvalues = np.linalg.eigvalsh(A)
    return [bool(np.all(np.abs(1 - lr * eigenvalues) < 1)) for lr in lrs]
'''),
    variant("classify_learning_rates", "simulation", "runs 5000 steps from a generic start and asks whether θ "
            "reached 0 (at the critical rate it keeps oscillating)", source='''
def classify_learning_rates(A, lrs):
    verdict = []
    start = np.linspace(1.0, 2.0, A.shape[0])
    with np.errstate(over="ignore", invalid="ignore"):
        for lr in lrs:
            theta = start.copy()
            for _ in range(5000):
                theta = theta - lr * (A @ theta)
            verdict.append(bool(np.linalg.norm(theta) < 1e-3 * np.linalg.norm(start)))
    return np.array(verdict)
'''),
]

MUTANTS = BATCH + SGD + MINIBATCH + CRITICAL + CLASSIFY
