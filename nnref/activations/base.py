"""The element-wise activation: forward, cached input and output, backward."""

from __future__ import annotations

from ..module import Module
from ..validation import check_array, check_same_shape


class Activation(Module):
    """An activation σ applied element by element (unless a subclass says otherwise).

    Subclasses write the formula once in ``_forward(xp, x)`` and its
    derivative right below in ``_backward(xp, x, y, grad_out)``, where
    ``y = σ(x)`` is the cached output (sigmoid and tanh reuse it).

    Shapes: ``x`` any shape; ``forward`` returns ``y`` of the same shape;
    ``backward(grad_out)`` takes ``∂L/∂y`` of ``y``'s shape and returns ``∂L/∂x``.
    """

    name = "activation"

    def __init__(self):
        super().__init__()
        self._cache = None

    def forward(self, x):
        xp = check_array(x, "x")
        y = self._forward(xp, x)
        self._cache = (x, y)
        return y

    def backward(self, grad_out):
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        x, y = self._cache
        xp = check_array(grad_out, "grad_out")
        check_same_shape(grad_out, "grad_out", y, f"the output of {type(self).__name__}")
        return self._backward(xp, x, y, grad_out)

    def derivative(self, x):
        """σ'(x) element by element (for plots and for the vanishing-gradient bounds)."""
        y = self.forward(x)
        xp = check_array(x, "x")
        return self.backward(xp.ones_like(y))

    def _forward(self, xp, x):
        raise NotImplementedError

    def _backward(self, xp, x, y, grad_out):
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
