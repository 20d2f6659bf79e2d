"""The base class of every activation, layer and model.

A module keeps ``forward`` and its hand-written ``backward`` side by side.
``forward`` caches what the backward pass needs; ``backward(grad_out)``
returns the gradient with respect to the input and stores the gradients of
the parameters in ``module.grads`` (same keys as ``module.params``).

Both methods run with torch's autograd switched off: on the torch backend
torch is an array library, the calculus is ours.
"""

from __future__ import annotations

from .backend import asarray, no_grad


def is_weight(name: str) -> bool:
    """Whether the parameter ``name`` is a weight matrix (its last part is ``W``): what weight
    decay and weight constraints act on, never biases or normalisation parameters."""
    return name.split(".")[-1] == "W"


class Module:
    """Forward, backward, parameters and their gradients."""

    training: bool = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in ("forward", "backward"):
            if name in cls.__dict__:
                setattr(cls, name, no_grad(cls.__dict__[name]))

    def __init__(self):
        self.params: dict = {}
        self.grads: dict = {}
        self.training = True

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, x):
        raise NotImplementedError

    def backward(self, grad_out):
        raise NotImplementedError

    def children(self) -> dict[str, Module]:
        """Sub-modules by name (containers override this)."""
        return {}

    def parameters(self) -> dict:
        """All parameters, with dotted names for those of sub-modules."""
        out = dict(self.params)
        for prefix, child in self.children().items():
            out.update({f"{prefix}.{k}": v for k, v in child.parameters().items()})
        return out

    def gradients(self) -> dict:
        """Gradients from the last backward pass, keyed like ``parameters()``."""
        out = dict(self.grads)
        for prefix, child in self.children().items():
            out.update({f"{prefix}.{k}": v for k, v in child.gradients().items()})
        return out

    def set_parameters(self, values: dict) -> None:
        """Replace parameters by name (used by optimisers and projections)."""
        for name, value in values.items():
            head, _, rest = name.partition(".")
            if rest:
                self.children()[head].set_parameters({rest: value})
            elif head in self.params:
                self.params[head] = value
            else:
                raise KeyError(f"{type(self).__name__} has no parameter {name!r}")

    def zero_grad(self) -> None:
        """Forget the gradients of the last backward pass."""
        self.grads = {}
        for child in self.children().values():
            child.zero_grad()

    def train(self, mode: bool = True) -> Module:
        """Training mode (dropout on, RReLU slopes random); returns self."""
        self.training = mode
        for child in self.children().values():
            child.train(mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode; returns self."""
        return self.train(False)

    def to(self, backend=None, device=None, dtype=None) -> Module:
        """Move every parameter to another backend, device or dtype; returns self."""
        self.params = {k: asarray(v, dtype=dtype, backend=backend, device=device) for k, v in self.params.items()}
        self.grads = {}
        for child in self.children().values():
            child.to(backend, device, dtype)
        return self

    def num_parameters(self) -> int:
        """Total number of scalar parameters."""
        total = 0
        for value in self.parameters().values():
            count = 1
            for size in value.shape:
                count *= int(size)
            total += count
        return total

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
