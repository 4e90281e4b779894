"""Exact scoring and top-N selection: the one place the stream, the API and the
evaluation rank movies, so the selection can be swapped (pure numpy/scipy).

On a 2-core machine an exact top-N over ~27k movies is bound by the selection, not by the
product (see BENCHMARKS.md), so ``top_n`` works in row blocks that stay in cache.
"""
from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

_BLOCK_ROWS = 256


def score(user_vectors: npt.NDArray[np.float32], item_factors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Scores (b, n_movies) float32 = U (b, k) @ Y (n_movies, k)ᵀ."""
    return np.asarray(user_vectors, dtype=np.float32) @ item_factors.T


def mask_excluded(scores: npt.NDArray[np.float32], exclude: sp.csr_matrix | None) -> None:
    """Set scores of excluded (row, movie) pairs to -inf in place. ``exclude``: (b, n_movies) CSR."""
    if exclude is None or exclude.nnz == 0:
        return
    rows = np.repeat(np.arange(exclude.shape[0]), np.diff(exclude.indptr))
    scores[rows, exclude.indices] = -np.inf


def top_n(
    scores: npt.NDArray[np.float32], n: int, exclude: sp.csr_matrix | None = None
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """The n best movies per row, best first.

    Args:
        scores: (b, n_movies) float32; modified in place where ``exclude`` masks it.
        n: list length; capped at n_movies.
        exclude: (b, n_movies) CSR of movies never to return (e.g. already seen).
    Returns:
        indices (b, n) int64 and scores (b, n) float32. Where a row has fewer than n
        eligible movies the tail holds index -1 and score -inf.
    """
    b, n_movies = scores.shape
    n = min(n, n_movies)
    mask_excluded(scores, exclude)
    out_idx = np.empty((b, n), dtype=np.int64)
    out_score = np.empty((b, n), dtype=np.float32)
    for start in range(0, b, _BLOCK_ROWS):
        block = scores[start : start + _BLOCK_ROWS]
        if n < n_movies:
            part = np.argpartition(-block, n - 1, axis=1)[:, :n]
        else:
            part = np.broadcast_to(np.arange(n_movies), block.shape).copy()
        part_scores = np.take_along_axis(block, part, axis=1)
        order = np.argsort(-part_scores, axis=1, kind="stable")
        out_idx[start : start + len(block)] = np.take_along_axis(part, order, axis=1)
        out_score[start : start + len(block)] = np.take_along_axis(part_scores, order, axis=1)
    out_idx[~np.isfinite(out_score)] = -1
    return out_idx, out_score


def recommend(
    user_vectors: npt.NDArray[np.float32],
    item_factors: npt.NDArray[np.float32],
    n: int,
    exclude: sp.csr_matrix | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Exact top-n by dot product: ``top_n(score(U, Y), n, exclude)``."""
    return top_n(score(user_vectors, item_factors), n, exclude)
