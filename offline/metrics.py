"""Top-K ranking metrics, textbook definitions (pure numpy/scipy).

Inputs shared by every function:

* ``recommended``: (n_users, K) int64 movie indices, best first; ``-1`` pads a short list.
  A movie repeated within a list counts as a hit only at its first position.
* ``relevant``: (n_users, n_movies) CSR, boolean-like; every stored non-zero is relevant.

Accuracy metrics are per user (float64, ``NaN`` for a user without relevant movies, who is
left out of every average). With ``h_k`` = 1 if the movie at rank k is relevant, ``R`` the
relevant set and ``m = min(K, |R|)``:

=============  ==========================================================
recall@K       Σ h_k / |R|
precision@K    Σ h_k / K  (not implicit's Σ h_k / m)
ndcg@K         Σ h_k / log2(k+1)  /  Σ_{k<=m} 1 / log2(k+1)
map@K          (1/m) Σ_k P@k · h_k
hit@K          1 if Σ h_k > 0
mrr@K          1 / (rank of the first hit), 0 without a hit
=============  ==========================================================

Beyond-accuracy metrics read the lists only: catalogue coverage, Gini of exposure,
genre intra-list diversity and novelty (see each function).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

Similarity = Literal["cosine", "jaccard"]
_CHUNK_USERS = 4096  # users per block where a (users, K, K) or (users, K, genres) array is built


def _canonical(matrix: sp.spmatrix | sp.sparray) -> sp.csr_matrix:
    """CSR without explicit zeros or duplicates, column indices sorted per row: ``matrix``'s
    own arrays when it already is one (only read here), else a copy made so."""
    m = sp.csr_matrix(matrix)
    if m.has_canonical_format and m.data.all():
        return m
    m = sp.csr_matrix(matrix, copy=True)
    m.eliminate_zeros()
    m.sum_duplicates()  # also sorts the indices
    return m


def isin_rows(items: npt.NDArray[np.int64], matrix: sp.csr_matrix) -> npt.NDArray[np.bool_]:
    """Whether ``items[u, j]`` is stored in row u of ``matrix``.

    Args:
        items: (b, c) int64 movie indices; negative entries are never members.
        matrix: (b, n_movies) CSR; a stored non-zero marks membership.
    Returns:
        (b, c) bool.
    """
    items = np.asarray(items, dtype=np.int64)
    m = _canonical(matrix)
    b, n_cols = m.shape
    if items.shape[0] != b:
        raise ValueError(f"items has {items.shape[0]} rows, matrix has {b}")
    rows = np.repeat(np.arange(b, dtype=np.int64), np.diff(m.indptr))
    # key(u, i) = u * n_cols + i, ascending over a canonical CSR
    stored = rows * n_cols + m.indices.astype(np.int64)
    valid = (items >= 0) & (items < n_cols)
    query = np.arange(b, dtype=np.int64)[:, None] * n_cols + np.where(valid, items, 0)
    if len(stored) == 0:
        return np.zeros(items.shape, dtype=bool)
    pos = np.minimum(np.searchsorted(stored, query), len(stored) - 1)
    return valid & (stored[pos] == query)


def first_occurrence(recommended: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """(n_users, K) bool: True where an item is not -1 and not seen earlier in its row."""
    rec = np.asarray(recommended, dtype=np.int64)
    order = np.argsort(rec, axis=1, kind="stable")
    srt = np.take_along_axis(rec, order, axis=1)
    # an item repeats when it equals its left neighbour in the sorted row
    dup_sorted = np.zeros(rec.shape, dtype=bool)
    dup_sorted[:, 1:] = srt[:, 1:] == srt[:, :-1]
    first = np.empty(rec.shape, dtype=bool)
    np.put_along_axis(first, order, ~dup_sorted, axis=1)
    return first & (rec >= 0)


def hit_matrix(recommended: npt.NDArray[np.int64], relevant: sp.csr_matrix) -> npt.NDArray[np.bool_]:
    """h (n_users, K) bool: the movie at rank k is relevant (first occurrence only)."""
    return isin_rows(recommended, relevant) & first_occurrence(recommended)


def accuracy_per_user(
    recommended: npt.NDArray[np.int64], relevant: sp.csr_matrix, k: int | None = None
) -> dict[str, npt.NDArray[np.float64]]:
    """Per-user recall, precision, ndcg, map, hit and mrr at ``k`` (default: all K columns).

    Returns:
        dict of (n_users,) float64 arrays keyed "recall", "precision", "ndcg", "map", "hit",
        "mrr"; NaN for users without relevant movies.
    """
    rec = np.asarray(recommended, dtype=np.int64)
    n_rel = np.diff(_canonical(relevant).indptr)
    return _accuracy_from_hits(hit_matrix(rec, relevant), n_rel, rec.shape[1] if k is None else k)


def _accuracy_from_hits(
    hits: npt.NDArray[np.bool_], n_relevant: npt.NDArray[np.int64], k: int
) -> dict[str, npt.NDArray[np.float64]]:
    """The per-user metrics of ``accuracy_per_user`` from h (n_users, K) and |R| (n_users,)."""
    if not 1 <= k <= hits.shape[1]:
        raise ValueError(f"k={k} outside 1..{hits.shape[1]} (recommended has {hits.shape[1]} columns)")
    h = hits[:, :k].astype(np.float64)
    has_rel = n_relevant > 0
    safe_rel = np.where(has_rel, n_relevant, 1).astype(np.float64)
    m = np.minimum(k, safe_rel).astype(np.int64)
    n_hits = h.sum(axis=1)
    # discount_k = 1 / log2(k + 1), k = 1..K
    discount = 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))
    # IDCG = Σ_{k<=m} discount_k
    idcg = np.cumsum(discount)[m - 1]
    # P@k = cumsum(h)_k / k
    prec_at = np.cumsum(h, axis=1) / np.arange(1, k + 1, dtype=np.float64)
    first_hit = np.argmax(h > 0, axis=1)
    out = {
        "recall": n_hits / safe_rel,
        "precision": n_hits / k,
        "ndcg": (h @ discount) / idcg,
        "map": (prec_at * h).sum(axis=1) / m,
        "hit": (n_hits > 0).astype(np.float64),
        # RR = 1 / rank of first hit, 0 without one
        "mrr": np.where(n_hits > 0, 1.0 / (first_hit + 1.0), 0.0),
    }
    return {name: np.where(has_rel, v, np.nan) for name, v in out.items()}


def exposure(recommended: npt.NDArray[np.int64], n_movies: int) -> npt.NDArray[np.int64]:
    """(n_movies,) int64: how many lists hold each movie (padding ignored)."""
    rec = np.asarray(recommended, dtype=np.int64)
    return np.bincount(rec[first_occurrence(rec)], minlength=n_movies).astype(np.int64)


def coverage(recommended: npt.NDArray[np.int64], n_movies: int) -> float:
    """Catalogue coverage = |distinct recommended movies| / n_movies."""
    return float(np.count_nonzero(exposure(recommended, n_movies))) / n_movies


def gini(counts: npt.ArrayLike) -> float:
    """Gini coefficient of non-negative counts (n,): 0 = equal, (n-1)/n = all on one item.

    G = Σ_i (2i - n - 1) x_(i) / (n Σ x), x sorted ascending, i = 1..n. NaN when Σ x = 0.
    """
    x = np.sort(np.asarray(counts, dtype=np.float64))
    n, total = len(x), x.sum()
    if n == 0 or total <= 0:
        return float("nan")
    i = np.arange(1, n + 1, dtype=np.float64)
    return float(((2 * i - n - 1) @ x) / (n * total))


def gini_of_exposure(recommended: npt.NDArray[np.int64], n_movies: int) -> float:
    """Gini over all n_movies of their exposure; movies never recommended count as 0."""
    return gini(exposure(recommended, n_movies))


def intra_list_diversity(
    recommended: npt.NDArray[np.int64],
    item_genres: npt.NDArray[np.floating] | sp.spmatrix,
    method: Similarity = "cosine",
) -> npt.NDArray[np.float64]:
    """Mean pairwise genre dissimilarity within each list.

    ILD_u = mean over pairs i < j in the list of (1 - sim(g_i, g_j)), sim = cosine or
    Jaccard of the (n_genres,) genre vectors. A pair with an all-zero vector has similarity 0.

    Args:
        recommended: (n_users, K) int64, -1 padding and repeats are skipped.
        item_genres: (n_movies, n_genres) multi-hot (dense or sparse); Jaccard binarises it.
    Returns:
        (n_users,) float64; NaN for lists with fewer than 2 distinct movies.
    """
    rec = np.asarray(recommended, dtype=np.int64)
    g = item_genres.toarray() if sp.issparse(item_genres) else np.asarray(item_genres)
    g = (g != 0).astype(np.float32) if method == "jaccard" else g.astype(np.float32)
    if method == "cosine":
        norm = np.linalg.norm(g, axis=1, keepdims=True)
        g = g / np.where(norm > 0, norm, 1.0)
    out = np.full(rec.shape[0], np.nan)
    iu = np.triu_indices(rec.shape[1], k=1)
    for start in range(0, rec.shape[0], _CHUNK_USERS):
        block = rec[start : start + _CHUNK_USERS]
        valid = first_occurrence(block)
        v = g[np.where(valid, block, 0)] * valid[..., None]  # (b, K, n_genres)
        n_valid = valid.sum(axis=1)
        n_pairs = n_valid * (n_valid - 1) // 2
        if method == "cosine":
            # rows are unit (or zero) vectors, so Σ_{i<j} cos(g_i, g_j) = (|Σ_i g_i|² - Σ_i |g_i|²) / 2
            v64 = v.astype(np.float64)
            total = v64.sum(axis=1)
            sim_sum = ((total * total).sum(axis=1) - (v64 * v64).sum(axis=(1, 2))) / 2
            dissim = n_pairs - sim_sum
        else:
            inter = np.einsum("bkg,blg->bkl", v, v)
            size = v.sum(axis=2)
            # J = |a ∩ b| / |a ∪ b| = inter / (|a| + |b| - inter)
            union = size[:, :, None] + size[:, None, :] - inter
            sim = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
            pair_ok = (valid[:, :, None] & valid[:, None, :])[:, iu[0], iu[1]]
            dissim = np.where(pair_ok, 1.0 - sim[:, iu[0], iu[1]], 0.0).sum(axis=1)
        out[start : start + len(block)] = np.where(n_pairs > 0, dissim / np.maximum(n_pairs, 1), np.nan)
    return out


def popularity_share(train: sp.csr_matrix) -> npt.NDArray[np.float64]:
    """p_i = |train users who interacted with movie i| / n_users, (n_movies,) float64.

    A movie without train interactions gets the share of one, 1 / n_users, so that its
    novelty stays finite (the largest possible value, log2(n_users)).
    """
    m = _canonical(train)
    return np.maximum(m.getnnz(axis=0), 1).astype(np.float64) / m.shape[0]


def novelty(recommended: npt.NDArray[np.int64], item_popularity: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Mean self-information of each list: mean_i -log2(p_i) over its movies.

    Args:
        recommended: (n_users, K) int64; padding and repeats skipped.
        item_popularity: (n_movies,) float popularity share p_i in (0, 1], e.g.
            ``popularity_share(train)``.
    Returns:
        (n_users,) float64 in bits; NaN for an empty list.
    """
    rec = np.asarray(recommended, dtype=np.int64)
    p = np.asarray(item_popularity, dtype=np.float64)
    valid = first_occurrence(rec)
    p_rec = np.where(valid, p[np.where(valid, rec, 0)], 1.0)
    if np.any(p_rec <= 0):
        raise ValueError("item_popularity must be > 0 for every recommended movie")
    # self-information = -log2(p_i)
    info = np.where(valid, -np.log2(p_rec), 0.0).sum(axis=1)
    n = valid.sum(axis=1)
    return np.where(n > 0, info / np.maximum(n, 1), np.nan)


def ranking_metrics(
    recommended: npt.NDArray[np.int64],
    relevant: sp.csr_matrix,
    ks: Sequence[int] = (10, 20),
    item_genres: npt.NDArray[np.floating] | sp.spmatrix | None = None,
    item_popularity: npt.ArrayLike | None = None,
    n_movies: int | None = None,
    diversity: Similarity = "cosine",
) -> dict[str, float]:
    """Every metric at every K, averaged over the users that have relevant movies.

    Users without relevant movies are dropped first, so the beyond-accuracy metrics
    (coverage, gini, diversity, novelty) describe the same users as the accuracy ones.

    Args:
        recommended: (n_users, K) int64 with K >= max(ks); column k-1 is rank k.
        relevant: (n_users, n_movies) CSR, boolean-like.
        ks: cut-offs.
        item_genres: (n_movies, n_genres) multi-hot; adds "diversity@k" when given.
        item_popularity: (n_movies,) popularity share p_i; adds "novelty@k" when given.
        n_movies: catalogue size for coverage and gini; defaults to ``relevant.shape[1]``.
        diversity: similarity behind the intra-list diversity.
    Returns:
        {"recall@10": ..., "precision@10", "ndcg@10", "map@10", "hit@10", "mrr@10",
        "coverage@10", "gini@10"[, "diversity@10"][, "novelty@10"], ..., "n_users"}; NaN
        means when no user has a relevant movie.
    """
    rec = np.asarray(recommended, dtype=np.int64)
    rel = _canonical(relevant)
    if rec.shape[0] != rel.shape[0]:
        raise ValueError(f"recommended has {rec.shape[0]} rows, relevant has {rel.shape[0]}")
    n_movies = rel.shape[1] if n_movies is None else n_movies
    keep = np.diff(rel.indptr) > 0
    rec, rel = rec[keep], rel[keep]
    hits, n_rel = hit_matrix(rec, rel), np.diff(rel.indptr)
    out: dict[str, float] = {}
    for k in sorted(set(ks)):
        acc = _accuracy_from_hits(hits, n_rel, k)
        top = rec[:, :k]
        for name, values in acc.items():
            out[f"{name}@{k}"] = float(values.mean()) if len(values) else float("nan")
        out[f"coverage@{k}"] = coverage(top, n_movies)
        out[f"gini@{k}"] = gini_of_exposure(top, n_movies)
        if item_genres is not None:
            out[f"diversity@{k}"] = _nanmean(intra_list_diversity(top, item_genres, diversity))
        if item_popularity is not None:
            out[f"novelty@{k}"] = _nanmean(novelty(top, item_popularity))
    out["n_users"] = float(rec.shape[0])
    return out


def _nanmean(values: npt.NDArray[np.float64]) -> float:
    """Mean over the non-NaN entries; NaN when there are none (no RuntimeWarning)."""
    ok = ~np.isnan(values)
    return float(values[ok].mean()) if ok.any() else float("nan")
