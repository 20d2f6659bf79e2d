"""Fixtures shared by the suite: the backend (with its device) and the dtype.

Every case is always collected: a torch case without torch, or a CUDA case
without a GPU, is reported as skipped, never silently absent.
"""

from __future__ import annotations

import os

import pytest
from helpers import BACKEND_PARAMS, DTYPES, torch

if torch is not None and os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs one worker per core: torch's own thread pool on top of
    # that oversubscribes the cores and makes small ops many times slower.
    torch.set_num_threads(1)


@pytest.fixture(scope="session", params=BACKEND_PARAMS)
def backend(request) -> str:
    """``"numpy"``, ``"torch-cpu"`` or ``"torch-cuda"``; see ``helpers.to_backend``."""
    return request.param


@pytest.fixture(scope="session", params=DTYPES)
def dtype(request) -> str:
    """``"float32"`` or ``"float64"``."""
    return request.param
