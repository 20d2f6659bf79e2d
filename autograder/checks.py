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

Tolerance: |received − expected| ≤ rtol·|expected| + atol·max(1, max|expected|),
with rtol = 1e-5 and atol = 1e-6 by default.  That absorbs float32
arithmetic (machine epsilon 1.2e-7, summed over tens of terms), which the
exercises allow, and rejects every mistake above: each changes entries by a
relative amount of order one.
"""

from __future__ import annotations

import copy
from typing import NoReturn

import numpy as np

from .mistakes import check_code

RTOL = 1e-5
ATOL = 1e-6

_SCALARS = (bool, int, float, np.bool_, np.int32, np.int64, np.float32, np.float64)
_NUMBER_KINDS = "biuf"


class named(str):  # noqa: N801 - used like str, as a key of a check's ``mistakes``
    """The description of a common mistake, with its code: ``named("sign_flipped", "gradient ascent ...")``."""

    def __new__(cls, code: str, text: str):
        self = super().__new__(cls, text)
        self.code = check_code(code)
        return self


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


def _code_of(description) -> str:
    return getattr(description, "code", "named")


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
    array = to_array(value, what)
    if array.size != 1:
        fail(f"{what} must be a single number, got an array of shape {array.shape}", "wrong_shape")
    return float(array.reshape(()))


def unpack(value, what: str, names: tuple[str, ...]) -> tuple:
    """The items of a returned tuple (or list, or 1-D array), after checking its type and length."""
    if type(value) is np.ndarray and value.ndim == 1 and len(value) == len(names):
        return tuple(value)
    if type(value) not in (tuple, list) or len(value) != len(names):
        got = f"a {type(value).__name__} of length {len(value)}" if type(value) in (tuple, list) else (
            f"a {type(value).__name__}")
        fail(f"{what} must return a tuple ({', '.join(names)}), got {got}", "wrong_type")
    return tuple(value)


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
    for name, original in arguments.items():
        if callable(original):
            continue
        before, after = _arrays(original, name), _arrays(copies[name], name)
        if [label for label, _ in before] != [label for label, _ in after]:
            fail(f"{what} modified its input {name} in place (its items were replaced); work on a copy",
                 "in_place")
        for (label, old), (_, changed) in zip(before, after):
            if type(changed) is not np.ndarray or changed.shape != old.shape or not np.array_equal(
                    changed, old, equal_nan=True):
                fail(f"{what} modified its input {label} in place{_first_change(old, changed)}; "
                     f"work on a copy (e.g. {name} = {name}.copy(), or write y = a * b instead of a *= b)",
                     "in_place")
    return result


def _arrays(value, label: str) -> list[tuple[str, np.ndarray]]:
    """The arrays in ``value`` (itself, or inside its lists, tuples and dicts), each with where it is."""
    if isinstance(value, np.ndarray):
        return [(label, value)]
    if type(value) in (list, tuple):
        return [found for i, item in enumerate(value) for found in _arrays(item, f"{label}[{i}]")]
    if type(value) is dict:
        return [found for key, item in value.items() for found in _arrays(item, f"{label}[{key!r}]")]
    return []


def _first_change(original, changed) -> str:
    if type(changed) is not np.ndarray or changed.shape != original.shape:
        return ""
    index = np.argwhere(~((changed == original) | (np.isnan(changed) & np.isnan(original))))[0]
    index = tuple(int(i) for i in index)
    before, after = side_by_side(original[index], changed[index])
    return f" (entry {index} changed from {before} to {after})"


def side_by_side(a, b) -> tuple[str, str]:
    """``a`` and ``b`` with the fewest significant digits, at least 6, that print them differently.

    A message that reports two numbers as different must not print them
    alike ("changed from 0.0332191 to 0.0332191"); 17 digits tell any two
    float64 values apart.
    """
    a, b = float(a), float(b)
    digits = next((d for d in range(6, 17) if f"{a:.{d}g}" != f"{b:.{d}g}"), 17)
    return f"{a:.{digits}g}", f"{b:.{digits}g}"


def _close(received, expected, rtol, atol) -> np.ndarray:
    scale = max(1.0, float(np.max(np.abs(expected)))) if expected.size else 1.0
    return np.abs(received - expected) <= rtol * np.abs(expected) + atol * scale


def _all_close(received, expected, rtol, atol) -> bool:
    return received.shape == expected.shape and bool(np.all(_close(received, expected, rtol, atol)))


def _shape_diagnosis(received: tuple, expected: tuple) -> tuple[str, str]:
    """(mistake code, likely cause) of a wrong shape."""
    received, expected = tuple(received), tuple(expected)
    if len(received) == 2 and received == expected[::-1]:
        return "transposed", "it looks transposed (weights W have shape (n_out, n_in), a batch X has shape (n, n_in))"
    if len(received) == len(expected) >= 2:
        off = [i for i, (r, e) in enumerate(zip(received, expected)) if r != e]
        if len(off) == 1 and abs(received[off[0]] - expected[off[0]]) == 1:
            return "wrong_shape", f"axis {off[0]} is off by one"
    if received == ():
        return "wrong_shape", "you returned a single number: did you sum over every axis?"
    if int(np.prod(received)) == int(np.prod(expected)):
        return "wrong_shape", ("the right number of entries in the wrong shape: check your reshape, flatten or "
                               "axis order")
    try:
        joint = np.broadcast_shapes(received, expected)
    except ValueError:
        joint = None
    if joint == received and int(np.prod(received)) > int(np.prod(expected)):
        return "broadcast", ("more entries than expected: a silent broadcast, e.g. an (n,) array combined with an "
                             "(n, 1) array gives (n, n)")
    if len(received) < len(expected):
        return "wrong_shape", "an axis is missing: a reduction over the wrong axis, or a keepdims/reshape needed"
    return "wrong_shape", "check which axis you reduce over and the order of the matrix product"


def _named(matches: list[str]) -> tuple[str, str]:
    """(code, sentence) for the named mistakes a result matches: the first one's code."""
    if not matches:
        return "other", ""
    return _code_of(matches[0]), "This matches a common mistake: " + "; or ".join(matches) + "."


def _diagnose(received, expected, rtol, atol, batch_size, mistakes) -> tuple[str, str]:
    """(mistake code, sentence) for a wrong result of the right shape."""
    matches = [name for name, alternative in (mistakes or {}).items()
               if _all_close(received, np.asarray(alternative, dtype=np.float64), rtol, atol)
               and not _all_close(np.asarray(alternative, dtype=np.float64), expected, rtol, atol)]
    if matches:
        return _named(matches)
    if not np.any(expected):
        return "other", "Every entry should be zero."
    if _all_close(received, -expected, rtol, atol):
        return "sign_flipped", "This matches a common mistake: the sign is flipped."
    if batch_size and batch_size > 1:
        if _all_close(received, batch_size * expected, rtol, atol):
            return "batch_factor", (f"This matches a common mistake: off by the batch size, every entry is "
                                    f"n = {batch_size} times too large (a sum where the mean over the batch was "
                                    "needed).")
        if _all_close(received, expected / batch_size, rtol, atol):
            return "batch_factor", (f"This matches a common mistake: off by the batch size, every entry is "
                                    f"n = {batch_size} times too small (a mean where the sum over the batch was "
                                    "needed).")
    if received.ndim == 2 and received.shape[0] == received.shape[1] and _all_close(received, expected.T, rtol, atol):
        return "transposed", "This matches a common mistake: the result is transposed."
    if not np.any(received):
        return "other", "Every entry you returned is zero."
    factor = float(np.sum(received * expected) / np.sum(expected * expected))
    if abs(factor - 1) > 1e-3 and _all_close(received, factor * expected, rtol, atol):
        return "constant_factor", f"Every entry is off by the same factor {factor:.4g}: a missing or extra constant?"
    return _locate(received, expected, rtol, atol)


def _locate(received, expected, rtol, atol) -> tuple[str, str]:
    bad = ~_close(received, expected, rtol, atol)
    if received.ndim == 1 and received.shape[0] > 1:
        entries = np.flatnonzero(bad)
        if len(entries) < bad.shape[0]:
            return "wrong_rows", f"Only entries {entries.tolist()} (of {bad.shape[0]}) are wrong."
    if received.ndim >= 2 and received.shape[0] > 1:
        rows = np.flatnonzero(bad.reshape(bad.shape[0], -1).any(axis=1))
        if len(rows) < bad.shape[0]:
            return "wrong_rows", f"Only rows {rows.tolist()} (of {bad.shape[0]}) are wrong."
    if received.ndim == 2 and received.shape[1] > 1:
        cols = np.flatnonzero(bad.any(axis=0))
        if len(cols) < bad.shape[1]:
            return "other", f"Only columns {cols.tolist()} (of {bad.shape[1]}) are wrong."
    return "other", ""


def _same_shape(received, expected, what: str, case: str):
    """Both as float64 arrays, with a message when their shapes differ."""
    received = to_array(received, what) if type(received) is not np.ndarray else received.astype(np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    where = f" (inputs: {case})" if case else ""
    if received.shape != expected.shape:
        code, hint = _shape_diagnosis(received.shape, expected.shape)
        fail(f"{what} has shape {received.shape}, expected {expected.shape}{where}: {hint}.", code)
    return received, expected, where


def assert_close(received, expected, what: str, *, case: str = "", rtol: float = RTOL, atol: float = ATOL,
                 batch_size: int | None = None, mistakes: dict | None = None) -> None:
    """Compare a student's result (already converted by :func:`to_array`) with the oracle.

    ``case`` describes the inputs (see :func:`describe`); ``batch_size``
    enables the sum-versus-mean diagnosis; ``mistakes`` maps the description
    of a common mistake to the array that mistake would produce.
    """
    received, expected, where = _same_shape(received, expected, what, case)
    finite = np.isfinite(received)
    if not finite.all():
        index = tuple(int(i) for i in np.argwhere(~finite)[0])
        fail(f"{what} contains {int((~finite).sum())} NaN or infinite values, the first "
             f"{float(received[index])} at index {index}{where}: an overflow, or 0/0 or log(0)? "
             "Use a numerically stable formula.", "not_finite")
    close = _close(received, expected, rtol, atol)
    if close.all():
        return
    floor = atol * max(1.0, float(np.max(np.abs(expected))))
    error = np.abs(received - expected)
    index = np.unravel_index(int(np.argmax(np.where(close, -np.inf, error / (np.abs(expected) + floor)))),
                             received.shape)
    index = tuple(int(i) for i in index)
    if abs(expected[index]) > floor:
        size = f"the largest relative error is {error[index] / abs(expected[index]):.3g}"
    else:
        size = f"the largest error is {error[index]:.3g} where 0 is expected"
    code, diagnosis = _diagnose(received, expected, rtol, atol, batch_size, mistakes)
    wanted, got = side_by_side(expected[index], received[index])
    fail(f"{what} is wrong{where}: {int((~close).sum())} of {close.size} entries differ; {size} at index {index} "
         f"(expected {wanted}, received {got}). {diagnosis}".rstrip(), code)


def assert_equal(received, expected, what: str, *, case: str = "", labels=None, mistakes: dict | None = None) -> None:
    """Exact comparison for discrete results (0/1 outputs, booleans, counts).

    ``labels`` names the entries for messages (e.g. the input bits of a
    truth table); ``mistakes`` maps the description of a common mistake to
    the result that mistake would produce.
    """
    received, expected, where = _same_shape(received, expected, what, case)
    wrong = np.flatnonzero((received != expected).reshape(-1))
    if not wrong.size:
        return
    matches = [name for name, alternative in (mistakes or {}).items()
               if np.array_equal(np.asarray(alternative, dtype=np.float64), received)
               and not np.array_equal(np.asarray(alternative, dtype=np.float64), expected)]
    code, hint = _named(matches)
    hint = " " + hint if hint else ""
    if not hint and np.array_equal(received, 1 - expected):
        code, hint = "sign_flipped", " Every entry is inverted."
    i = int(wrong[0])
    label = f" for {labels[i]}" if labels is not None else f" at index {i}"
    wanted, got = side_by_side(expected.reshape(-1)[i], received.reshape(-1)[i])
    fail(f"{what} is wrong{where}: {wrong.size} of {expected.size} entries differ; the first{label}: "
         f"expected {wanted}, received {got}.{hint}", code)
