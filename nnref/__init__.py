"""nnref: the reference implementation of the course on neural-network foundations.

One API over two array backends (NumPy, and torch on CPU or CUDA), with every
backward pass written by hand.  See ``nnref.backend`` for how the backend is
chosen and switched.
"""

from .activations import ACTIVATIONS, get_activation
from .backend import asarray, get_backend, make_rng, namespace, to_numpy, try_gpu, use_backend
from .layers import Dense, Dropout, Residual, Sequential
from .losses import LOSSES, get_loss
from .module import Module
from .normalization import BatchNorm1d

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS", "LOSSES", "BatchNorm1d", "Dense", "Dropout", "Module", "Residual", "Sequential",
    "asarray", "get_activation", "get_backend", "get_loss", "make_rng", "namespace",
    "to_numpy", "try_gpu", "use_backend",
]
