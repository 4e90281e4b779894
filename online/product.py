"""The one matrix product every list is ranked from: scores of a batch of users over the
catalogue (pure numpy).

``U @ Y^T`` with few rows is slow in OpenBLAS's sgemm: it packs all of Y (7 MB at 27k
movies x 64 factors) for a handful of rows. Measured (``bench/product.py``, one BLAS thread,
µs per user; AMD EPYC, OpenBLAS; BENCHMARKS.md section 4): 1 row 289 (numpy uses gemv),
2 rows 704, 4 rows 299, 16 rows 90, 64 rows 43. The tall product ``Y @ U^T`` and a
transposing copy cost 326, 156, 80 and 201 at 2, 4, 16 and 64 rows: better from 2 to
``TALL_MAX_ROWS`` rows, worse above.
The two orders round differently in the last bits: compare their lists tie-aware.
"""
from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
TALL_MAX_ROWS = 16
"""Largest batch scored as ``(Y @ U^T)^T`` (``bench/product.py``: the crossover lies at 16-20)."""


def dot_scores(user_vectors: npt.ArrayLike, item_factors: FloatArray) -> FloatArray:
    """(b, n_movies) C-contiguous float32 ``U @ Y^T`` for (b, k) users and (n_movies, k) Y."""
    u = np.asarray(user_vectors, dtype=np.float32)
    if 1 < len(u) <= TALL_MAX_ROWS:
        # (Y U^T)^T: one tall product, then a transposing copy (C order for the row-wise selection)
        return np.ascontiguousarray((item_factors @ u.T).T)
    return u @ item_factors.T
