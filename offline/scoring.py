"""Exact scoring and top-N selection: the one place the stream, the API and the
evaluation rank movies, so the selection can be swapped (pure numpy/scipy).

On a 2-core machine an exact top-N over ~27k movies is bound by the selection, not by the
product (``bench/scoring.py``): ``np.argpartition`` moves every (score, index) pair of a
row. ``top_n`` instead bounds each row's n-th best score from below by the n-th largest of
the maxima of groups of its scores (one vectorised ``max`` pass over the block), then sorts
only the few scores at or above that bound (12.6x the selection rate of argpartition over
27k movies in BENCHMARKS.md section 2). One row (a lone swipe's list) takes every score at
or above the bound in one pass instead of gathering groups (~half the time of the batched path).
``top_n_argpartition`` is the plain version it replaced, kept as the reference.
"""
from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from online.product import dot_scores

_BLOCK_ROWS = 256  # rows selected at once: the block stays in cache
_GROUP_SIZE = 32  # scores per group of the bound (bench/scoring.py: 32 and 64 are best, 16-128 close)


def score(user_vectors: npt.NDArray[np.float32], item_factors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Scores (b, n_movies) float32 = U (b, k) @ Y (n_movies, k)ᵀ (``online.product.dot_scores``)."""
    return dot_scores(user_vectors, item_factors)


def mask_excluded(scores: npt.NDArray[np.float32], exclude: sp.csr_matrix | None) -> None:
    """Set scores of excluded (row, movie) pairs to -inf in place. ``exclude``: (b, n_movies) CSR."""
    if exclude is None or exclude.nnz == 0:
        return
    rows = np.repeat(np.arange(exclude.shape[0]), np.diff(exclude.indptr))
    scores[rows, exclude.indices] = -np.inf


def _group_maxima(block: npt.NDArray[np.floating], n: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Split the columns of ``block`` (b, m) into groups and take each group's maximum.

    With c = min(_GROUP_SIZE, m // n) scores per group and g = m // c groups, column j < c·g
    belongs to group j mod g (strided groups: the max is an elementwise ``np.maximum`` of c
    contiguous slices, which vectorises); the last m - c·g columns form one more group.
    Returns:
        body (b, c, g) view of the grouped columns, maxima (b, g [+1]) and g.
    """
    b, m = block.shape
    c = max(1, min(_GROUP_SIZE, m // n))
    g = m // c
    body = block[:, : c * g].reshape(b, c, g)
    maxima = body.max(axis=1)
    if c * g < m:
        maxima = np.concatenate([maxima, block[:, c * g :].max(axis=1, keepdims=True)], axis=1)
    return body, maxima, g


def _candidates(block: npt.NDArray[np.floating], n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, column, score) of every entry >= its row's bound t: a superset of the n best.

    t = the n-th largest group maximum. n groups have a maximum >= t, so every row holds at
    least n scores >= t: t bounds the n-th best score from below, and the n best all lie in
    groups whose maximum is >= t. Needs at least n groups (g >= n holds by construction).
    NaN is never eligible: ``max`` propagates it, so a block with NaN is redone with -inf.
    """
    b, m = block.shape
    body, maxima, g = _group_maxima(block, n)
    if np.isnan(maxima).any():
        block = np.where(np.isnan(block), -np.inf, block)
        body, maxima, g = _group_maxima(block, n)
    kth = maxima.shape[1] - n
    t = np.partition(maxima, kth, axis=1)[:, kth]  # (b,)
    if b == 1:  # one row: every score >= t in one pass, no gathers
        cols = np.flatnonzero(block[0] >= t[0])
        return np.zeros(len(cols), np.intp), cols, block[0, cols]
    # (flat indices and a division: np.nonzero of a 2-D mask costs ~3x as much)
    rows, q = np.divmod(np.flatnonzero(maxima[:, :g] >= t[:, None]), g)  # groups that can hold a top-n score
    vals = body[rows, :, q]  # (n_groups_kept, c)
    hit, a = np.divmod(np.flatnonzero(vals >= t[rows, None]), vals.shape[1])
    cand_r, cand_c, cand_v = rows[hit], a * g + q[hit], vals[hit, a]
    start = body.shape[1] * g
    if start < m:  # the last, short group, scanned whole
        tail_r, tail_j = np.divmod(np.flatnonzero(block[:, start:] >= t[:, None]), m - start)
        cand_r = np.concatenate([cand_r, tail_r])
        cand_c = np.concatenate([cand_c, start + tail_j])
        cand_v = np.concatenate([cand_v, block[tail_r, start + tail_j]])
    return cand_r, cand_c, cand_v


def _select_block(
    block: npt.NDArray[np.floating], n: int, out_idx: npt.NDArray[np.int64], out_score: npt.NDArray[np.float32]
) -> None:
    """Write the n best of each row of ``block`` (b, m), best first, ties by lower index."""
    rows, cols, vals = _candidates(block, n)
    if block.shape[0] == 1:  # one row: no row key, no ranks within rows
        order = np.lexsort((cols, -vals))[:n]
        out_idx[0, : len(order)] = cols[order]
        out_score[0, : len(order)] = vals[order]
        return
    order = np.lexsort((cols, -vals, rows))  # by row, then score descending, then movie index
    rows, cols, vals = rows[order], cols[order], vals[order]
    starts = np.searchsorted(rows, np.arange(block.shape[0]))
    pos = np.arange(len(rows)) - starts[rows]  # rank within the row
    keep = pos < n
    out_idx[rows[keep], pos[keep]] = cols[keep]
    out_score[rows[keep], pos[keep]] = vals[keep]


def top_n(
    scores: npt.NDArray[np.float32], n: int, exclude: sp.csr_matrix | None = None
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """The n best movies per row, best first; equal scores in ascending movie index.

    Args:
        scores: (b, n_movies) float32; modified in place where ``exclude`` masks it.
            NaN counts as excluded.
        n: list length; capped at n_movies.
        exclude: (b, n_movies) CSR of movies never to return (e.g. already seen).
    Returns:
        indices (b, n) int64 and scores (b, n) float32. Where a row has fewer than n
        eligible movies the tail holds index -1 and score -inf.
    """
    b, n_movies = scores.shape
    n = min(n, n_movies)
    mask_excluded(scores, exclude)
    out_idx = np.full((b, n), -1, dtype=np.int64)
    out_score = np.full((b, n), -np.inf, dtype=np.float32)
    if n == 0:
        return out_idx, out_score
    for start in range(0, b, _BLOCK_ROWS):
        block = scores[start : start + _BLOCK_ROWS]
        _select_block(block, n, out_idx[start : start + len(block)], out_score[start : start + len(block)])
    out_idx[~np.isfinite(out_score)] = -1
    return out_idx, out_score


def top_n_argpartition(
    scores: npt.NDArray[np.float32], n: int, exclude: sp.csr_matrix | None = None
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Reference ``top_n``: ``np.argpartition`` of each row block, then a sort of the n kept.

    Same contract as ``top_n`` except the order of equal scores, which is unspecified.
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
    """Exact top-n by dot product: ``top_n(score(U, Y), n, exclude)``.

    Scores and selects ``_BLOCK_ROWS`` users at a time, so each (block, n_movies) score
    block is selected while still in cache (``bench/scoring.py``: ~1.3x the throughput of
    scoring 1024 users first).

    Args:
        user_vectors: (b, k) float32. item_factors: (n_movies, k) float32.
        exclude: (b, n_movies) CSR of movies never to return.
    Returns:
        indices (b, min(n, n_movies)) int64 and scores float32, as ``top_n``.
    """
    users = np.asarray(user_vectors, dtype=np.float32)
    width = min(n, item_factors.shape[0])
    ex = sp.csr_matrix(exclude) if exclude is not None else None
    out_idx = np.empty((len(users), width), dtype=np.int64)
    out_score = np.empty((len(users), width), dtype=np.float32)
    for start in range(0, len(users), _BLOCK_ROWS):
        rows = slice(start, start + _BLOCK_ROWS)
        out_idx[rows], out_score[rows] = top_n(score(users[rows], item_factors), n, None if ex is None else ex[rows])
    return out_idx, out_score
