"""Signed preferences and their ALS confidence (pure numpy).

A swipe (or a rating's bucket) is a signed preference in {-2, -1, +1, +2}. Confidence
follows Hu, Koren & Volinsky (2008): ``C = 1 + alpha * |p|``; a negative preference means
"not liked" (p = 0) held with confidence C.
"""
from __future__ import annotations

import numpy as np
import numpy.typing as npt

VALID_PREFERENCES: frozenset[int] = frozenset((-2, -1, 1, 2))

# True at the uint8 bit patterns of int8 -2, -1, 1, 2: one lookup validates a preference array
_VALID_LOOKUP = np.zeros(256, dtype=bool)
_VALID_LOOKUP[np.array([-2, -1, 1, 2], dtype=np.int8).view(np.uint8)] = True


def confidence(preference: npt.ArrayLike, alpha: float) -> npt.NDArray[np.float32]:
    """C = 1 + alpha * |p|  (float32, same shape as ``preference``)."""
    return (1.0 + alpha * np.abs(np.asarray(preference, dtype=np.float32))).astype(np.float32)


def all_valid(preferences: npt.NDArray[np.int8]) -> bool:
    """True when every entry of an int8 array is one of -2, -1, 1, 2."""
    return bool(_VALID_LOOKUP[np.ascontiguousarray(preferences, dtype=np.int8).view(np.uint8)].all())
