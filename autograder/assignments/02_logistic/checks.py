"""Hidden tests of assignment 02_logistic: LDA in closed form, the logistic negative
log-likelihood and its gradients for {0, 1} and {±1} labels, fitting by gradient descent.

References: ``nnref.lda.LDA`` for LDA, torch.autograd in float64 for the
losses and their gradients, a reference loop for gradient descent.
"""

from __future__ import annotations

import numpy as np

from autograder import oracles
from autograder.checks import assert_close, call, describe, fail, field, named, to_array, to_scalar, unpack
from autograder.parts import Parts
from nnref.activations import sigmoid
from nnref.lda import LDA, LogisticRegression

PARTS = Parts()
SEEDS = (0, 1, 2)


def _lda_cases():
    cases = []
    for seed in SEEDS:
        rng = np.random.default_rng(100 + seed)
        d, n0, n1 = 3 + seed, 7 + seed, 12 + 2 * seed  # unbalanced classes, so the prior term matters
        A = rng.standard_normal((d, d))
        shift = rng.standard_normal(d) * 2
        X = np.vstack([rng.standard_normal((n0, d)) @ A, rng.standard_normal((n1, d)) @ A + shift])
        y = np.concatenate([np.zeros(n0), np.ones(n1)])
        order = rng.permutation(n0 + n1)
        cases.append((X[order], y[order]))
    return cases


@oracles.cached
def lda_oracle(X, y):
    lda = LDA().fit(X, y)
    return {"means": lda.means, "covariance": lda.covariance, "w": lda.w, "b": lda.b}


def _lda_fit(lda_fit, X, y):
    out = call(lda_fit, "lda_fit(X, y)", X=X, y=y)
    return {key: to_array(field(out, "the dict returned by lda_fit", key), f'lda_fit(X, y)["{key}"]')
            for key in ("means", "covariance", "w", "b")}


@PARTS.add("test_lda_means", points=1, uses=("lda_fit",))
def check_lda_means(lda_fit):
    """The class means, one row per class: shape (2, d)."""
    for X, y in _lda_cases():
        got, ref = _lda_fit(lda_fit, X, y), lda_oracle(X, y)
        assert_close(got["means"], ref["means"], 'lda_fit(X, y)["means"]', case=describe(X=X, y=y),
                     mistakes={"the rows are swapped: row k holds the mean of class k": ref["means"][::-1],
                               "both rows hold the mean of all the data": np.tile(X.mean(axis=0), (2, 1))})


def _scatter_alternatives(X, y, n):
    rows = [X[y == k] for k in (0, 1)]
    centred_all = X - X.mean(axis=0)
    per_class = [np.cov(r.T) for r in rows]
    pooled = sum((r - r.mean(axis=0)).T @ (r - r.mean(axis=0)) for r in rows)
    return {
        "divided by n instead of n − 2": pooled / n,
        "divided by n − 1 instead of n − 2": pooled / (n - 1),
        "centred on the mean of all the data instead of each class's mean": centred_all.T @ centred_all / (n - 2),
        "not centred at all": X.T @ X / (n - 2),
        "the plain average of the two class covariances (not pooled by class size)": (per_class[0] + per_class[1]) / 2,
        "the covariance of class 0 only": per_class[0],
    }


@PARTS.add("test_lda_covariance", points=2, uses=("lda_fit",))
def check_lda_covariance(lda_fit):
    """The pooled covariance Σ = Σ_k Σ_{i in k} (xᵢ − μ_k)(xᵢ − μ_k)ᵀ / (n − 2)."""
    for X, y in _lda_cases():
        got, ref = _lda_fit(lda_fit, X, y), lda_oracle(X, y)
        assert_close(got["covariance"], ref["covariance"], 'lda_fit(X, y)["covariance"]', case=describe(X=X, y=y),
                     mistakes=_scatter_alternatives(X, y, X.shape[0]))


def _own(got, ref, d):
    """The student's means and covariance when they are usable, else the reference ones."""
    means, cov = got["means"], got["covariance"]
    if means.shape != (2, d) or cov.shape != (d, d) or not np.all(np.isfinite(cov)):
        return ref["means"], ref["covariance"]
    if np.linalg.cond(cov) > 1e10:
        return ref["means"], ref["covariance"]
    return means, cov


@PARTS.add("test_lda_w", points=1, uses=("lda_fit",))
def check_lda_w(lda_fit):
    """w = Σ⁻¹(μ₁ − μ₀), checked against your own means and covariance (partial credit)."""
    for X, y in _lda_cases():
        got, ref = _lda_fit(lda_fit, X, y), lda_oracle(X, y)
        means, cov = _own(got, ref, X.shape[1])
        diff = means[1] - means[0]
        assert_close(got["w"], np.linalg.solve(cov, diff), 'lda_fit(X, y)["w"]',
                     case=describe(X=X, y=y) + "; compared with Σ⁻¹(μ₁ − μ₀) from your own means and covariance",
                     mistakes={"w = Σ(μ₁ − μ₀): multiply by the inverse of Σ (np.linalg.solve)": cov @ diff,
                               "w = μ₁ − μ₀ without Σ⁻¹": diff})


@PARTS.add("test_lda_b", points=1, uses=("lda_fit",))
def check_lda_b(lda_fit):
    """b = −½ μ₁ᵀΣ⁻¹μ₁ + ½ μ₀ᵀΣ⁻¹μ₀ + log(π₁/π₀), with your own means and covariance."""
    for X, y in _lda_cases():
        got, ref = _lda_fit(lda_fit, X, y), lda_oracle(X, y)
        means, cov = _own(got, ref, X.shape[1])
        mu0, mu1 = means
        quadratic = -0.5 * mu1 @ np.linalg.solve(cov, mu1) + 0.5 * mu0 @ np.linalg.solve(cov, mu0)
        log_prior = np.log(np.mean(y == 1) / np.mean(y == 0))
        assert_close(to_scalar(got["b"], 'lda_fit(X, y)["b"]'), quadratic + log_prior, 'lda_fit(X, y)["b"]',
                     case=describe(X=X, y=y) + f" with {int(np.sum(y == 0))} of class 0 and {int(np.sum(y == 1))} "
                     "of class 1; compared with b from your own means and covariance",
                     mistakes={"the prior term log(π₁/π₀) is missing": quadratic,
                               "the prior term is upside down: log(π₁/π₀), not log(π₀/π₁)": quadratic - log_prior,
                               "the quadratic terms have the wrong signs": -quadratic + log_prior})


def nll_cases(labels: str):
    """(w, b, X, y) test cases for labels "01" or "pm1", large logits in the last one."""
    cases = []
    for seed, (n, d, scale) in zip(range(5), [(1, 3, 1.0), (5, 3, 1.0), (7, 4, 1.0), (6, 2, 1.0), (8, 3, 500.0)]):
        rng = np.random.default_rng(200 + seed)
        X = rng.standard_normal((n, d))
        w, b = scale * rng.standard_normal(d), float(rng.standard_normal())
        y = (rng.random(n) < 0.5).astype(np.float64)
        if n > 1:
            y[:2] = (0.0, 1.0)
        cases.append((w, b, X, 2 * y - 1 if labels == "pm1" else y))
    return cases


@oracles.cached
def nll_oracle(w, b, X, y, labels):
    """The mean negative log-likelihood and its gradients by torch.autograd in float64."""
    F = oracles.torch().nn.functional

    def loss(w, b, X, y):
        u = X @ w + b
        return F.softplus(-y * u).mean() if labels == "pm1" else (F.softplus(u) - y * u).mean()

    return oracles.value_and_grad(loss, {"w": w, "b": b, "X": X, "y": y}, wrt=("w", "b"))


def _nll_mistakes(w, b, X, y, labels):
    u = X @ w + b
    if labels == "pm1":
        wrong_sign = -y * sigmoid(np, y * u)
        return {"dw": {"σ(y·u) where σ(−y·u) is needed": wrong_sign @ X / len(y),
                       "the {0, 1} formula Xᵀ(σ(u) − y) used with ±1 labels": (sigmoid(np, u) - y) @ X / len(y)},
                "db": {"σ(y·u) where σ(−y·u) is needed": np.mean(wrong_sign),
                       "the {0, 1} formula mean(σ(u) − y) used with ±1 labels": np.mean(sigmoid(np, u) - y)}}
    return {"dw": {"the labels y and the predictions σ(u) swapped: (y − σ(u)) instead of (σ(u) − y)":
                   (y - sigmoid(np, u)) @ X / len(y)},
            "db": {}}


def _check_nll(fn, name, labels, component):
    for w, b, X, y in nll_cases(labels):
        out = call(fn, f"{name}(w, b, X, y)", w=w, b=b, X=X, y=y)
        loss, dw, db = unpack(out, f"{name}(w, b, X, y)", ("loss", "dw", "db"))
        ref = nll_oracle(w, b, X, y, labels)
        biggest = float(np.max(np.abs(X @ w + b)))
        large = f" (large logits: |u| up to {biggest:.0f})" if np.max(np.abs(w)) > 10 else ""
        case = describe(w=w, X=X, y=y) + large
        mistakes = _nll_mistakes(w, b, X, y, labels)
        if component == "loss":
            assert_close(to_scalar(loss, f"the loss from {name}"), ref["value"], f"the loss from {name}", case=case,
                         batch_size=len(y))
        elif component == "dw":
            assert_close(to_array(dw, f"dw from {name}"), ref["dw"], f"dw from {name}", case=case,
                         batch_size=len(y), mistakes=mistakes["dw"])
        else:
            assert_close(to_scalar(db, f"db from {name}"), ref["db"], f"db from {name}", case=case,
                         batch_size=len(y), mistakes=mistakes["db"])


@PARTS.add("test_nll01_loss", points=1, uses=("logistic_nll_01",))
def check_nll01_loss(logistic_nll_01):
    _check_nll(logistic_nll_01, "logistic_nll_01", "01", "loss")


@PARTS.add("test_nll01_dw", points=1, uses=("logistic_nll_01",))
def check_nll01_dw(logistic_nll_01):
    _check_nll(logistic_nll_01, "logistic_nll_01", "01", "dw")


@PARTS.add("test_nll01_db", points=1, uses=("logistic_nll_01",))
def check_nll01_db(logistic_nll_01):
    _check_nll(logistic_nll_01, "logistic_nll_01", "01", "db")


@PARTS.add("test_pm1_loss", points=1, uses=("logistic_nll_pm1",))
def check_pm1_loss(logistic_nll_pm1):
    _check_nll(logistic_nll_pm1, "logistic_nll_pm1", "pm1", "loss")


@PARTS.add("test_pm1_dw", points=1, uses=("logistic_nll_pm1",))
def check_pm1_dw(logistic_nll_pm1):
    _check_nll(logistic_nll_pm1, "logistic_nll_pm1", "pm1", "dw")


@PARTS.add("test_pm1_db", points=1, uses=("logistic_nll_pm1",))
def check_pm1_db(logistic_nll_pm1):
    _check_nll(logistic_nll_pm1, "logistic_nll_pm1", "pm1", "db")


def trusted_nll_01(w, b, X, y):
    """The grader's own (loss, dw, db), handed to the student's fit_logistic so that part stands alone."""
    if np.shape(w) != (X.shape[1],) or np.ndim(b) != 0:
        raise ValueError(f"grad_fn needs w of shape ({X.shape[1]},) and a number b, got shapes "
                         f"{np.shape(w)} and {np.shape(b)}")
    u = X @ w + b
    loss = np.mean(np.logaddexp(0.0, u) - y * u)
    r = (sigmoid(np, u) - y) / len(y)
    return loss, r @ X, np.sum(r)


def trusted_squared_error(w, b, X, y):
    """Another loss for fit_logistic to descend, (½·mean((Xw + b − y)²), dw, db): a fit that ignores the
    grad_fn it is given and calls its own log-likelihood goes elsewhere."""
    if np.shape(w) != (X.shape[1],) or np.ndim(b) != 0:
        raise ValueError(f"grad_fn needs w of shape ({X.shape[1]},) and a number b, got shapes "
                         f"{np.shape(w)} and {np.shape(b)}")
    r = X @ w + b - y
    return 0.5 * np.mean(r**2), r @ X / len(y), np.mean(r)


def _fit_reference(X, y, lr, epochs, after=False, start=0.0, sign=1.0, grad_fn=trusted_nll_01):
    w, b, losses = np.full(X.shape[1], start), start, []
    for _ in range(epochs):
        loss, dw, db = grad_fn(w, b, X, y)
        w, b = w - sign * lr * dw, b - sign * lr * db
        losses.append(grad_fn(w, b, X, y)[0] if after else loss)
    return w, b, np.array(losses)


@PARTS.add("test_fit_logistic", points=2, uses=("fit_logistic",))
def check_fit_logistic(fit_logistic):
    """Batch gradient descent from zero, recording the loss before each step, on the loss ``grad_fn`` gives
    (the log-likelihood, then a squared error: the fit must use the grad_fn it is given)."""
    for seed, grad_fn in ((0, trusted_nll_01), (1, trusted_nll_01), (2, trusted_squared_error)):
        rng = np.random.default_rng(300 + seed)
        X = rng.standard_normal((10 + seed, 3))
        y = (X @ np.array([1.0, -2.0, 0.5]) + 0.3 * rng.standard_normal(X.shape[0]) > 0).astype(np.float64)
        lr, epochs = 0.3, 25 + seed
        out = call(fit_logistic, "fit_logistic(X, y, grad_fn, lr, epochs)", X=X, y=y, grad_fn=grad_fn,
                   lr=lr, epochs=epochs)
        w, b, losses = unpack(out, "fit_logistic", ("w", "b", "losses"))
        w_ref, b_ref, losses_ref = _fit_reference(X, y, lr, epochs, grad_fn=grad_fn)
        case = describe(X=X, y=y) + f", lr {lr}, epochs {epochs}"
        assert_close(to_array(w, "w from fit_logistic"), w_ref, "w from fit_logistic", case=case,
                     mistakes={named("sign_flipped",
                                     "gradient ascent: step along −∇L, not +∇L"):
                               _fit_reference(X, y, lr, epochs, sign=-1, grad_fn=grad_fn)[0],
                               "the learning rate is ignored": _fit_reference(X, y, 1.0, epochs, grad_fn=grad_fn)[0],
                               "starting from ones instead of zeros":
                               _fit_reference(X, y, lr, epochs, start=1.0, grad_fn=grad_fn)[0],
                               "one step too few": _fit_reference(X, y, lr, epochs - 1, grad_fn=grad_fn)[0],
                               "one step too many": _fit_reference(X, y, lr, epochs + 1, grad_fn=grad_fn)[0],
                               "the loss descended is not the grad_fn given (the fit calls its own)":
                               _fit_reference(X, y, lr, epochs)[0]})
        assert_close(to_scalar(b, "b from fit_logistic"), b_ref, "b from fit_logistic", case=case)
        assert_close(to_array(losses, "losses from fit_logistic"), losses_ref, "losses from fit_logistic", case=case,
                     mistakes={"each loss recorded after its step instead of before":
                               _fit_reference(X, y, lr, epochs, after=True, grad_fn=grad_fn)[2]})


@PARTS.add("test_accuracy", points=1, uses=("accuracy",))
def check_accuracy(accuracy):
    """The fraction of examples with 1{x·w + b ≥ 0} equal to the label."""
    for seed in SEEDS:
        rng = np.random.default_rng(400 + seed)
        n = 12 + 3 * seed
        X, w, b = rng.standard_normal((n, 2)), np.array([1.0, -1.0]), 0.2
        u = X @ w + b
        y = np.where(rng.random(n) < 0.75, u >= 0, u < 0).astype(np.float64)
        got = to_scalar(call(accuracy, "accuracy(w, b, X, y)", w=w, b=b, X=X, y=y), "accuracy(w, b, X, y)")
        assert_close(got, np.mean((u >= 0) == y), "accuracy(w, b, X, y)", case=describe(X=X, y=y),
                     mistakes={"a count where the fraction is asked": np.sum((u >= 0) == y),
                               "σ(u) thresholded at 0 (always class 1)": np.mean(y == 1),
                               "the logit u thresholded at 0.5 (σ(u) ≥ 0.5 is u ≥ 0)": np.mean((u >= 0.5) == y),
                               "the fraction of mistakes instead of correct predictions": np.mean((u >= 0) != y),
                               "predictions as -1/+1 compared with 0/1 labels":
                               np.mean(np.where(u >= 0, 1.0, -1.0) == y)})


def outlier_data(seed: int = 4):
    """Two Gaussian classes and 20 far outliers of class 1 (the same code as in the notebook)."""
    rng = np.random.default_rng(seed)

    def clean(m):
        y = (np.arange(m) % 2).astype(float)
        X = rng.standard_normal((m, 2)) + np.where(y[:, None] == 1, [1.5, 0.0], [-1.5, 0.0])
        return X, y

    X, y = clean(100)
    far = 0.5 * rng.standard_normal((20, 2)) + [15.0, 0.0]
    X_test, y_test = clean(1000)
    return np.vstack([X, far]), np.concatenate([y, np.ones(20)]), X_test, y_test


@oracles.cached
def comparison_accuracies() -> dict:
    """Test accuracies of nnref's LDA and logistic regression on the outlier data."""
    X, y, X_test, y_test = outlier_data()
    lda, logistic = LDA().fit(X, y), LogisticRegression("01", lr=0.5, epochs=300).fit(X, y)
    return {name: float(np.mean((X_test @ m.w + m.b >= 0) == y_test)) for name, m in
            (("lda", lda), ("logistic", logistic))}


def comparison_key() -> dict:
    """The accuracies and the better method."""
    scores = {k: float(v) for k, v in comparison_accuracies().items()}
    return {**scores, "better": max(scores, key=scores.get)}


@PARTS.add("test_comparison", points=1, uses=("comparison",))
def check_comparison(better):
    """Which method generalises better when class 1 has far outliers."""
    if type(better) is not str or better.strip().lower() not in ("lda", "logistic"):
        fail(f'BETTER_ON_OUTLIERS must be the string "lda" or "logistic", got {better!r}', "wrong_type")
    better = better.strip().lower()
    key = comparison_key()
    if better != key["better"]:
        raise AssertionError(f"{better} is not the method with the higher test accuracy on this data; run both "
                             "and compare: the outliers move the class mean and inflate the covariance that LDA "
                             "relies on")
