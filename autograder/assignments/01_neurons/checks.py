"""Hidden tests of assignment 01_neurons: threshold units, XOR from units, the perceptron.

Each ``check_*`` is called by one autograded cell with the student's
function or data; it raises ``AssertionError`` with a diagnostic when the
part is wrong.  The references are the grader's own threshold unit and
``nnref.neurons.Perceptron``'s update rule.
"""

from __future__ import annotations

import itertools

import numpy as np

from autograder.checks import assert_close, assert_equal, call, describe, fail, field, to_array, to_scalar, unpack
from autograder.parts import Parts
from nnref import data
from nnref.neurons import Perceptron

PARTS = Parts()
SEEDS = (0, 1, 2)
GATE_INPUTS = {"and": 2, "or": 2, "nand": 2, "not": 1}


def unit(X, w, b) -> np.ndarray:
    """The grader's threshold logic unit 1{X w + b ≥ 0}."""
    return (X @ w + b >= 0).astype(np.float64)


def _bits(X) -> list[str]:
    return ["input (" + ", ".join(f"{v:g}" for v in row) + ")" for row in X]


@PARTS.add("test_tlu", points=2, uses=("tlu",))
def check_tlu(tlu):
    """``tlu(X, w, b)`` = 1{X w + b ≥ 0}, rows of X on the boundary included."""
    cases = []
    for d in (2, 3):
        X = np.array(list(itertools.product((0.0, 1.0), repeat=d)))
        cases.append((X, np.ones(d), -2.0))  # X w + b = 0 on several rows: they must give 1
        cases.append((X, -np.arange(1.0, d + 1), 1.0))
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        n, d = (1, 3) if seed == 0 else (int(rng.integers(5, 9)), int(rng.integers(3, 5)))
        cases.append((rng.standard_normal((n, d)), rng.standard_normal(d), float(rng.standard_normal())))
    for X, w, b in cases:
        out = to_array(call(tlu, "tlu(X, w, b)", X=X, w=w, b=b), "tlu(X, w, b)")
        u = X @ w + b
        assert_equal(out, unit(X, w, b), "tlu(X, w, b)", case=describe(X=X, w=w) + f", b {b:g}", labels=_bits(X),
                     mistakes={"a strict inequality: a point with X w + b = 0 exactly must give 1": u > 0,
                               "a threshold of 0.5 instead of 0": u >= 0.5,
                               "the bias is left out": X @ w >= 0,
                               "the bias is subtracted instead of added": X @ w - b >= 0,
                               "outputs -1/+1 where 0/1 is asked": np.where(u >= 0, 1.0, -1.0)})


# What a wrong unit computes instead, recognised by its truth table.
KNOWN = {2: {"AND": (0, 0, 0, 1), "OR": (0, 1, 1, 1), "NAND": (1, 1, 1, 0), "NOR": (1, 0, 0, 0),
             "the constant 1": (1, 1, 1, 1), "the constant 0": (0, 0, 0, 0)},
         1: {"the identity": (0, 1), "the constant 1": (1, 1), "the constant 0": (0, 0)}}


def _check_gate(gates, name: str):
    params = field(gates, "GATES", name)
    w, b = unpack(params, f'GATES["{name}"]', ("w", "b"))
    w = to_array(w, f'the weights of GATES["{name}"]')
    b = to_scalar(b, f'the bias of GATES["{name}"]')
    d = GATE_INPUTS[name]
    if w.shape != (d,):
        fail(f'the weights of GATES["{name}"] have shape {w.shape}; the {name.upper()} unit '
                             f"has {d} input{'s' if d > 1 else ''}, so w has shape ({d},)", "wrong_shape")
    X, y = data.truth_table(lambda bits: not bits[0], 1) if name == "not" else data.truth_table(name, 2)
    mistakes = {f"your unit computes {other} instead of {name.upper()}": table
                for other, table in KNOWN[d].items() if other != name.upper()}
    assert_equal(unit(X, w, b), y, f"your {name.upper()} unit (w = {w.tolist()}, b = {b:g})", labels=_bits(X),
                 mistakes=mistakes)


@PARTS.add("test_and", points=1, uses=("gates",))
def check_and(gates):
    _check_gate(gates, "and")


@PARTS.add("test_or", points=1, uses=("gates",))
def check_or(gates):
    _check_gate(gates, "or")


@PARTS.add("test_not", points=1, uses=("gates",))
def check_not(gates):
    _check_gate(gates, "not")


@PARTS.add("test_nand", points=1, uses=("gates",))
def check_nand(gates):
    _check_gate(gates, "nand")


def _network(X, W1, b1, w2, b2):
    return unit(unit(X, W1.T, b1), w2, b2)


@PARTS.add("test_xor", points=2, uses=("xor_network",))
def check_xor(network):
    """A two-layer network of threshold units computing XOR, given by its weights."""
    shapes = {"W1": (2, 2), "b1": (2,), "w2": (2,), "b2": ()}
    params = {}
    for name, shape in shapes.items():
        params[name] = to_array(field(network, "XOR_NETWORK", name), f'XOR_NETWORK["{name}"]')
        if params[name].shape != shape:
            fail(f'XOR_NETWORK["{name}"] has shape {params[name].shape}, expected {shape} '
                                 "(W1 holds one row of weights per hidden unit: shape (n_out, n_in))", "wrong_shape")
    X, y = data.truth_table("xor", 2)
    W1, b1, w2, b2 = params.values()
    out = _network(X, W1, b1, w2, b2)
    if not np.array_equal(out, y) and np.array_equal(_network(X, W1.T, b1, w2, b2), y):
        fail("the XOR network is wrong, but it would be right with W1 transposed: row j of W1 "
                             "holds the weights of hidden unit j (shape (n_out, n_in))", "transposed")
    hidden = unit(X, W1.T, b1)
    names = {table: name for name, table in KNOWN[2].items()}
    units = " and ".join(names.get(tuple(int(v) for v in column), "a non-gate") for column in hidden.T)
    assert_equal(out, y, f"the XOR network's output (its hidden units compute {units})", labels=_bits(X),
                 mistakes={f"the network computes {name}": table for name, table in KNOWN[2].items()})


def _step_cases():
    cases = []
    for seed in SEEDS:
        rng = np.random.default_rng(10 + seed)
        d = 3 + seed
        x, w = rng.integers(-4, 5, d) / 4, rng.integers(-4, 5, d) / 4
        b = float(rng.integers(-4, 5)) / 4
        margin = float(x @ w + b)
        y_wrong = -1.0 if margin > 0 else 1.0
        cases += [(w, b, x, y_wrong, 0.5), (w, b, x, -y_wrong, 0.5)]  # misclassified, then classified
    cases.append((np.zeros(3), 0.0, np.array([1.0, -0.5, 2.0]), 1.0, 1.0))  # on the boundary: update
    return cases


def _reference_step(w, b, x, y, lr):
    p = Perceptron(w.shape[0], lr)
    p.w, p.b = w.copy(), b
    p.update(x, y)
    return p.w, p.b


@PARTS.add("test_perceptron_step", points=2, uses=("perceptron_step",))
def check_perceptron_step(perceptron_step):
    """One application of the perceptron rule to one example."""
    for w, b, x, y, lr in _step_cases():
        out = call(perceptron_step, "perceptron_step(w, b, x, y, lr)", w=w, b=b, x=x, y=y, lr=lr)
        w_new, b_new = unpack(out, "perceptron_step", ("w", "b"))
        w_ref, b_ref = _reference_step(w, b, x, y, lr)
        margin = y * (x @ w + b)
        case = f"w {w.tolist()}, b {b:g}, x {x.tolist()}, y {y:g}, lr {lr:g}, so y(w·x + b) = {margin:g}"
        mistakes = {"the example is classified correctly (y(w·x + b) > 0): the rule leaves w unchanged": w + lr * y * x,
                    "misclassified (y(w·x + b) <= 0) examples must update w": w,
                    "the update has the wrong sign: w ← w + lr·y·x": w - lr * y * x,
                    "the learning rate is ignored": w + y * x}
        assert_close(to_array(w_new, "the new w"), w_ref, "the new w", case=case, mistakes=mistakes)
        assert_close(to_scalar(b_new, "the new b"), b_ref, "the new b", case=case,
                     mistakes={"the bias is not updated: b ← b + lr·y": b})


def train_reference(X, y, lr, max_epochs, start=0.0):
    """``nnref.neurons.Perceptron`` from w = (start, …), b = start on ±1 labels: (w, b, converged in max_epochs)."""
    p = Perceptron(X.shape[1], lr)
    p.w, p.b = np.full(X.shape[1], start), start
    for _ in range(max_epochs):
        if not any([p.update(x, t) for x, t in zip(X, y)]):
            return p.w, p.b, True
    return p.w, p.b, False


def _train_cases():
    cases = []
    for seed in SEEDS:
        rng = np.random.default_rng(20 + seed)
        n, d = 9 + 2 * seed, 2 + seed % 2
        w_true = rng.integers(-4, 5, d) / 4 + 0.25
        X = rng.integers(-8, 9, (n, d)) / 4
        y = np.where(X @ w_true + 0.125 >= 0, 1.0, -1.0)
        cases.append((X, y, 0.5, 50))
        needed = next(k for k in range(1, 51) if train_reference(X, y, 0.5, k)[2])
        if needed > 2:
            cases.append((X, y, 0.5, needed - 1))  # stopped one epoch before convergence
    X, y01 = data.truth_table("xor", 2)
    cases.append((X, 2 * y01 - 1, 1.0, 7))  # never converges: the state after 7 epochs
    return cases


@PARTS.add("test_perceptron_train", points=2, uses=("perceptron_train", "perceptron_step"))
def check_perceptron_train(perceptron_train):
    """Epochs of the rule in the given order, from zero weights, until an epoch makes no update."""
    for X, y, lr, max_epochs in _train_cases():
        out = call(perceptron_train, "perceptron_train(X, y, lr, max_epochs)", X=X, y=y, lr=lr, max_epochs=max_epochs)
        w, b, converged = unpack(out, "perceptron_train", ("w", "b", "converged"))
        w_ref, b_ref, converged_ref = train_reference(X, y, lr, max_epochs)
        case = describe(X=X, y=y) + f", lr {lr:g}, max_epochs {max_epochs}"
        mistakes = {}
        for label, (w_alt, _, _) in {
            "one epoch too few (off by one)": train_reference(X, y, lr, max_epochs - 1),
            "one epoch too many (off by one)": train_reference(X, y, lr, max_epochs + 1),
            "the wrong initial weights: start from w = 0, b = 0": train_reference(X, y, lr, max_epochs, 1.0),
        }.items():
            mistakes[label] = w_alt
        assert_close(to_array(w, "the final w"), w_ref, "the final w", case=case, mistakes=mistakes)
        assert_close(to_scalar(b, "the final b"), b_ref, "the final b", case=case)
        if bool(to_scalar(converged, "converged")) != converged_ref:
            raise AssertionError(
                f"converged is {not converged_ref} but should be {converged_ref} ({case}): the final w and b are "
                "right, so check when you report convergence (an epoch with no update at all)")


def separable(X, y01) -> bool:
    """Exact: the perceptron on integer data either converges or revisits a state (the cycling theorem)."""
    y = 2 * np.asarray(y01, dtype=np.float64) - 1
    w, b, seen = np.zeros(X.shape[1]), 0.0, set()
    while (tuple(w), b) not in seen:
        seen.add((tuple(w), b))
        changed = False
        for x, t in zip(X, y):
            if t * (x @ w + b) <= 0:
                w, b, changed = w + t * x, b + t, True
        if not changed:
            return True
    return False


def _separability_cases():
    X2 = np.array(list(itertools.product((0.0, 1.0), repeat=2)))
    cases = [(X2, np.array(bits, dtype=np.float64)) for bits in itertools.product((0.0, 1.0), repeat=4)]
    X3 = np.array(list(itertools.product((0.0, 1.0), repeat=3)))
    rng = np.random.default_rng(30)
    for index in rng.choice(256, 24, replace=False):
        cases.append((X3, np.array([(int(index) >> k) & 1 for k in range(8)], dtype=np.float64)))
    return cases


@PARTS.add("test_separable", points=2, uses=("is_linearly_separable", "perceptron_train", "perceptron_step"))
def check_separable(is_linearly_separable):
    """Every Boolean function of two inputs and 24 of three inputs, separable or not."""
    for X, y in _separability_cases():
        answer = to_scalar(call(is_linearly_separable, "is_linearly_separable(X, y)", X=X, y=y),
                           "is_linearly_separable(X, y)")
        truth = separable(X, y)
        if answer != float(truth):
            table = ", ".join(f"{''.join(str(int(v)) for v in row)}→{int(t)}" for row, t in zip(X, y))
            hint = (" Non-separable functions such as XOR make the perceptron cycle forever: stop when a "
                    "state repeats, or after enough epochs." if not truth else
                    " Map the labels 0/1 to -1/+1 before running the perceptron, and give it enough epochs.")
            raise AssertionError(f"is_linearly_separable says {bool(answer)} for the function {table}, "
                                 f"which is {'' if truth else 'not '}linearly separable.{hint}")
