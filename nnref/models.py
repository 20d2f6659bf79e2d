"""The multi-layer perceptron: dense layers in series with activations between.

``MLP([2, 8, 8, 1], activation="relu", output="sigmoid")`` builds
z₁ = x, zⱼ₊₁ = σⱼ(Wⱼ zⱼ + bⱼ), with the last layer linear.  ``forward``
returns the last pre-activation u (the logits); the output function
(identity, sigmoid or softmax) is applied by ``predict`` and, in training,
folded into the matching loss so that ∂L/∂u = (σ(u) − y)/n stays stable.
"""

from __future__ import annotations

from .activations import get_activation
from .layers import Dense, Dropout, Sequential, activation_for
from .losses import BCEWithLogits, SoftmaxCrossEntropy, SquaredError
from .validation import check_array

OUTPUTS = {
    "linear": ("identity", SquaredError),
    "sigmoid": ("sigmoid", BCEWithLogits),
    "softmax": ("softmax", SoftmaxCrossEntropy),
}


class MLP(Sequential):
    """A fully connected network of any depth.

    Arguments: ``sizes`` = [n_in, n_hidden₁, ..., n_out]; ``activation`` one
    name (or activation) for every hidden layer, or a list with one per hidden
    layer; ``output`` in {"linear", "sigmoid", "softmax"}; ``init`` a name from
    ``nnref.init``; ``bias`` the initial bias of the hidden layers (a small
    positive value keeps ReLU units alive at the start); ``dropout`` a
    probability p > 0 inserts inverted dropout after every hidden activation.

    Shapes: X (n, n_in) → u (n, n_out).
    """

    def __init__(self, sizes, activation="relu", output="linear", init="glorot", bias=0.0,
                 dropout=0.0, rng=None, dtype="float64", backend=None, device=None):
        from .backend import make_rng

        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"sizes must list at least an input and an output size, all >= 1, got {sizes}")
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {sorted(OUTPUTS)}, got {output!r}")
        n_hidden = len(sizes) - 2
        if isinstance(activation, (list, tuple)):
            if len(activation) != n_hidden:
                raise ValueError(f"activation lists {len(activation)} entries for {n_hidden} hidden layers")
            activations = list(activation)
        else:
            activations = [activation] * n_hidden
        rng = make_rng(rng)
        modules = []
        for j, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            last = j == len(sizes) - 2
            modules.append(Dense(n_in, n_out, init, 0.0 if last else bias, rng, dtype, backend, device))
            if not last:
                modules.append(activation_for(modules[-1], activations[j]))
                if dropout:
                    modules.append(Dropout(dropout, rng=rng))
        super().__init__(*modules)
        self.sizes = sizes
        self.output = output
        self._output_fn = get_activation(OUTPUTS[output][0])

    @property
    def dense_layers(self) -> list[Dense]:
        """The affine layers W₁, ..., Wₙ in order."""
        return [m for m in self.modules if isinstance(m, Dense)]

    def forward(self, X):
        check_array(X, "X", shape=(None, self.sizes[0]), finite=True)
        return super().forward(X)

    def predict(self, X):
        """ŷ = output(u): the regression value, P(y = 1 | x), or class probabilities."""
        return self._output_fn(self.forward(X))

    def default_loss(self):
        """The loss that maximum likelihood pairs with this output, on logits."""
        return OUTPUTS[self.output][1]()

    def __repr__(self) -> str:
        return f"MLP({self.sizes}, output={self.output!r}, layers={self.modules!r})"
