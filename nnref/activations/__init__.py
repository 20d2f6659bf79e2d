"""Activations and the registry that the tests walk.

``ACTIVATIONS`` maps a name to its class; ``get_activation("relu")`` or
``get_activation("leaky_relu", negative_slope=0.1)`` builds one, and an
instance passes through unchanged.
"""

from __future__ import annotations

from .base import Activation
from .rectifiers import ELU, SELU, AbsRect, CReLU, LeakyReLU, Maxout, PReLU, ReLU, RReLU
from .smooth import HardTanh, Identity, Sigmoid, Softmax, Softplus, Tanh, log_softmax, sigmoid, softplus

ACTIVATIONS: dict[str, type[Activation]] = {
    cls.name: cls
    for cls in (
        Identity, Sigmoid, Tanh, HardTanh, Softplus, Softmax,
        ReLU, LeakyReLU, PReLU, RReLU, ELU, SELU, CReLU, AbsRect, Maxout,
    )
}


def get_activation(spec, **kwargs) -> Activation:
    """An activation from its registry name (or an instance, returned as is)."""
    if isinstance(spec, Activation):
        if kwargs:
            raise TypeError("keyword arguments are only accepted with an activation name")
        return spec
    if not isinstance(spec, str) or spec not in ACTIVATIONS:
        raise ValueError(f"unknown activation {spec!r}; known: {', '.join(sorted(ACTIVATIONS))}")
    return ACTIVATIONS[spec](**kwargs)


__all__ = [
    "ACTIVATIONS", "Activation", "get_activation", "sigmoid", "softplus", "log_softmax",
    "Identity", "Sigmoid", "Tanh", "HardTanh", "Softplus", "Softmax",
    "ReLU", "LeakyReLU", "PReLU", "RReLU", "ELU", "SELU", "CReLU", "AbsRect", "Maxout",
]
