"""Item-neighbour rows for the online overlay, computed by ``movierec offline run``.

Row j of the (n_movies, n_movies) matrix S holds the K movies most suggested by an
interaction with movie j and their weights; stored in the artifact as three checksummed
arrays (``neighbour_indptr``, ``neighbour_indices``, ``neighbour_weights``: CSR), never
pickled. Two sources, chosen by catalogue size (``NeighboursConfig.method = "auto"``):

* EASE (Steck 2019) up to ``max_ease_movies``: with X the (users, movies) binary matrix of
  train interactions (any rating: what a user watches next is what we predict),
  P = (XᵀX + λI)⁻¹ and B[j, m] = -P[j, m] / P[m, m] (diagonal 0), S = top-K of each row
  of B. O(n_movies³) time and n_movies² memory: a 20k-movie catalogue is the limit.
* co-occurrence cosine above it: S[j, m] = |X_j ∩ X_m| / sqrt(|X_j| |X_m|), top-K per row,
  by implicit's multi-threaded ``all_pairs_knn`` (the reference in pure scipy is
  ``cooccurrence_rows_reference``, which the tests compare it with). Its cost grows with
  the sum of the squares of the users' counts, so a user with more than ``max_user_items``
  (200) train interactions counts a seeded random sample of that many (``cap_rows``; on
  ml-latest-small forced to co-occurrence, val NDCG@10 0.0562 capped vs 0.0558 not).

Each source's rows are scaled so that the median of the row maxima is 1, so the overlay's
beta means about the same for both.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.linalg import lapack

from offline.config import NeighboursConfig

log = logging.getLogger(__name__)
ARRAYS = ("neighbour_indptr", "neighbour_indices", "neighbour_weights")
_FLOAT64_UP_TO = 8192  # movies; larger EASE systems are solved in float32 (half the memory)
_ROW_BLOCK = 1024


def top_k_rows(block: npt.NDArray[np.floating], k: int, first_row: int) -> sp.csr_matrix:
    """(b, n) dense rows -> CSR of each row's k largest positive entries (the diagonal
    entry of row i, column ``first_row + i``, is left out)."""
    b, n = block.shape
    block = np.array(block, dtype=np.float32)
    block[np.arange(b), first_row + np.arange(b)] = -np.inf
    k = min(k, n - 1)
    part = np.argpartition(-block, k - 1, axis=1)[:, :k] if k > 0 else np.zeros((b, 0), np.int64)
    vals = np.take_along_axis(block, part, axis=1)
    keep = vals > 0
    rows = np.repeat(np.arange(b), keep.sum(axis=1))
    m = sp.csr_matrix((vals[keep], (rows, part[keep])), shape=(b, n), dtype=np.float32)
    m.sort_indices()
    return m


def ease_rows(x: sp.csr_matrix, regularization: float, k: int) -> sp.csr_matrix:
    """(n, n) float32 CSR top-k rows of EASE's B for a (users, n) binary matrix ``x``."""
    n = x.shape[1]
    dtype = np.float64 if n <= _FLOAT64_UP_TO else np.float32
    g = (x.T @ x).toarray().astype(dtype)  # (n, n) XᵀX
    g[np.diag_indices(n)] += regularization
    potrf, potri = (lapack.dpotrf, lapack.dpotri) if dtype == np.float64 else (lapack.spotrf, lapack.spotri)
    # P = (XᵀX + λI)⁻¹ by Cholesky, in place (one n×n buffer)
    c, info = potrf(g, lower=0, overwrite_a=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"EASE Cholesky failed (info={info})")
    p, info = potri(c, lower=0, overwrite_c=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"EASE inverse failed (info={info})")
    p = np.triu(p) + np.triu(p, 1).T  # potri fills the upper triangle only
    inv_diag = (1.0 / np.diag(p)).astype(dtype)
    blocks = []
    for start in range(0, n, _ROW_BLOCK):
        # B[j, m] = -P[j, m] / P[m, m]
        blocks.append(top_k_rows(-p[start:start + _ROW_BLOCK] * inv_diag[None, :], k, start))
    return sp.vstack(blocks, format="csr")


def cooccurrence_rows_reference(x: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """(n, n) float32 CSR top-k cosine rows of a (users, n) binary matrix (pure scipy, slow)."""
    counts = np.asarray(x.sum(axis=0)).ravel()
    inv = 1.0 / np.sqrt(np.maximum(counts, 1.0))
    xt = x.T.tocsr()
    blocks = []
    for start in range(0, x.shape[1], _ROW_BLOCK):
        co = (xt[start:start + _ROW_BLOCK] @ x).toarray()  # (b, n) |X_j ∩ X_m|
        blocks.append(top_k_rows(co * inv[start:start + _ROW_BLOCK, None] * inv[None, :], k, start))
    return sp.vstack(blocks, format="csr")


def cooccurrence_rows(x: sp.csr_matrix, k: int, num_threads: int = 0) -> sp.csr_matrix:
    """``cooccurrence_rows_reference`` by implicit's ``all_pairs_knn`` (C++, threads)."""
    from implicit.nearest_neighbours import all_pairs_knn

    x = sp.csr_matrix(x)
    n = x.shape[1]
    counts = np.asarray(x.sum(axis=0)).ravel()
    inv = 1.0 / np.sqrt(np.maximum(counts, 1.0))
    # (users, movies) with L2-normalised columns (float64: implicit's type); all_pairs_knn gives
    # the top-k dot products between columns, i.e. cosines, as (movies, movies) rows.
    # x_um / sqrt(n_m) on x's own structure (what x.multiply(inv) gives, without its copies)
    cols = sp.csr_matrix((x.data.astype(np.float64) * inv[x.indices], x.indices, x.indptr), shape=x.shape)
    knn = sp.csr_matrix(all_pairs_knn(cols, k + 1, num_threads=num_threads, show_progress=False))  # +1: itself
    rows = np.repeat(np.arange(knn.shape[0], dtype=np.int64), np.diff(knn.indptr))
    ok = (rows != knn.indices) & (knn.data > 0)
    rows, movies, data = rows[ok], knn.indices[ok], knn.data[ok].astype(np.float32)
    keep = top_k_of_rows(rows, movies, data, k, n)
    per_row = np.bincount(rows[keep], minlength=n)
    indptr = np.concatenate([[0], np.cumsum(per_row)])
    out = sp.csr_matrix((data[keep], movies[keep], indptr), shape=(n, n), dtype=np.float32)
    out.sort_indices()
    return out


def top_k_of_rows(rows: npt.NDArray[np.int64], movies: npt.NDArray[np.integer], data: npt.NDArray[np.float32],
                  k: int, n_rows: int) -> npt.NDArray[np.bool_]:
    """(e,) bool: whether each of the e entries (rows grouped, e.g. a CSR's) is among the k
    largest ``data`` of its row, equal values keeping the lower movie index.

    all_pairs_knn returns k + 1 per row; after the movie itself (cosine 1, its own best) is
    dropped nearly every row holds at most k, so only the few longer rows are sorted.
    """
    counts = np.bincount(rows, minlength=n_rows)
    keep = np.ones(len(rows), dtype=bool)
    long_rows = counts > k
    if not long_rows.any():
        return keep
    at = np.flatnonzero(long_rows[rows])
    r, m, d = rows[at], movies[at], data[at]
    order = np.lexsort((m, -d, r))  # by row, then value descending, then movie index
    sub_counts = np.bincount(r, minlength=n_rows)
    rank = np.arange(len(r)) - np.repeat(np.cumsum(sub_counts) - sub_counts, sub_counts)
    keep[at[order]] = rank < k
    return keep


def cap_rows(x: sp.csr_matrix, cap: int, seed: int) -> sp.csr_matrix:
    """``x`` with every row holding more than ``cap`` entries cut to a seeded random ``cap`` of them."""
    x = x.tocsr()
    counts = np.diff(x.indptr)
    heavy = np.flatnonzero(counts > cap)
    if not len(heavy):
        return x
    rng = np.random.default_rng(seed)
    keep = np.ones(x.nnz, dtype=bool)
    starts, sizes = x.indptr[heavy].tolist(), counts[heavy].tolist()
    for start, size in zip(starts, sizes):
        keep[start + rng.choice(size, size=size - cap, replace=False)] = False
    # the kept entries stay in x's row order: the new row pointers are the capped counts
    indptr = np.concatenate([[0], np.cumsum(np.minimum(counts, cap))]).astype(x.indptr.dtype)
    return sp.csr_matrix((x.data[keep], x.indices[keep], indptr), shape=x.shape)


def scale_rows(s: sp.csr_matrix) -> tuple[sp.csr_matrix, float]:
    """``s`` divided by the median of its non-empty rows' maxima, and that divisor."""
    s = s.tocsr().astype(np.float32)
    maxima = s.max(axis=1).toarray().ravel()
    maxima = maxima[maxima > 0]
    scale = float(np.median(maxima)) if len(maxima) else 1.0
    return (s / np.float32(scale)).tocsr(), scale


def fit_neighbours(x: sp.csr_matrix, config: NeighboursConfig) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The artifact arrays (``ARRAYS``) and a description for ``model_info.json`` of the
    neighbour rows of a (users, movies) binary matrix; no arrays when the method is "none"."""
    n = x.shape[1]
    method = config.method
    if method == "auto":
        method = "ease" if n <= config.max_ease_movies else "cooccurrence"
    if method == "none":
        return {}, {"method": "none"}
    t0 = time.perf_counter()
    if method == "ease":
        rows = ease_rows(x, config.ease_regularization, config.k)
    else:
        capped = cap_rows(x, config.max_user_items, config.seed) if config.max_user_items else x
        rows = cooccurrence_rows(capped, config.k)
    rows, scale = scale_rows(rows)
    info = {"method": method, "k": config.k, "scale": scale, "nnz": int(rows.nnz),
            "seconds": round(time.perf_counter() - t0, 3),
            **({"regularization": config.ease_regularization} if method == "ease" else
               {"max_user_items": config.max_user_items, "seed": config.seed})}
    log.info("neighbour rows: %s", info)
    return {"neighbour_indptr": rows.indptr.astype(np.int64), "neighbour_indices": rows.indices.astype(np.int32),
            "neighbour_weights": rows.data.astype(np.float32)}, info


def neighbour_matrix(arrays: Mapping[str, np.ndarray], n_movies: int) -> sp.csr_matrix | None:
    """The (n_movies, n_movies) float32 CSR stored in an artifact's arrays, or None (an
    artifact written before neighbour rows existed)."""
    if not all(a in arrays for a in ARRAYS):
        return None
    indptr, indices, weights = (arrays[a] for a in ARRAYS)
    if len(indptr) != n_movies + 1 or len(indices) != len(weights) or indptr[-1] != len(indices):
        raise ValueError("neighbour rows do not match the catalogue")
    return sp.csr_matrix((weights.astype(np.float32), indices.astype(np.int32), indptr.astype(np.int64)),
                         shape=(n_movies, n_movies))
