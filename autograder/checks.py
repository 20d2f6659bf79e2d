"""Comparing a student's results with the grader's oracles, with diagnostics a student can act on.

The trust boundary is here.  Student code is called through :func:`call`,
which hands it copies of the inputs and notices when it modifies them in
place; what it returns is accepted only as an exact ``np.ndarray`` or a
plain number (or a list, tuple or dict of those) and converted by
:func:`to_array` into a fresh float64 array.  Nothing made by student code
is compared with its own ``==``: comparisons run on those copies.

:func:`assert_close` then compares with an oracle and, on failure, raises an
``AssertionError`` saying which output is wrong, the largest relative error
and where, and the common mistake the values match when they match one:
transposed, sign flipped, off by the batch size, a named mistake the caller
computed (missing activation derivative, derivative at the output ...),
a wrong shape or a silent broadcast, NaN or infinite values.

Every verdict carries a mistake code (:mod:`autograder.mistakes`) beside
its message, as the ``mistake`` attribute of the ``AssertionError``
(:func:`fail`, read back by :func:`mistake_of`): the grader stores it with
each part's result, and ``python -m autograder stats`` counts it.  A named
mistake of a room's check is a :func:`named` description: its own code,
or ``named`` when a plain string.

The rules of the diagnosis (the tolerance, the shape and mistake verdicts,
the messages) live in :mod:`autograder.visible`, a NumPy-only module whose
source is also the helper cell of every notebook, so that the visible tests
under each answer diagnose with the very same rules; this module adds the
trust boundary and the validation of mistake codes.  Tolerance:
|received − expected| ≤ rtol·|expected| + atol·max(1, max|expected|), with
rtol = 1e-5 and atol = 1e-6 by default.  That absorbs float32 arithmetic
(machine epsilon 1.2e-7, summed over tens of terms), which the exercises
allow, and rejects every mistake above: each changes entries by a relative
amount of order one.
"""

from __future__ import annotations

import copy
from typing import NoReturn

import numpy as np

from .mistakes import check_code
from .visible import (  # noqa: F401 - RTOL, ATOL and side_by_side are part of this module's interface
    ATOL,
    RTOL,
    close_verdict,
    equal_verdict,
    expect_items,
    in_place_verdict,
    named_mistake,
    one_number,
    side_by_side,
)

_SCALARS = (bool, int, float, np.bool_, np.int32, np.int64, np.float32, np.float64)
_NUMBER_KINDS = "biuf"


class named(named_mistake):  # noqa: N801 - used like str, as a key of a check's ``mistakes``
    """The description of a common mistake, with its code: ``named("sign_flipped", "gradient ascent ...")``."""

    def __new__(cls, code: str, text: str):
        return super().__new__(cls, check_code(code), text)


def fail(message: str, mistake: str, cause: BaseException | None = None) -> NoReturn:
    """Raise a check's verdict: an ``AssertionError`` with ``message`` for the student and the code of the
    ``mistake`` it matches (:data:`autograder.mistakes.CODES`) as its ``mistake`` attribute; ``cause``, the
    student's own exception, is chained to it."""
    error = AssertionError(message)
    error.mistake = check_code(mistake)
    raise error from cause


def mistake_of(error: BaseException) -> str:
    """The mistake code a failed check carries; ``other`` for an assertion raised without one."""
    return getattr(error, "mistake", "other")


class UnusableResult(Exception):
    """Raised by a stand-in for the student's function when what it returned cannot be read at all (too
    large, too many items, not data); the message says why, and :func:`call` reports it for that part."""


def describe(**arrays) -> str:
    """``X (3, 5), W (4, 5)``: the shapes of a case, for messages."""
    return ", ".join(f"{k} {tuple(np.shape(v))}" for k, v in arrays.items())


def to_array(value, what: str) -> np.ndarray:
    """A float64 copy of a student's result, accepting only plain numbers and arrays.

    Accepted: an exact ``np.ndarray`` of a numeric dtype, a Python or NumPy
    scalar, or a list or tuple of those.  Subclasses, tensors, objects with a
    custom ``__eq__`` and everything else are refused with a message.
    """
    kind = type(value)
    if kind is np.ndarray:
        if value.dtype.kind not in _NUMBER_KINDS:
            fail(f"{what} has dtype {value.dtype}; return an array of numbers", "wrong_type")
        return np.array(value, dtype=np.float64, copy=True)
    if kind in _SCALARS:
        try:
            return np.array(float(value), dtype=np.float64)
        except OverflowError:
            fail(f"{what} is an integer too large for a float ({len(str(abs(value)))} digits); "
                 "return a NumPy array or a float", "wrong_type")
    if kind in (list, tuple):
        items = [to_array(item, f"{what}[{i}]") for i, item in enumerate(value)]
        if len({item.shape for item in items}) > 1:
            fail(f"{what} is a ragged {kind.__name__}: its items have different shapes", "wrong_shape")
        return np.array(items, dtype=np.float64).reshape((len(items),) + (items[0].shape if items else ()))
    fail(f"{what} must be a NumPy array or a number, got {kind.__module__}.{kind.__name__} "
         "(arrays of bool, int or float of at most 64 bits)", "wrong_type")


def to_scalar(value, what: str) -> float:
    """A student's single number (a 0-d or one-entry array is accepted too)."""
    return one_number(to_array(value, what), what)


def unpack(value, what: str, names: tuple[str, ...]) -> tuple:
    """The items of a returned tuple (or list, or 1-D array), after checking its type and length
    (:func:`autograder.visible.expect_items`, which the visible tests use too)."""
    return expect_items(value, what, names)


def field(value, what: str, key: str):
    """``value[key]`` for a returned dict, after checking that it is a plain dict with that key."""
    if type(value) is not dict:
        fail(f"{what} must be a dict, got {type(value).__name__}", "wrong_type")
    if key not in value:
        fail(f"{what} has no entry {key!r}; its keys are {sorted(map(str, value))}", "wrong_type")
    return value[key]


def call(fn, what: str, **arguments):
    """``fn(*arguments.values())`` on copies; refuses a function that edits its inputs.

    ``what`` names the function for messages; the keyword names are the
    argument names the notebook uses.  Exceptions raised by student code are
    re-raised as an ``AssertionError`` that names the function and the case.
    """
    if not callable(fn):
        fail(f"{what} must be a function, got {type(fn).__name__}", "wrong_type")
    # functions handed to student code (the grader's own) are passed as they are, data as copies
    copies = {name: value if callable(value) else copy.deepcopy(value) for name, value in arguments.items()}
    shapes = describe(**{k: v for k, v in arguments.items() if isinstance(v, np.ndarray)})
    try:
        with np.errstate(all="ignore"):
            result = fn(*copies.values())
    except NotImplementedError as error:
        fail(f"{what} is not written yet: it raises NotImplementedError", "not_implemented", error)
    except UnusableResult as error:
        fail(f"{what} returned {error} (inputs: {shapes})", "wrong_type")
    except Exception as error:  # any failure of student code fails the test, with its name
        fail(f"{what} raised {type(error).__name__}: {error} (inputs: {shapes})", "crashed", error)
    verdict = in_place_verdict(what, arguments, copies)
    if verdict is not None:
        fail(verdict[1], verdict[0])
    return result


def _as_float64(received, what: str) -> np.ndarray:
    return to_array(received, what) if type(received) is not np.ndarray else received.astype(np.float64)


def assert_close(received, expected, what: str, *, case: str = "", rtol: float = RTOL, atol: float = ATOL,
                 batch_size: int | None = None, mistakes: dict | None = None) -> None:
    """Compare a student's result (already converted by :func:`to_array`) with the oracle.

    ``case`` describes the inputs (see :func:`describe`); ``batch_size``
    enables the sum-versus-mean diagnosis; ``mistakes`` maps the description
    of a common mistake to the array that mistake would produce.  The verdict
    is :func:`autograder.visible.close_verdict`'s, the rules the visible tests use.
    """
    verdict = close_verdict(_as_float64(received, what), expected, what, case=case, rtol=rtol, atol=atol,
                            batch_size=batch_size, mistakes=mistakes)
    if verdict is not None:
        fail(verdict[1], verdict[0])


def assert_equal(received, expected, what: str, *, case: str = "", labels=None, mistakes: dict | None = None) -> None:
    """Exact comparison for discrete results (0/1 outputs, booleans, counts).

    ``labels`` names the entries for messages (e.g. the input bits of a
    truth table); ``mistakes`` maps the description of a common mistake to
    the result that mistake would produce.
    """
    verdict = equal_verdict(_as_float64(received, what), expected, what, case=case, labels=labels, mistakes=mistakes)
    if verdict is not None:
        fail(verdict[1], verdict[0])
