"""The one matrix product every list is ranked from: scores of a batch of users over the
catalogue (pure numpy/scipy).

``U @ Y^T`` reads Y (n_movies, k) through its transpose, and OpenBLAS's sgemm then packs all
of Y (7 MB at 27k movies x 64 factors) on every call, which costs most with few rows. A
C-contiguous copy of ``Y^T`` (k, n_movies), made once per item-factor array, is faster at
every batch size from 2 rows (``bench/product.py``, one BLAS thread, µs per user, AMD EPYC,
OpenBLAS; BENCHMARKS.md section 4, issue 11 fifth session): 2 rows 244 against 269 for the
previous choice of order, 8 rows 73 against 93, 16 rows 48 against 79, 32 rows 41 against
61, 128 rows 32 against 38; one row is a matrix-vector product either way (~265).
The orders round differently in the last bits: compare their lists tie-aware.

One row (``one_user_scores``) calls SciPy's BLAS gemv directly on ``Y^T``, an F-ordered view:
its alpha scales the product at no cost (a standardised list ranks ``Y u / sd``), and the
call costs less than numpy's matmul dispatch (BENCHMARKS.md section 5, eleventh session).
"""
from __future__ import annotations

import threading

import numpy as np
import numpy.typing as npt
from scipy.linalg.blas import sgemv

FloatArray = npt.NDArray[np.float32]
KEPT_TRANSPOSES = 4
"""Item-factor arrays whose transposed copy is kept (a champion and a challenger, and the
models they replace, without a copy per call)."""
_transposes: dict[int, tuple[np.ndarray, np.ndarray]] = {}
_lock = threading.Lock()


def transposed(item_factors: np.ndarray) -> np.ndarray:
    """(k, n_movies) C-contiguous ``Y^T`` of (n_movies, k) Y, made once per array (the last
    ``KEPT_TRANSPOSES`` arrays are kept, each with a reference, so that an id is never reused
    while its copy is). Y must not change in place afterwards; no caller changes its factors."""
    hit = _transposes.get(id(item_factors))
    if hit is not None and hit[0] is item_factors:
        return hit[1]
    copy = np.ascontiguousarray(item_factors.T)
    with _lock:
        while len(_transposes) >= KEPT_TRANSPOSES:
            _transposes.pop(next(iter(_transposes)))
        _transposes[id(item_factors)] = (item_factors, copy)
    return copy


def dot_scores(user_vectors: npt.ArrayLike, item_factors: FloatArray) -> FloatArray:
    """(b, n_movies) C-contiguous float32 ``U @ Y^T`` for (b, k) users and (n_movies, k) Y."""
    u = np.asarray(user_vectors, dtype=np.float32)
    if len(u) == 1:  # a matrix-vector product: no copy of Y needed
        return one_user_scores(u[0], item_factors)
    if not len(u):
        return u @ item_factors.T
    return u @ transposed(item_factors)


def one_user_scores(user_vector: FloatArray, item_factors: FloatArray, scale: float = 1.0) -> FloatArray:
    """(1, n_movies) C-contiguous float32 ``scale * Y u`` for one user's (k,) float32 vector u.

    BLAS gemv with ``alpha = scale`` (no pass over u or the scores to scale them) on ``Y^T``,
    an F-ordered view of C-ordered Y (gemv reads it transposed: no copy). Any other Y (a
    strided or float64 one) would be copied whole by SciPy's wrapper: numpy computes it.
    """
    if item_factors.dtype != np.float32 or not item_factors.flags.c_contiguous:
        scores = (np.float32(scale) * np.asarray(user_vector, np.float32))[None, :] @ item_factors.T
        return scores.astype(np.float32, copy=False)
    # positional: alpha, a, x, beta, y, offx, incx, offy, incy, trans (f2py parses them faster than keywords)
    return sgemv(scale, item_factors.T, user_vector, 0.0, None, 0, 1, 0, 1, 1)[None, :]
