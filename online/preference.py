"""Signed preferences and their ALS confidence (pure numpy).

A swipe (or a rating's bucket) is a signed preference in {-2, -1, +1, +2}: bucket 1 (hate)
-2, 2 (dislike) -1, 3 (like) +1, 4 (love) +2. Confidence
follows Hu, Koren & Volinsky (2008): ``C = 1 + alpha * |p|``; a negative preference means
"not liked" (p = 0) held with confidence C.
"""
from __future__ import annotations

import numpy as np
import numpy.typing as npt

VALID_PREFERENCES: frozenset[int] = frozenset((-2, -1, 1, 2))
PREFERENCE_OF_BUCKET: dict[int, int] = {1: -2, 2: -1, 3: 1, 4: 2}
_PREF_LOOKUP = np.array([0, -2, -1, 1, 2], dtype=np.int8)  # index = bucket

# True at the uint8 bit patterns of int8 -2, -1, 1, 2: one lookup validates a preference array
_VALID_LOOKUP = np.zeros(256, dtype=bool)
_VALID_LOOKUP[np.array([-2, -1, 1, 2], dtype=np.int8).view(np.uint8)] = True


def confidence(preference: npt.ArrayLike, alpha: float) -> npt.NDArray[np.float32]:
    """C = 1 + alpha * |p|  (float32, same shape as ``preference``)."""
    return (1.0 + alpha * np.abs(np.asarray(preference, dtype=np.float32))).astype(np.float32)


def bucket_to_preference(bucket: npt.ArrayLike) -> npt.NDArray[np.int8]:
    """Map buckets 1-4 to preferences -2, -1, +1, +2. Raises on a bucket outside 1-4."""
    b = np.asarray(bucket)
    if b.size and (b.min() < 1 or b.max() > 4):
        raise ValueError(f"bucket outside 1-4: min={b.min()}, max={b.max()}")
    return _PREF_LOOKUP[b.astype(np.int64)]


def all_valid(preferences: npt.NDArray[np.int8]) -> bool:
    """True when every entry of an int8 array is one of -2, -1, 1, 2."""
    return bool(_VALID_LOOKUP[np.ascontiguousarray(preferences, dtype=np.int8).view(np.uint8)].all())


def int_list(values: npt.ArrayLike | list[int], dtype: npt.DTypeLike = np.int64) -> list[int]:
    """``values`` (movie indices or preferences) as a flat list of ints; a list is returned as
    it is (the one-user paths read a few dozen entries in Python, cheaper than numpy calls)."""
    return values if isinstance(values, list) else np.asarray(values, dtype=dtype).ravel().tolist()
