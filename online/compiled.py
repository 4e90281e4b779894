"""Where the compiled one-user kernels come from: ``online.kernels`` (numba), imported on
first use so that importing the pure core never loads numba, and None where numba is not
installed (the numpy code then serves every user, to float32 rounding the same)."""
from __future__ import annotations

from functools import cache
from types import ModuleType


@cache
def compiled_kernels() -> ModuleType | None:
    """``online.kernels`` once imported, or None without numba."""
    try:
        from online import kernels
    except ImportError:
        return None
    return kernels


__all__ = ["compiled_kernels"]
