"""Ratings to preferences, preferences to ALS confidences (pure numpy).

Bucket edges (a rating r falls in the first bucket whose upper edge it does not exceed):

================  ==========  ===========  ==========
rating (0.5-5.0)  rating 1-5  bucket       preference
================  ==========  ===========  ==========
0.5 - 2.0         1, 2        1 (hate)     -2
2.5 - 3.0         3           2 (dislike)  -1
3.5 - 4.0         4           3 (like)     +1
4.5 - 5.0         5           4 (love)     +2
================  ==========  ===========  ==========

The app's swipe scale is the bucket itself (1-4). MovieLens' mean rating is about 3.5,
so a 3.0 ("average") counts as mild dislike and only 3.5 and above count as liked.

Confidence follows Hu, Koren & Volinsky (2008) with a signed preference:
``C = 1 + alpha * |p|``; a negative preference means "not liked" (p = 0) held with
confidence C. implicit's solvers read a negative stored value exactly this way, so the
matrix stores ``sign(p) * (1 + alpha * |p|)``.
"""
from __future__ import annotations

import numpy as np
import numpy.typing as npt

# C = 1 + alpha |p| and bucket -> preference: one definition each, in the online core
# (schemas imports bucket_to_preference from there; re-exported here for offline callers)
from online.preference import PREFERENCE_OF_BUCKET, bucket_to_preference, confidence

__all__ = ["BUCKET_UPPER_EDGES", "PREFERENCE_OF_BUCKET", "bucket_to_preference", "confidence",
           "rating_to_bucket", "rating_to_preference", "stored_value"]

# Upper edges of buckets 1, 2 and 3; anything above the last edge is bucket 4.
BUCKET_UPPER_EDGES: tuple[float, float, float] = (2.0, 3.0, 4.0)


def rating_to_bucket(rating: npt.ArrayLike) -> npt.NDArray[np.int8]:
    """Map ratings (any shape; 0.5-5.0 or 1-5 scale) to buckets 1-4."""
    r = np.asarray(rating, dtype=np.float32)
    # bucket = 1 + number of upper edges strictly below r
    return (1 + np.searchsorted(np.asarray(BUCKET_UPPER_EDGES, np.float32), r, side="left")).astype(np.int8)


def rating_to_preference(rating: npt.ArrayLike) -> npt.NDArray[np.int8]:
    """Ratings to preferences -2, -1, +1, +2."""
    return bucket_to_preference(rating_to_bucket(rating))


def stored_value(preference: npt.ArrayLike, alpha: float) -> npt.NDArray[np.float32]:
    """Matrix value implicit reads: sign(p) * (1 + alpha * |p|)."""
    p = np.asarray(preference, dtype=np.float32)
    return (np.sign(p) * confidence(p, alpha)).astype(np.float32)
