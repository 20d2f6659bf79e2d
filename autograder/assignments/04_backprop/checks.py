"""Hidden tests of assignment 04_backprop: the graph g(w) = w₁³w₂ + 3w₁ by hand, the
dense layer forward and backward, activation backward passes, a full MLP backward
pass, and the student's own central-difference checker.

Oracles: ``nnref.graph`` for the graph, torch.autograd in float64 for every
gradient.  Shapes are never square (n, n_in and n_out all differ), so a
transposed result cannot pass; batches of one example are included;
ReLU inputs stay at least 0.01 away from its kink.
"""

from __future__ import annotations

import numpy as np

from autograder import oracles
from autograder.assignments.shared import mlp_by_hand, mlp_oracle, torch_activation
from autograder.checks import assert_close, call, describe, fail, field, named, to_array, to_scalar, unpack
from autograder.parts import Parts
from nnref import graph
from nnref.activations import sigmoid

PARTS = Parts()
W_POINT = (2.0, 3.0)
SHAPES = ((1, 4, 3), (5, 3, 2), (7, 4, 6), (3, 5, 2))  # (n, n_in, n_out), all different


def _nodes(values, name: str, nodes) -> dict:
    return {node: to_scalar(field(values, name, node), f'{name}["{node}"]') for node in nodes}


@PARTS.add("test_graph_forward", points=1, uses=("graph_by_hand",))
def check_graph_forward(values):
    """The value of every node at w = (2, 3)."""
    got = _nodes(values, "GRAPH_VALUES", ("a", "b", "c", "g"))
    ref = graph.forward(*W_POINT)
    formulas = {"a": "w₁³", "b": "a·w₂", "c": "3w₁", "g": "b + c"}
    for node, formula in formulas.items():
        if not np.isclose(got[node], ref[node]):
            raise AssertionError(f'GRAPH_VALUES["{node}"] is {got[node]:g}; node {node} = {formula} at w = (2, 3) '
                                 "is something else: evaluate the nodes in order, each from the ones before it")


@PARTS.add("test_graph_backward", points=2, uses=("graph_by_hand",))
def check_graph_backward(adjoints):
    """The adjoint ∂g/∂node of every node at w = (2, 3)."""
    got = _nodes(adjoints, "GRAPH_ADJOINTS", ("g", "b", "c", "a", "w2", "w1"))
    ref = graph.backward(graph.forward(*W_POINT))
    hints = {
        "g": "the backward pass starts from ∂g/∂g = 1",
        "b": "g = b + c, so ∂g/∂b = ∂g/∂g · 1",
        "c": "g = b + c, so ∂g/∂c = ∂g/∂g · 1",
        "a": "b = a·w₂, so ∂g/∂a = ∂g/∂b · w₂ (the other factor of the product, at its value)",
        "w2": "b = a·w₂, so ∂g/∂w₂ = ∂g/∂b · a",
        "w1": "w₁ feeds two nodes: add the two paths, ∂g/∂a · 3w₁² (through a) + ∂g/∂c · 3 (through c)",
    }
    for node, hint in hints.items():
        if not np.isclose(got[node], ref[node]):
            raise AssertionError(f'GRAPH_ADJOINTS["{node}"] is {got[node]:g}, which is not ∂g/∂{node} at w = (2, 3). '
                                 f"Hint: {hint}.")


@oracles.cached
def graph_oracle(w1, w2):
    return oracles.value_and_grad(lambda w1, w2: w1**3 * w2 + 3 * w1, {"w1": w1, "w2": w2}, wrt=("w1", "w2"))


@PARTS.add("test_graph_gradient", points=1, uses=("g_gradient",))
def check_graph_gradient(g_gradient):
    """∇g at several points, the lecture's (2, 3) first."""
    rng = np.random.default_rng(700)
    points = [W_POINT] + [tuple(float(v) for v in rng.uniform(-3, 3, 2)) for _ in range(4)]
    for w1, w2 in points:
        d1, d2 = unpack(call(g_gradient, "g_gradient(w1, w2)", w1=w1, w2=w2), "g_gradient(w1, w2)", ("dw1", "dw2"))
        ref = graph_oracle(w1, w2)
        got = np.array([to_scalar(d1, "∂g/∂w1"), to_scalar(d2, "∂g/∂w2")])
        assert_close(got, np.array([ref["dw1"], ref["dw2"]]), "(∂g/∂w1, ∂g/∂w2) from g_gradient",
                     case=f"w = ({w1:.4g}, {w2:.4g})",
                     mistakes={"the path through c = 3w₁ is missing from ∂g/∂w₁": [3 * w1**2 * w2, w1**3],
                               "the path through a is missing from ∂g/∂w₁": [3.0, w1**3]})


def dense_case(seed):
    """X, W, b and grad_out of shape case ``SHAPES[seed]``."""
    n, n_in, n_out = SHAPES[seed]
    rng = np.random.default_rng(800 + seed)
    return {"X": rng.standard_normal((n, n_in)), "W": rng.standard_normal((n_out, n_in)),
            "b": rng.standard_normal(n_out), "grad_out": rng.standard_normal((n, n_out))}


@oracles.cached
def dense_oracle(X, W, b, grad_out):
    """v = X Wᵀ + b and the gradients of ⟨grad_out, v⟩."""
    return oracles.value_and_grad(lambda X, W, b: X @ W.T + b, {"X": X, "W": W, "b": b}, wrt=("X", "W", "b"),
                                  grad_out=grad_out)


@PARTS.add("test_dense_forward", points=2, uses=("dense_forward",))
def check_dense_forward(dense_forward):
    for seed in range(len(SHAPES)):
        c = dense_case(seed)
        got = to_array(call(dense_forward, "dense_forward(X, W, b)", X=c["X"], W=c["W"], b=c["b"]),
                       "dense_forward(X, W, b)")
        ref = dense_oracle(c["X"], c["W"], c["b"], c["grad_out"])
        assert_close(got, ref["value"], "dense_forward(X, W, b)", case=describe(X=c["X"], W=c["W"], b=c["b"]),
                     mistakes={"the bias is missing": c["X"] @ c["W"].T,
                               "the bias is subtracted": c["X"] @ c["W"].T - c["b"]})


def _dense_backward(dense_backward, seed, component):
    c = dense_case(seed)
    out = call(dense_backward, "dense_backward(grad_out, X, W)", grad_out=c["grad_out"], X=c["X"], W=c["W"])
    parts = dict(zip(("dX", "dW", "db"), unpack(out, "dense_backward(grad_out, X, W)", ("dX", "dW", "db"))))
    return c, to_array(parts[component], f"{component} from dense_backward"), dense_oracle(
        c["X"], c["W"], c["b"], c["grad_out"])


@PARTS.add("test_dense_dx", points=2, uses=("dense_backward",))
def check_dense_dx(dense_backward):
    """∂L/∂X = grad_out W, shape (n, n_in)."""
    for seed in range(len(SHAPES)):
        c, got, ref = _dense_backward(dense_backward, seed, "dX")
        assert_close(got, ref["dX"], "dX from dense_backward",
                     case=describe(grad_out=c["grad_out"], X=c["X"], W=c["W"]), batch_size=c["X"].shape[0])


@PARTS.add("test_dense_dW", points=2, uses=("dense_backward",))
def check_dense_dW(dense_backward):
    """∂L/∂W = grad_outᵀ X, shape (n_out, n_in) like W."""
    for seed in range(len(SHAPES)):
        c, got, ref = _dense_backward(dense_backward, seed, "dW")
        assert_close(got, ref["dW"], "dW from dense_backward",
                     case=describe(grad_out=c["grad_out"], X=c["X"], W=c["W"]), batch_size=c["X"].shape[0])


@PARTS.add("test_dense_db", points=1, uses=("dense_backward",))
def check_dense_db(dense_backward):
    """∂L/∂b = Σᵢ grad_outᵢ, shape (n_out,): a sum over the batch."""
    for seed in range(len(SHAPES)):
        c, got, ref = _dense_backward(dense_backward, seed, "db")
        assert_close(got, ref["db"], "db from dense_backward",
                     case=describe(grad_out=c["grad_out"], X=c["X"], W=c["W"]), batch_size=c["X"].shape[0])


def _activation_cases():
    cases = []
    for seed, shape in enumerate(((1, 4), (5, 3), (6, 7))):
        rng = np.random.default_rng(900 + seed)
        v = 2.0 * rng.standard_normal(shape)
        v = np.where(np.abs(v) < 0.01, v + 0.05 * np.sign(v + 1e-12), v)  # away from the kink of ReLU
        cases.append((v, rng.standard_normal(shape)))
    return cases


@oracles.cached
def activation_oracle(name, v, grad_out):
    act = torch_activation(name)
    return oracles.value_and_grad(lambda v: act(v), {"v": v}, wrt=("v",), grad_out=grad_out)


def _activation_mistakes(name, v, g):
    if name == "sigmoid":
        s, s2 = sigmoid(np, v), sigmoid(np, sigmoid(np, v))
        return {named("output_derivative",
                      "the derivative is taken at the output, σ'(σ(v)), instead of at the pre-activation v"):
                g * s2 * (1 - s2),
                "v·(1 − v): v is the pre-activation, not the output σ(v)": g * v * (1 - v),
                "σ(1 + σ) instead of σ(1 − σ)": g * s * (1 + s)}
    if name == "tanh":
        t = np.tanh(v)
        return {named("output_derivative",
                      "the derivative is taken at the output, 1 − tanh²(tanh v), instead of at the pre-activation v"):
                g * (1 - np.tanh(t) ** 2),
                "1 − v²: v is the pre-activation, not the output tanh(v)": g * (1 - v**2),
                "1 − tanh(v) instead of 1 − tanh²(v)": g * (1 - t)}
    return {"the mask is taken from grad_out instead of v": g * (g > 0),
            "the mask alone: multiply it by grad_out": (v > 0).astype(float),
            "the mask is inverted (v < 0)": g * (v < 0)}


def _check_activation(fn, name):
    for v, g in _activation_cases():
        got = to_array(call(fn, f"{name}_backward(grad_out, v)", grad_out=g, v=v), f"{name}_backward(grad_out, v)")
        mistakes = {named("missing_derivative",
                          "missing activation derivative: grad_out returned unchanged"): g,
                    **_activation_mistakes(name, v, g)}
        assert_close(got, activation_oracle(name, v, g)["dv"], f"{name}_backward(grad_out, v)",
                     case=describe(grad_out=g, v=v), mistakes=mistakes)


@PARTS.add("test_sigmoid_backward", points=1, uses=("sigmoid_backward",))
def check_sigmoid_backward(sigmoid_backward):
    _check_activation(sigmoid_backward, "sigmoid")


@PARTS.add("test_tanh_backward", points=1, uses=("tanh_backward",))
def check_tanh_backward(tanh_backward):
    _check_activation(tanh_backward, "tanh")


@PARTS.add("test_relu_backward", points=1, uses=("relu_backward",))
def check_relu_backward(relu_backward):
    _check_activation(relu_backward, "relu")


MLP_CASES = ((6, (4, 5, 3, 2)), (1, (3, 6, 4, 2)), (7, (5, 3, 4, 2)))  # (n, sizes)


def mlp_case(seed):
    """X, y and [(W, b), ...] of network ``MLP_CASES[seed]``."""
    n, sizes = MLP_CASES[seed]
    rng = np.random.default_rng(1000 + seed)
    params = [(rng.standard_normal((m, k)) / np.sqrt(k), 0.5 * rng.standard_normal(m))
              for k, m in zip(sizes[:-1], sizes[1:])]
    return rng.standard_normal((n, sizes[0])), rng.standard_normal((n, sizes[-1])), params


def _mlp(mlp_loss_and_grads, seed):
    X, y, params = mlp_case(seed)
    out = call(mlp_loss_and_grads, "mlp_loss_and_grads(X, y, params)", X=X, y=y, params=params)
    loss, grads = unpack(out, "mlp_loss_and_grads(X, y, params)", ("loss", "grads"))
    if type(grads) not in (list, tuple) or len(grads) != len(params):
        fail(f"grads must be a list with one (dW, db) pair per layer ({len(params)} layers), got "
                             f"{type(grads).__name__}" + (f" of length {len(grads)}" if type(grads) in (list, tuple)
                                                          else ""), "wrong_type")
    pairs = [unpack(pair, f"grads[{i}]", ("dW", "db")) for i, pair in enumerate(grads)]
    ref = mlp_oracle(X, y, [W for W, _ in params], [b for _, b in params], "tanh")
    case = f"X {X.shape}, y {y.shape}, layer sizes {[X.shape[1]] + [W.shape[0] for W, _ in params]}, tanh hidden"
    return X, y, params, loss, pairs, ref, case


def _check_layer_grads(X, y, params, pairs, ref, case, layers):
    wrong = {name: mlp_by_hand(X, y, params, "tanh", name) for name in ("none", "output")}
    labels = {"none": named("missing_derivative",
                            "missing activation derivative: the hidden layers' tanh'(u) is left out"),
              "output": named("output_derivative",
                              "derivative at the output: 1 − tanh²(h) with h = tanh(u) instead of 1 − tanh²(u)")}
    for i in layers:
        for j, name in enumerate(("dW", "db")):
            got = to_array(pairs[i][j], f"grads[{i}] {name}")
            mistakes = {labels[k]: wrong[k][i][j] for k in wrong}
            assert_close(got, ref[f"d{name[1]}{i}"], f"{name} of layer {i + 1} (grads[{i}][{j}])", case=case,
                         batch_size=X.shape[0], mistakes=mistakes)


@PARTS.add("test_mlp_loss", points=1,
           uses=("mlp_loss_and_grads", "dense_forward", "dense_backward", "tanh_backward"))
def check_mlp_loss(mlp_loss_and_grads):
    """L = (1/n) Σᵢ ½‖uᵢ − yᵢ‖² at the network's output."""
    for seed in range(len(MLP_CASES)):
        X, y, params, loss, pairs, ref, case = _mlp(mlp_loss_and_grads, seed)
        assert_close(to_scalar(loss, "the loss"), ref["value"], "the loss from mlp_loss_and_grads", case=case,
                     batch_size=X.shape[0])


@PARTS.add("test_mlp_grad_output", points=1,
           uses=("mlp_loss_and_grads", "dense_forward", "dense_backward", "tanh_backward"))
def check_mlp_grad_output(mlp_loss_and_grads):
    """The gradients of the last (linear) layer."""
    for seed in range(len(MLP_CASES)):
        X, y, params, loss, pairs, ref, case = _mlp(mlp_loss_and_grads, seed)
        _check_layer_grads(X, y, params, pairs, ref, case, [len(params) - 1])


@PARTS.add("test_mlp_grad_hidden", points=2,
           uses=("mlp_loss_and_grads", "dense_forward", "dense_backward", "tanh_backward"))
def check_mlp_grad_hidden(mlp_loss_and_grads):
    """The gradients of the hidden layers: the chain rule through tanh."""
    for seed in range(len(MLP_CASES)):
        X, y, params, loss, pairs, ref, case = _mlp(mlp_loss_and_grads, seed)
        _check_layer_grads(X, y, params, pairs, ref, case, range(len(params) - 1))


def _test_functions():
    """Smooth scalar functions of an array, written once for NumPy and torch: (name, f(x, xp), x)."""
    rng = np.random.default_rng(1100)
    C, D, B = rng.standard_normal((3, 4)), rng.standard_normal((3, 4)), rng.standard_normal((3, 5))
    A = rng.standard_normal((4, 6))

    def f1(x, xp):
        return xp.sum(xp.sin(x) * xp.asarray(C)) + 0.5 * xp.sum(x**3 * xp.asarray(D))

    def f2(x, xp):
        return xp.log(xp.sum(xp.exp(xp.asarray(A) @ x)))

    def f3(x, xp):
        return xp.sum(xp.tanh(x @ xp.asarray(B)) ** 2)

    return [("f(X) = Σ sin(X)⊙C + ½ Σ X³⊙D", f1, rng.standard_normal((3, 4))),
            ("f(x) = log Σ exp(A x)", f2, rng.standard_normal(6)),
            ("f(X) = Σ tanh(X B)²", f3, rng.standard_normal((2, 3)))]


@oracles.cached
def numgrad_oracle(index, x):
    _, f, _ = _test_functions()[index]
    t = oracles.torch()

    class TorchNamespace:
        sum, sin, log, exp, tanh = t.sum, t.sin, t.log, t.exp, t.tanh

        @staticmethod
        def asarray(a):
            return t.tensor(a, dtype=t.float64)

    return oracles.value_and_grad(lambda x: f(x, TorchNamespace), {"x": x}, wrt=("x",))


class _Function:
    """The grader's f handed to the student's checker: checks the shape it receives."""

    def __init__(self, f, shape):
        self.f, self.shape = f, shape

    def __call__(self, x):
        if type(x) is not np.ndarray or x.shape != self.shape:
            raise ValueError(f"f must be called with an array of shape {self.shape} like x, got {np.shape(x)}")
        return float(self.f(np.array(x, dtype=np.float64), np))


@PARTS.add("test_numerical_gradient", points=2, uses=("numerical_gradient",))
def check_numerical_gradient(numerical_gradient):
    """Central differences (f(x + h eᵢ) − f(x − h eᵢ)) / 2h for every entry, against torch.autograd."""
    h = 1e-4
    for index, (name, f, x) in enumerate(_test_functions()):
        plain = _Function(f, x.shape)
        got = to_array(call(numerical_gradient, "numerical_gradient(f, x, h)", f=plain, x=x, h=h),
                       "numerical_gradient(f, x, h)")
        forward = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            step = np.zeros_like(x)
            step[i] = h
            forward[i] = (plain(x + step) - plain(x)) / h
        everything = (plain(x + h) - plain(x - h)) / (2 * h)
        assert_close(got, numgrad_oracle(index, x)["dx"], "numerical_gradient(f, x, h)",
                     case=f"{name}, x of shape {x.shape}, h = {h}", rtol=1e-6, atol=1e-7,
                     mistakes={"forward differences (f(x + h) − f(x)) / h: their error is of order h, central "
                               "differences are accurate to order h²": forward,
                               "every entry perturbed at once: perturb one entry at a time":
                                   np.full(x.shape, everything)})
