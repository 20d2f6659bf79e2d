"""Hypothesis strategies for the property tests, in one place.

Values are finite floats in stated ranges; arrays are small (a few dozen
entries) so that a property test costs milliseconds per example.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

# moderate example counts: CI has two cores
MAX_EXAMPLES = 60


def floats(low: float, high: float):
    """Finite float64 scalars in [low, high]."""
    return st.floats(low, high, allow_nan=False, allow_infinity=False, width=64)


def arrays(low: float = -50.0, high: float = 50.0, max_rows: int = 4, max_cols: int = 6):
    """float64 matrices of shape (1..max_rows, 1..max_cols) with entries in [low, high]."""
    shapes = st.tuples(st.integers(1, max_rows), st.integers(1, max_cols))
    return hnp.arrays(np.float64, shapes, elements=floats(low, high))


@st.composite
def logits_and_binary_labels(draw, bound: float = 1e4, signed: bool = False):
    """(u, y): logits u (n,) with |u| <= bound, labels in {0, 1} or, if ``signed``, in {-1, +1}."""
    n = draw(st.integers(1, 8))
    u = draw(hnp.arrays(np.float64, n, elements=floats(-bound, bound)))
    t = draw(hnp.arrays(np.float64, n, elements=st.sampled_from([0.0, 1.0])))
    return u, (2 * t - 1 if signed else t)


@st.composite
def logits_and_class_labels(draw, bound: float = 1e4):
    """(z, y): logits z (n, k) with |z| <= bound and integer labels y (n,) in [0, k)."""
    n, k = draw(st.integers(1, 6)), draw(st.integers(2, 5))
    z = draw(hnp.arrays(np.float64, (n, k), elements=floats(-bound, bound)))
    y = draw(hnp.arrays(np.int64, n, elements=st.integers(0, k - 1)))
    return z, y
