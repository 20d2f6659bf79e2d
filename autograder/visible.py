# The checks under each answer: run your function on copies of public inputs, compare, and say what is wrong.
#
# Run this cell once; the test cells below use it.  You need not read it, but you may: it is NumPy only.
# `run_on_copies` calls a function on copies of its inputs, reports an input it modified in place, and
# says in one line when the function (or one it needs) is not written yet.  `expect_close` and
# `expect_equal` compare a result with the expected value and say which output is wrong, how wrong and
# where, and the common mistake it matches: transposed, sign flipped, off by the batch size or by a constant
# factor, wrong rows, a wrong shape, or a mistake named by the test.  The graders' own checks give their
# verdicts with the same rules, on other cases.
#
# Tolerance: |received - expected| <= rtol |expected| + atol max(1, max |expected|), rtol = 1e-5 and
# atol = 1e-6 by default: float32 arithmetic passes, each of the mistakes above fails.

import copy

import numpy as np  # noqa: F811 - in the notebooks, the setup cell imports it too

RTOL = 1e-5
ATOL = 1e-6


class named_mistake(str):  # noqa: N801 - used like str, as a key of `mistakes`
    """A common mistake's description with its code: `named_mistake("sign_flipped", "ascent, not descent")`."""

    def __new__(cls, code, text):
        self = super().__new__(cls, text)
        self.code = code
        return self


def mistake_code(description):
    """The code of a named mistake; `named` for a plain description."""
    return getattr(description, "code", "named")


def check_failed(message, code, kind=AssertionError):
    """The error a check raises (an `AssertionError` unless `kind` says otherwise): `message` for the student,
    the mistake's `code` beside it."""
    error = kind(message)
    error.mistake = code
    return error


def side_by_side(a, b):
    """`a` and `b` with the fewest significant digits, at least 6, that print them differently.

    A message that reports two numbers as different must not print them alike ("changed from 0.0332191 to
    0.0332191"); 17 digits tell any two float64 values apart.
    """
    a, b = float(a), float(b)
    digits = next((d for d in range(6, 17) if f"{a:.{d}g}" != f"{b:.{d}g}"), 17)
    return f"{a:.{digits}g}", f"{b:.{digits}g}"


def close_entries(received, expected, rtol=RTOL, atol=ATOL):
    """The closeness rule, entry by entry (see the tolerance above)."""
    scale = max(1.0, float(np.max(np.abs(expected)))) if expected.size else 1.0
    return np.abs(received - expected) <= rtol * np.abs(expected) + atol * scale


def all_entries_close(received, expected, rtol=RTOL, atol=ATOL):
    return received.shape == expected.shape and bool(np.all(close_entries(received, expected, rtol, atol)))


def shape_verdict(received, expected):
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


def named_verdict(matches):
    """(code, sentence) for the named mistakes a result matches: the first one's code."""
    if not matches:
        return "other", ""
    return mistake_code(matches[0]), "This matches a common mistake: " + "; or ".join(matches) + "."


def mistake_verdict(received, expected, rtol=RTOL, atol=ATOL, batch_size=None, mistakes=None):
    """(mistake code, sentence) for a wrong result of the right shape."""
    matches = [name for name, alternative in (mistakes or {}).items()
               if all_entries_close(received, np.asarray(alternative, dtype=np.float64), rtol, atol)
               and not all_entries_close(np.asarray(alternative, dtype=np.float64), expected, rtol, atol)]
    if matches:
        return named_verdict(matches)
    if not np.any(expected):
        return "other", "Every entry should be zero."
    if all_entries_close(received, -expected, rtol, atol):
        return "sign_flipped", "This matches a common mistake: the sign is flipped."
    if batch_size and batch_size > 1:
        if all_entries_close(received, batch_size * expected, rtol, atol):
            return "batch_factor", (f"This matches a common mistake: off by the batch size, every entry is "
                                    f"n = {batch_size} times too large (a sum where the mean over the batch was "
                                    "needed).")
        if all_entries_close(received, expected / batch_size, rtol, atol):
            return "batch_factor", (f"This matches a common mistake: off by the batch size, every entry is "
                                    f"n = {batch_size} times too small (a mean where the sum over the batch was "
                                    "needed).")
    square = received.ndim == 2 and received.shape[0] == received.shape[1]
    if square and all_entries_close(received, expected.T, rtol, atol):
        return "transposed", "This matches a common mistake: the result is transposed."
    if not np.any(received):
        return "other", "Every entry you returned is zero."
    factor = float(np.sum(received * expected) / np.sum(expected * expected))
    if abs(factor - 1) > 1e-3 and all_entries_close(received, factor * expected, rtol, atol):
        return "constant_factor", f"Every entry is off by the same factor {factor:.4g}: a missing or extra constant?"
    return where_wrong(received, expected, rtol, atol)


def where_wrong(received, expected, rtol=RTOL, atol=ATOL):
    """(code, sentence) naming the rows, entries or columns that are wrong, when only some are."""
    bad = ~close_entries(received, expected, rtol, atol)
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


def close_verdict(received, expected, what, *, case="", rtol=RTOL, atol=ATOL, batch_size=None, mistakes=None):
    """`None` when the float64 array `received` is close to `expected`; else (mistake code, message).

    `case` describes the inputs; `batch_size` enables the sum-versus-mean diagnosis; `mistakes` maps
    the description of a common mistake to the result that mistake would produce.
    """
    expected = np.asarray(expected, dtype=np.float64)
    where = f" (inputs: {case})" if case else ""
    if received.shape != expected.shape:
        code, hint = shape_verdict(received.shape, expected.shape)
        return code, f"{what} has shape {received.shape}, expected {expected.shape}{where}: {hint}."
    finite = np.isfinite(received)
    if not finite.all():
        index = tuple(int(i) for i in np.argwhere(~finite)[0])
        return "not_finite", (f"{what} contains {int((~finite).sum())} NaN or infinite values, the first "
                              f"{float(received[index])} at index {index}{where}: an overflow, or 0/0 or log(0)? "
                              "Use a numerically stable formula.")
    close = close_entries(received, expected, rtol, atol)
    if close.all():
        return None
    floor = atol * max(1.0, float(np.max(np.abs(expected))))
    error = np.abs(received - expected)
    index = np.unravel_index(int(np.argmax(np.where(close, -np.inf, error / (np.abs(expected) + floor)))),
                             received.shape)
    index = tuple(int(i) for i in index)
    if abs(expected[index]) > floor:
        size = f"the largest relative error is {error[index] / abs(expected[index]):.3g}"
    else:
        size = f"the largest error is {error[index]:.3g} where 0 is expected"
    code, diagnosis = mistake_verdict(received, expected, rtol, atol, batch_size, mistakes)
    wanted, got = side_by_side(expected[index], received[index])
    return code, (f"{what} is wrong{where}: {int((~close).sum())} of {close.size} entries differ; {size} at index "
                  f"{index} (expected {wanted}, received {got}). {diagnosis}").rstrip()


def equal_verdict(received, expected, what, *, case="", labels=None, mistakes=None):
    """`None` when the float64 array `received` equals `expected` exactly (0/1 outputs, booleans,
    counts); else (mistake code, message).  `labels` names the entries for messages."""
    expected = np.asarray(expected, dtype=np.float64)
    where = f" (inputs: {case})" if case else ""
    if received.shape != expected.shape:
        code, hint = shape_verdict(received.shape, expected.shape)
        return code, f"{what} has shape {received.shape}, expected {expected.shape}{where}: {hint}."
    wrong = np.flatnonzero((received != expected).reshape(-1))
    if not wrong.size:
        return None
    matches = [name for name, alternative in (mistakes or {}).items()
               if np.array_equal(np.asarray(alternative, dtype=np.float64), received)
               and not np.array_equal(np.asarray(alternative, dtype=np.float64), expected)]
    code, hint = named_verdict(matches)
    hint = " " + hint if hint else ""
    if not hint and np.array_equal(received, 1 - expected):
        code, hint = "sign_flipped", " Every entry is inverted."
    i = int(wrong[0])
    label = f" for {labels[i]}" if labels is not None else f" at index {i}"
    wanted, got = side_by_side(expected.reshape(-1)[i], received.reshape(-1)[i])
    return code, (f"{what} is wrong{where}: {wrong.size} of {expected.size} entries differ; the first{label}: "
                  f"expected {wanted}, received {got}.{hint}")


def arrays_inside(value, label):
    """The arrays in `value` (itself, or inside its lists, tuples and dicts), each with where it is."""
    if isinstance(value, np.ndarray):
        return [(label, value)]
    if type(value) in (list, tuple):
        return [found for i, item in enumerate(value) for found in arrays_inside(item, f"{label}[{i}]")]
    if type(value) is dict:
        return [found for key, item in value.items() for found in arrays_inside(item, f"{label}[{key!r}]")]
    return []


def in_place_verdict(what, originals, copies):
    """`None` when the function `what` left every input as it was (`originals` and the `copies` it
    was given, by argument name); else (`in_place`, message)."""
    for name, original in originals.items():
        if callable(original):
            continue
        before, after = arrays_inside(original, name), arrays_inside(copies[name], name)
        if [label for label, _ in before] != [label for label, _ in after]:
            return "in_place", f"{what} modified its input {name} in place (its items were replaced); work on a copy"
        for (label, old), (_, changed) in zip(before, after):
            if type(changed) is not np.ndarray or changed.shape != old.shape or not np.array_equal(
                    changed, old, equal_nan=True):
                return "in_place", (f"{what} modified its input {label} in place{first_change(old, changed)}; work "
                                    f"on a copy (e.g. {name} = {name}.copy(), or write y = a * b instead of a *= b)")
    return None


def first_change(original, changed):
    """` (entry (i, j) changed from a to b)` for messages; empty when the shapes differ."""
    if type(changed) is not np.ndarray or changed.shape != original.shape:
        return ""
    index = np.argwhere(~((changed == original) | (np.isnan(changed) & np.isnan(original))))[0]
    index = tuple(int(i) for i in index)
    before, after = side_by_side(original[index], changed[index])
    return f" (entry {index} changed from {before} to {after})"


def shapes_of(**values):
    """`X (3, 5), W (4, 5)`: the shapes of a case's arrays, for messages."""
    return ", ".join(f"{k} {tuple(np.shape(v))}" for k, v in values.items() if isinstance(v, np.ndarray))


def innermost_function(error, namespace):
    """The name of the innermost function defined in `namespace` (this notebook) that `error` passed."""
    name, frame = None, error.__traceback__
    while frame is not None:
        code = frame.tb_frame.f_code
        if frame.tb_frame.f_globals is namespace and not code.co_name.startswith("<"):
            name = code.co_name
        frame = frame.tb_next
    return name


def run_on_copies(function, /, *, returns=None, **inputs):
    """`function(**inputs)` called on copies of the inputs (positionally, in the order given).

    Says in one line when `function`, or a function it calls, is not written yet (a `NotImplementedError`) or
    raises (an `AssertionError`), and when it modifies an input in place.  `returns` names the items of a
    returned tuple, e.g. `("dX", "dW")`: the result is then checked to be such a tuple.
    """
    what = f"{getattr(function, '__name__', 'the function')}({', '.join(inputs)})"
    if not callable(function):
        raise check_failed(f"{what} must be a function, got {type(function).__name__}", "wrong_type")
    copies = {name: value if callable(value) else copy.deepcopy(value) for name, value in inputs.items()}
    failure = None
    try:
        with np.errstate(all="ignore"):
            result = function(*copies.values())
    except NotImplementedError as error:
        inner = innermost_function(error, getattr(function, "__globals__", None)) or function.__name__
        needs = f"`{function.__name__}` needs `{inner}`, which" if inner != function.__name__ else f"`{inner}`"
        failure = (f"{needs} is not written yet: replace `raise NotImplementedError()` in its cell with your code",
                   "not_implemented", NotImplementedError)
    except Exception as error:  # any failure of the student's code, named in one line
        inner = innermost_function(error, getattr(function, "__globals__", None))
        inside = f", in `{inner}`" if inner and inner != function.__name__ else ""
        failure = (f"{what} raised {type(error).__name__}{inside}: {error} (inputs: {shapes_of(**inputs)})",
                   "crashed", AssertionError)
    if failure is not None:
        raise check_failed(*failure) from None
    verdict = in_place_verdict(what, inputs, copies)
    if verdict is not None:
        raise check_failed(verdict[1], verdict[0])
    return result if returns is None else expect_items(result, what, returns)


def expect_items(value, what, names):
    """The items of a returned tuple (or list, or 1-D array), after checking its type and length."""
    if type(value) is np.ndarray and value.ndim == 1 and len(value) == len(names):
        return tuple(value)
    if type(value) not in (tuple, list) or len(value) != len(names):
        got = f"a {type(value).__name__} of length {len(value)}" if type(value) in (tuple, list) else (
            f"a {type(value).__name__}")
        raise check_failed(f"{what} must return a tuple ({', '.join(names)}), got {got}", "wrong_type")
    return tuple(value)


def expect_entry(mapping, what, key):
    """`mapping[key]`, with a one-line message when `mapping` (named `what`) has no such entry yet."""
    if type(mapping) is not dict:
        raise check_failed(f"{what} must be a dict, got {type(mapping).__name__}", "wrong_type")
    if key not in mapping:
        raise check_failed(f"{what} has no entry {key!r} yet", "not_implemented")
    return mapping[key]


def as_float_array(value, what):
    """`value` as a float64 array, or a one-line message saying why it is not numbers."""
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        array = None
    if array is None or value is None:
        kind = type(value).__name__
        hint = ": did you forget to return it?" if value is None else ""
        raise check_failed(f"{what} must be a NumPy array or a number, got {kind}{hint}", "wrong_type")
    return array


def one_number(array, what):
    """The float in a 0-d or one-entry array, or a one-line message."""
    if array.size != 1:
        raise check_failed(f"{what} must be a single number, got an array of shape {array.shape}", "wrong_shape")
    return float(array.reshape(()))


def expect_number(value, what):
    """`value` as one float (a 0-d or one-entry array is accepted too), or a one-line message."""
    return one_number(as_float_array(value, what), what)


def expect_close(received, expected, what, *, case="", batch_size=None, mistakes=None, rtol=RTOL, atol=ATOL):
    """Passes when `received` is close to `expected`; else says what is wrong (see the top of this cell).

    `case` describes the inputs, `batch_size` (the number of examples) enables the sum-versus-mean
    diagnosis, `mistakes` maps the description of a common mistake to the result it would give.
    """
    verdict = close_verdict(as_float_array(received, what), expected, what, case=case, rtol=rtol, atol=atol,
                            batch_size=batch_size, mistakes=mistakes)
    if verdict is not None:
        raise check_failed(verdict[1], verdict[0])


def expect_equal(received, expected, what, *, case="", labels=None, mistakes=None):
    """Passes when `received` equals `expected` exactly (0/1 outputs, counts); else says what is wrong."""
    verdict = equal_verdict(as_float_array(received, what), expected, what, case=case, labels=labels, mistakes=mistakes)
    if verdict is not None:
        raise check_failed(verdict[1], verdict[0])
