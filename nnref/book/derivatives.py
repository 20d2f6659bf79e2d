"""Checks that the chapters run in cells hidden from readers (tag ``remove-cell``).

Every derivative a chapter computes by hand (gradient, Jacobian, Hessian, in
the prose's formulas or in plotting and widget code) is compared here with
central differences of the function it differentiates, so that a wrong
formula stops the book build instead of printing wrong numbers.
"""

from __future__ import annotations

import numpy as np

from .. import gradcheck

# Central differences with nnref's default step in float64 (h = ∛ε·max(1, |x|), about
# 6e-6) have a truncation error of order h² |f'''| and a round-off error of order
# ε |f| / h: for the smooth, O(1)-to-O(100) functions of the chapters both stay below
# 1e-7 of the derivative's scale, so 1e-6 relative (plus 1e-8 absolute, for derivatives
# that vanish) separates a right formula from any wrong one.
RTOL, ATOL = 1e-6, 1e-8


def assert_derivatives_match(f, derivative, points) -> None:
    """Assert ``derivative(x)`` = ∂f/∂x at every point, for f with scalar or vector values.

    For vector-valued ``f`` (a gradient), ``derivative`` is its Jacobian (a
    Hessian), compared row by row.  Raises AssertionError naming the point,
    the output component, the hand-written and the numerical values.
    """
    for point in points:
        x = np.array(point, dtype=float)
        value = np.asarray(f(x), dtype=float)
        expected = np.asarray(derivative(x), dtype=float)
        for i in np.ndindex(value.shape):
            numerical = gradcheck.central_difference(lambda t, i=i: float(np.asarray(f(t))[i]), x)
            written = expected[i] if value.shape else expected
            written = np.broadcast_to(written, numerical.shape)
            if not np.allclose(written, numerical, rtol=RTOL, atol=ATOL):
                component = f"component {i} of " if value.shape else ""
                raise AssertionError(
                    f"the derivative of {component}{getattr(f, '__name__', 'f')} at x = {x.tolist()} "
                    f"is written as {written.tolist()}, central differences give {numerical.tolist()}"
                )


# Two float64 computations of one derivative (by hand, and by torch.autograd or
# nnref's backward pass) differ by round-off only: a few dozen operations, each
# within 1.1e-16 relative, so 1e-10 relative leaves a wide margin and still
# catches any wrong term.
SAME_RTOL, SAME_ATOL = 1e-10, 1e-12


def assert_same(what: str, by_hand, oracle) -> None:
    """Assert that a derivative computed by hand equals the oracle's up to float64 round-off."""
    by_hand, oracle = np.asarray(by_hand, dtype=float), np.asarray(oracle, dtype=float)
    if by_hand.shape != oracle.shape:
        raise AssertionError(f"{what}: by hand has shape {by_hand.shape}, the oracle {oracle.shape}")
    if not np.allclose(by_hand, oracle, rtol=SAME_RTOL, atol=SAME_ATOL):
        worst = np.unravel_index(np.argmax(np.abs(by_hand - oracle)), by_hand.shape)
        raise AssertionError(
            f"{what}: by hand {by_hand[worst]!r} at index {tuple(map(int, worst))}, oracle {oracle[worst]!r}"
        )
