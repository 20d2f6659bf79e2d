"""Fixtures shared by the suite: the backend (with its device) and the dtype.

Every case is always collected: a torch case without torch, or a CUDA case
without a GPU, is reported as skipped, never silently absent.
"""

from __future__ import annotations

import pytest
from helpers import BACKEND_PARAMS, DTYPES


@pytest.fixture(scope="session", params=BACKEND_PARAMS)
def backend(request) -> str:
    """``"numpy"``, ``"torch-cpu"`` or ``"torch-cuda"``; see ``helpers.to_backend``."""
    return request.param


@pytest.fixture(scope="session", params=DTYPES)
def dtype(request) -> str:
    """``"float32"`` or ``"float64"``."""
    return request.param
