"""The scalar computational graph of the lectures: g(w) = w₁³w₂ + 3w₁.

Nodes, in evaluation order::

    a = w₁³        b = a·w₂        c = 3w₁        g = b + c

The backward pass visits them in reverse, each node adding its local
derivative times the adjoint of its output (the chain rule), and gives
∇g = (3w₁²w₂ + 3, w₁³) = (39, 8) at w = (2, 3).
"""

from __future__ import annotations

NODES = ("w1", "w2", "a", "b", "c", "g")
EDGES = (("w1", "a"), ("a", "b"), ("w2", "b"), ("w1", "c"), ("b", "g"), ("c", "g"))


def forward(w1: float, w2: float) -> dict:
    """The value of every node."""
    a = w1**3
    b = a * w2
    c = 3 * w1
    return {"w1": w1, "w2": w2, "a": a, "b": b, "c": c, "g": b + c}


def backward(values: dict) -> dict:
    """The adjoint ∂g/∂node of every node, computed in reverse order."""
    adj = {"g": 1.0}
    adj["b"] = adj["g"] * 1.0
    adj["c"] = adj["g"] * 1.0
    adj["a"] = adj["b"] * values["w2"]
    adj["w2"] = adj["b"] * values["a"]
    adj["w1"] = adj["a"] * 3 * values["w1"] ** 2 + adj["c"] * 3
    return adj


def backward_steps(values: dict) -> list[tuple[str, dict]]:
    """The backward pass one node at a time (for stepping through it in the book)."""
    final = backward(values)
    order = ("g", "b", "c", "a", "w2", "w1")
    return [(node, {k: final[k] for k in order[: i + 1]}) for i, node in enumerate(order)]


def gradient(w1: float, w2: float) -> tuple[float, float]:
    """∇g(w) by the backward pass."""
    adj = backward(forward(w1, w2))
    return adj["w1"], adj["w2"]
