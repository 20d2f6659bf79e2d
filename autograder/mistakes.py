"""The mistakes a check can name, each with a stable code and the one line students see.

A part that loses points carries one code beside its message: the first
mistake its diagnosis matched, ``not_implemented`` when the function was
left unwritten, ``crashed`` when it raised, and ``other`` when no known
mistake matches.  The codes are data: they are stored with the grade (the
journal, the report), counted by ``python -m autograder stats``, and each
catalogued mutant states the code its diagnosis must carry.  Codes never
change meaning; a new mistake gets a new code.
"""

from __future__ import annotations

CODES: dict[str, str] = {
    "transposed": "the result is transposed: rows and columns swapped",
    "wrong_shape": "the result has the wrong shape (a missing or extra axis, or the wrong length)",
    "broadcast": "a shape mismatch was broadcast silently into a wrong result",
    "sign_flipped": "the sign is flipped: a plus where a minus belongs (often ascent instead of descent)",
    "batch_factor": "off by the batch size: a sum where a mean belongs, or a mean where a sum belongs",
    "constant_factor": "off by a constant factor (a missing 2, ½ or learning rate)",
    "output_derivative": "the activation's derivative taken at its output instead of at the pre-activation",
    "missing_derivative": "the activation's derivative is left out of the backward pass",
    "in_place": "an input was modified in place",
    "not_finite": "the result holds NaN or infinity (an unstable formula overflowed)",
    "wrong_rows": "some rows (examples) are right and others wrong",
    "wrong_order": "the results come in the wrong order",
    "boundary": "the case exactly at a boundary (a threshold, a critical value) is decided the wrong way",
    "named": "a mistake specific to this exercise, named in the message",
    "not_implemented": "the function is not written yet (it still raises NotImplementedError)",
    "crashed": "the function raised an error on the grader's inputs",
    "wrong_type": "the function returned something that is not an array or number",
    "other": "a wrong result that matches none of the known mistakes",
}


def explain(code: str) -> str:
    """The one line students see for ``code`` (an unknown code reads as ``other``)."""
    return CODES.get(code, CODES["other"])


def check_code(code: str) -> str:
    """``code`` itself if it is one of :data:`CODES`; a clear error otherwise."""
    if code not in CODES:
        raise ValueError(f"unknown mistake code {code!r}; known codes: {', '.join(CODES)}")
    return code
