"""Mutants of assignment 01_neurons (see ``autograder/mutation/__init__.py``)."""

from autograder.mutation import bug, variant

from .checks import check_and, check_nand, check_not, check_or

TLU = [
    bug("tlu", "strict_inequality", "`> 0` instead of `>= 0`: boundary points give 0",
        replace=[("b >= 0)", "b > 0)")], mistake="named"),
    bug("tlu", "bias_subtracted", "computes 1{X w − b ≥ 0}", replace=[("X @ w + b", "X @ w - b")], mistake="named"),
    bug("tlu", "no_bias", "forgets the bias", replace=[("X @ w + b", "X @ w")], mistake="named"),
    bug("tlu", "plus_minus_one", "returns −1/+1 instead of 0/1",
        replace=[("return (X @ w + b >= 0).astype(float)", "return np.where(X @ w + b >= 0, 1.0, -1.0)")],
        mistake="named"),
    bug("tlu", "wrong_axis", "sums the weighted inputs over the batch axis: shape (d,)",
        replace=[("return (X @ w + b >= 0).astype(float)", "return ((X * w).sum(axis=0) + b >= 0).astype(float)")],
        mistake="wrong_shape"),
    bug("tlu", "probability_threshold", "thresholds at 0.5 as if the sum were a probability",
        replace=[("b >= 0)", "b >= 0.5)")], mistake="named"),
    variant("tlu", "loop", "a Python loop over the rows", source='''
def tlu(X, w, b):
    out = np.zeros(X.shape[0])
    for i in range(X.shape[0]):
        total = b
        for j in range(X.shape[1]):
            total += w[j] * X[i, j]
        out[i] = 1.0 if total >= 0 else 0.0
    return out
'''),
    variant("tlu", "heaviside", "np.heaviside with value 1 at 0",
            replace=[("return (X @ w + b >= 0).astype(float)", "return np.heaviside(X @ w + b, 1.0)")]),
    variant("tlu", "booleans", "returns a boolean array", replace=[(".astype(float)", "")]),
]

GATES = [
    bug("gates", "and_is_or", "the AND unit has OR's bias", replace=[('np.array([1.0, 1.0]), -1.5)',
                                                                       'np.array([1.0, 1.0]), -0.5)')],
        fails=[check_and], mistake="named"),
    bug("gates", "or_is_and", "the OR unit has AND's bias", replace=[('np.array([1.0, 1.0]), -0.5)',
                                                                       'np.array([1.0, 1.0]), -1.5)')],
        fails=[check_or], mistake="named"),
    bug("gates", "not_is_identity", "the NOT unit has a positive weight",
        replace=[("np.array([-1.0]), 0.5)", "np.array([1.0]), -0.5)")], fails=[check_not], mistake="named"),
    bug("gates", "nand_bias_sign", "the NAND unit's bias has the wrong sign: always 0",
        replace=[("np.array([-1.0, -1.0]), 1.5)", "np.array([-1.0, -1.0]), -1.5)")], fails=[check_nand],
        mistake="named"),
    bug("gates", "nand_is_and", "the NAND unit copies AND (forgot the negation)",
        replace=[("np.array([-1.0, -1.0]), 1.5)", "np.array([1.0, 1.0]), -1.5)")], fails=[check_nand], mistake="named"),
    bug("gates", "and_weights_2d", "the AND weights as a (1, 2) row instead of a vector",
        replace=[('"and": (np.array([1.0, 1.0]), -1.5)', '"and": (np.array([[1.0, 1.0]]), -1.5)')],
        fails=[check_and], mistake="wrong_shape"),
    variant("gates", "scaled", "every weight and bias doubled", source='''
GATES = {
    "and": (np.array([2.0, 2.0]), -3.0),
    "or": (np.array([2.0, 2.0]), -1.0),
    "not": (np.array([-2.0]), 1.0),
    "nand": (np.array([-2.0, -2.0]), 3.0),
}
'''),
    variant("gates", "on_the_boundary", "thresholds that put inputs exactly on the boundary (≥ counts)",
            source='''
GATES = {
    "and": (np.array([1.0, 1.0]), -2.0),
    "or": (np.array([1.0, 1.0]), -1.0),
    "not": (np.array([-1.0]), 0.0),
    "nand": (np.array([-1.0, -1.0]), 1.0),
}
'''),
    variant("gates", "plain_lists", "weights as Python lists of ints", source='''
GATES = {"and": ([1, 1], -2), "or": ([1, 1], -1), "not": ([-1], 0), "nand": ([-1, -1], 1)}
'''),
]

XOR = [
    bug("xor_network", "W1_transposed", "W1 written with one column per hidden unit",
        replace=[("[[1.0, 1.0], [-1.0, -1.0]]", "[[1.0, -1.0], [1.0, -1.0]]")], mistake="transposed"),
    bug("xor_network", "output_or", "the output unit computes OR instead of AND",
        replace=[('"b2": -1.5', '"b2": -0.5')], mistake="named"),
    bug("xor_network", "hidden_and_or", "hidden units AND and OR: the network computes AND",
        replace=[("[[1.0, 1.0], [-1.0, -1.0]]", "[[1.0, 1.0], [1.0, 1.0]]"), ("[-0.5, 1.5]", "[-1.5, -0.5]")],
        mistake="named"),
    bug("xor_network", "biases_swapped", "the hidden biases in the wrong order",
        replace=[("[-0.5, 1.5]", "[1.5, -0.5]")], mistake="named"),
    bug("xor_network", "w2_as_row", "w2 as a (1, 2) row", replace=[('"w2": np.array([1.0, 1.0])',
                                                                     '"w2": np.array([[1.0, 1.0]])')],
                                                                     mistake="wrong_shape"),
    variant("xor_network", "or_of_ands", "xor = or(and(a, not b), and(not a, b))", source='''
XOR_NETWORK = {
    "W1": np.array([[1.0, -1.0], [-1.0, 1.0]]),
    "b1": np.array([-0.5, -0.5]),
    "w2": np.array([1.0, 1.0]),
    "b2": -0.5,
}
'''),
    variant("xor_network", "scaled", "the same network with weights times 3", source='''
XOR_NETWORK = {"W1": 3 * np.array([[1.0, 1.0], [-1.0, -1.0]]), "b1": 3 * np.array([-0.5, 1.5]),
               "w2": np.array([2.0, 2.0]), "b2": -3.0}
'''),
]

STEP = [
    bug("perceptron_step", "always_update", "updates on every example, misclassified or not",
        replace=[("if y * (x @ w + b) <= 0:", "if True:")], mistake="named"),
    bug("perceptron_step", "strict_inequality", "`< 0`: an example on the boundary (w = 0) never updates",
        replace=[("<= 0", "< 0")], mistake="named"),
    bug("perceptron_step", "sign_flipped", "w − lr·y·x", replace=[("w + lr * y * x", "w - lr * y * x")],
        mistake="named"),
    bug("perceptron_step", "no_bias_update", "b is never updated", replace=[("b + lr * y", "b")], mistake="named"),
    bug("perceptron_step", "no_learning_rate", "ignores lr",
        replace=[("w + lr * y * x, b + lr * y", "w + y * x, b + y")], mistake="named"),
    bug("perceptron_step", "in_place", "updates w in place (w += ...), changing the caller's array", source='''
def perceptron_step(w, b, x, y, lr):
    if y * (x @ w + b) <= 0:
        w += lr * y * x
        b += lr * y
    return w, b
''', mistake="in_place"),
    variant("perceptron_step", "sign_test", "tests np.sign(w·x + b) != y (sign(0) = 0 also updates)",
            replace=[("if y * (x @ w + b) <= 0:", "if np.sign(x @ w + b) != y:")]),
    variant("perceptron_step", "branch_free", "multiplies the update by a 0/1 flag", source='''
def perceptron_step(w, b, x, y, lr):
    wrong = float(y * (np.dot(w, x) + b) <= 0)
    return w + wrong * lr * y * x, b + wrong * lr * y
'''),
]

TRAIN = [
    bug("perceptron_train", "reverse_order", "visits the examples in reverse order",
        replace=[("zip(X, y)", "zip(X[::-1], y[::-1])")], mistake="other"),
    bug("perceptron_train", "one_epoch_short", "runs max_epochs − 1 epochs",
        replace=[("range(max_epochs)", "range(max_epochs - 1)")], mistake="named"),
    bug("perceptron_train", "starts_from_ones", "starts from w = 1, b = 1",
        replace=[("np.zeros(X.shape[1]), 0.0", "np.ones(X.shape[1]), 1.0")], mistake="named"),
    bug("perceptron_train", "converged_flag_wrong", "returns converged=False when it converged",
        replace=[("return w, b, True", "return w, b, False")], mistake="other"),
    bug("perceptron_train", "flag_not_reset", "never resets the change flag: reports no convergence", source='''
def perceptron_train(X, y, lr, max_epochs):
    w, b = np.zeros(X.shape[1]), 0.0
    changed = False
    for _ in range(max_epochs):
        for x, target in zip(X, y):
            w_new, b_new = perceptron_step(w, b, x, target, lr)
            changed = changed or b_new != b or not np.array_equal(w_new, w)
            w, b = w_new, b_new
        if not changed:
            return w, b, True
    return w, b, False
''', mistake="other"),
    bug("perceptron_train", "stops_at_first_correct", "stops at the first example that needs no update", source='''
def perceptron_train(X, y, lr, max_epochs):
    w, b = np.zeros(X.shape[1]), 0.0
    for _ in range(max_epochs):
        for x, target in zip(X, y):
            if target * (x @ w + b) > 0:
                return w, b, True
            w, b = perceptron_step(w, b, x, target, lr)
    return w, b, False
''', mistake="wrong_rows"),
    variant("perceptron_train", "inline_rule", "the rule written inline with a counter of mistakes", source='''
def perceptron_train(X, y, lr, max_epochs):
    w = np.zeros(X.shape[1])
    b = 0.0
    epoch = 0
    while epoch < max_epochs:
        mistakes = 0
        for i in range(len(y)):
            if y[i] * (np.dot(w, X[i]) + b) <= 0:
                w = w + lr * y[i] * X[i]
                b = b + lr * y[i]
                mistakes += 1
        epoch += 1
        if mistakes == 0:
            return w, b, True
    return w, b, False
'''),
]

SEPARABLE = [
    bug("is_linearly_separable", "labels_not_mapped", "feeds 0/1 labels to the perceptron",
        replace=[("2.0 * y - 1.0", "y")], mistake="other"),
    bug("is_linearly_separable", "one_epoch", "gives the perceptron one epoch", replace=[("1.0, 500)", "1.0, 1)")],
        mistake="other"),
    bug("is_linearly_separable", "always_true", "answers True", replace=[("return bool(converged)", "return True")],
        mistake="other"),
    bug("is_linearly_separable", "inverted", "returns the opposite", replace=[("return bool(converged)",
                                                                               "return not converged")],
                                                                               mistake="other"),
    bug("is_linearly_separable", "only_xor", "knows only XOR and XNOR (wrong on three inputs)", source='''
def is_linearly_separable(X, y):
    return not (X.shape[1] == 2 and (list(y) == [0, 1, 1, 0] or list(y) == [1, 0, 0, 1]))
''', mistake="other"),
    variant("is_linearly_separable", "cycle_detection", "stops when a state (w, b) repeats", source='''
def is_linearly_separable(X, y):
    target = np.where(y > 0, 1.0, -1.0)
    w, b, seen = np.zeros(X.shape[1]), 0.0, set()
    while (tuple(w), b) not in seen:
        seen.add((tuple(w), b))
        updates = 0
        for x, t in zip(X, target):
            if t * (x @ w + b) <= 0:
                updates += 1
            w, b = perceptron_step(w, b, x, t, 1.0)
        if updates == 0:
            return True
    return False
'''),
    variant("is_linearly_separable", "brute_force", "searches small integer weights (enough for d ≤ 3)", source='''
def is_linearly_separable(X, y):
    for w in itertools.product(range(-2, 3), repeat=X.shape[1]):
        for b in np.arange(-4.5, 5.0, 1.0):
            if np.array_equal(tlu(X, np.array(w, dtype=float), b), y):
                return True
    return False
'''),
]

MUTANTS = TLU + GATES + XOR + STEP + TRAIN + SEPARABLE
