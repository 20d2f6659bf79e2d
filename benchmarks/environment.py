"""The machine, the versions, and one thread count for NumPy's BLAS and torch.

A comparison of NumPy with torch is only fair when both use the same number
of threads.  threadpoolctl reads and sets the BLAS pool when it is
installed; without it (as in this project's requirements), the OpenBLAS
that NumPy wheels ship is asked directly through its exported
``*_get_num_threads`` / ``*_set_num_threads`` functions, and failing that
the environment variables are read.  torch is then set to match.
"""

from __future__ import annotations

import ctypes
import datetime
import glob
import os
import platform
import sys
from pathlib import Path

import numpy as np


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def blas_threads() -> tuple[int | None, str]:
    """NumPy's BLAS thread count and how it was found out."""
    try:
        import threadpoolctl

        for pool in threadpoolctl.threadpool_info():
            if pool.get("user_api") == "blas":
                return int(pool["num_threads"]), f"threadpoolctl ({pool.get('internal_api')})"
    except ImportError:
        pass
    libs = glob.glob(os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs", "*openblas*"))
    for path in libs:
        lib = ctypes.CDLL(path)
        for symbol in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                       "openblas_get_num_threads"):
            getter = getattr(lib, symbol, None)
            if getter is not None:
                return int(getter()), f"{symbol} from {os.path.basename(path)} (threadpoolctl not installed)"
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if os.environ.get(var):
            return int(os.environ[var]), f"${var} (threadpoolctl not installed)"
    return None, "unknown (threadpoolctl not installed, no OpenBLAS symbol found)"


def set_blas_threads(n: int) -> str:
    """Set NumPy's BLAS pool to ``n`` threads; say how (threadpoolctl or OpenBLAS itself)."""
    try:
        import threadpoolctl

        threadpoolctl.threadpool_limits(limits=n, user_api="blas")
        return "threadpoolctl"
    except ImportError:
        pass
    libs = glob.glob(os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs", "*openblas*"))
    for path in libs:
        lib = ctypes.CDLL(path)
        for symbol in ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_",
                       "openblas_set_num_threads"):
            setter = getattr(lib, symbol, None)
            if setter is not None:
                setter(ctypes.c_int(n))
                return symbol
    raise RuntimeError(f"cannot set NumPy's BLAS threads to {n}: no threadpoolctl and no OpenBLAS setter found")


def idle_cores() -> int:
    """Cores not busy with other work: CPU count minus the 1-minute load average, at least 1."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return max(1, int((os.cpu_count() or 1) - load))


def match_threads(requested: int | str = "auto") -> dict:
    """One thread count for NumPy's BLAS and for torch; return what was done and why.

    ``"auto"`` keeps NumPy's default but never more threads than idle cores:
    on a shared machine an over-subscribed BLAS pool spends its time waiting
    for its own descheduled threads, and that wait lands on whichever
    library happens to be running, which no ratio can cancel.
    """
    default, source = blas_threads()
    if requested == "auto":
        idle = idle_cores()
        threads = min(default or idle, idle)
        reason = f"auto: NumPy's default {default} capped at {idle} idle core(s) (load {os.getloadavg()[0]:.1f})"
    else:
        threads = int(requested)
        if threads < 1:
            raise ValueError(f"threads must be >= 1 or 'auto', got {requested!r}")
        reason = "requested with --threads"
    info = {"threads": threads, "reason": reason, "numpy_blas_default": default,
            "numpy_blas_default_source": source}
    if threads != default:
        info["numpy_blas_set_with"] = set_blas_threads(threads)
    info["numpy_blas_threads"] = blas_threads()[0]
    try:
        import torch
    except ImportError:
        info["torch_threads"] = None
        return info
    torch.set_num_threads(threads)
    info["torch_threads"] = torch.get_num_threads()
    return info


def versions() -> dict:
    """Versions of Python and of every package the benchmarks touch."""
    out = {"python": sys.version.split()[0], "numpy": np.__version__}
    for name in ("torch", "array_api_compat", "jupyter_book", "myst_nb", "sphinx", "nnref"):
        try:
            module = __import__(name)
            out[name] = getattr(module, "__version__", "unknown")
        except ImportError:
            out[name] = None
    blas = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
    out["numpy_blas"] = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    return out


def gpu() -> dict | None:
    """The CUDA device torch sees, or None."""
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    props = torch.cuda.get_device_properties(0)
    return {"name": props.name, "memory_gib": round(props.total_memory / 2**30, 1),
            "capability": f"{props.major}.{props.minor}", "cuda": torch.version.cuda}


def machine() -> dict:
    """Where the numbers were taken."""
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "gpu": gpu(),
    }


def now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
