"""Item-neighbour rows: EASE and co-occurrence against dense references, storage in the artifact."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from offline.artifacts import load_version
from offline.config import NeighboursConfig
from offline.neighbours import (
    ARRAYS,
    cap_rows,
    cooccurrence_rows,
    cooccurrence_rows_reference,
    ease_rows,
    fit_neighbours,
    neighbour_matrix,
    scale_rows,
    top_k_of_rows,
)

RNG = np.random.default_rng(5)
X = sp.csr_matrix((RNG.random((80, 25)) < 0.25).astype(np.float32))


def dense_top_k(m: np.ndarray, k: int) -> dict[int, set[int]]:
    """Row -> its k largest positive off-diagonal columns."""
    m = m.copy()
    np.fill_diagonal(m, -np.inf)
    out = {}
    for j, row in enumerate(m):
        order = np.argsort(-row, kind="stable")[:k]
        out[j] = {int(c) for c in order if row[c] > 0}
    return out


def test_ease_rows_are_the_top_k_of_the_closed_form() -> None:
    lam, k = 10.0, 5
    g = (X.T @ X).toarray().astype(np.float64) + lam * np.eye(25)
    p = np.linalg.inv(g)
    b = -p / np.diag(p)[None, :]  # B[j, m] = -P[j, m] / P[m, m]
    rows = ease_rows(X, lam, k)
    for j, cols in dense_top_k(b, k).items():
        got = rows[j]
        assert set(got.indices.tolist()) == cols
        np.testing.assert_allclose(got.data, b[j, got.indices], rtol=1e-5)


def test_cooccurrence_rows_match_the_pure_reference_and_are_cosines() -> None:
    k = 6
    ref = cooccurrence_rows_reference(X, k)
    got = cooccurrence_rows(X, k, num_threads=1)
    counts = np.asarray(X.sum(axis=0)).ravel()
    cosine = (X.T @ X).toarray() / np.sqrt(np.outer(counts, counts))
    for j in range(X.shape[1]):
        # same weights (ties may pick other columns at the k-th place)
        np.testing.assert_allclose(np.sort(got[j].data), np.sort(ref[j].data), rtol=1e-5)
        np.testing.assert_allclose(ref[j].data, cosine[j, ref[j].indices], rtol=1e-5)


def test_scaled_rows_have_median_row_maximum_one() -> None:
    scaled, scale = scale_rows(ease_rows(X, 10.0, 5))
    assert np.median(scaled.max(axis=1).toarray()) == pytest.approx(1.0) and scale > 0


def test_fit_picks_the_method_by_catalogue_size() -> None:
    _, info = fit_neighbours(X, NeighboursConfig(max_ease_movies=25))
    assert info["method"] == "ease"
    _, info = fit_neighbours(X, NeighboursConfig(max_ease_movies=24))
    assert info["method"] == "cooccurrence"
    arrays, info = fit_neighbours(X, NeighboursConfig(method="none"))
    assert arrays == {} and info == {"method": "none"}


def test_the_artifact_holds_checksummed_rows(small_artifacts: Path) -> None:
    art = load_version(small_artifacts)
    assert all(f"{a}.npy" in art.info["files"] for a in ARRAYS)
    rows = neighbour_matrix(art.arrays, len(art.arrays["movie_ids"]))
    assert rows is not None and rows.shape == (len(art.arrays["movie_ids"]),) * 2
    assert art.info["neighbours"]["method"] == "ease" and np.diff(rows.indptr).max() <= art.info["neighbours"]["k"]
    assert neighbour_matrix({}, 3) is None  # an artifact from before issue 10


def test_heavy_users_are_capped_by_a_seeded_sample() -> None:
    capped = cap_rows(X, 5, seed=3)
    counts = np.diff(capped.indptr)
    assert counts.max() == 5 and np.array_equal(counts, np.minimum(np.diff(X.indptr), 5))
    assert (capped - capped.multiply(X)).nnz == 0  # a subset of each row
    assert (cap_rows(X, 5, seed=3) != capped).nnz == 0 and (cap_rows(X, 5, seed=4) != capped).nnz > 0


def _cap_rows_by_coo(x: sp.csr_matrix, cap: int, seed: int) -> sp.csr_matrix:
    """The straightforward cap: the same seeded draws, the kept entries rebuilt through COO."""
    counts = np.diff(x.indptr)
    rng = np.random.default_rng(seed)
    keep = np.ones(x.nnz, dtype=bool)
    for u in np.flatnonzero(counts > cap).tolist():
        start, end = x.indptr[u], x.indptr[u + 1]
        keep[start + rng.choice(end - start, size=end - start - cap, replace=False)] = False
    rows = np.repeat(np.arange(x.shape[0]), counts)[keep]
    return sp.csr_matrix((x.data[keep], (rows, x.indices[keep])), shape=x.shape)


def _cooccurrence_by_lexsort(x: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """cooccurrence_rows with every row's entries sorted by (value desc, movie) and cut at k."""
    from implicit.nearest_neighbours import all_pairs_knn

    inv = 1.0 / np.sqrt(np.maximum(np.asarray(x.sum(axis=0)).ravel(), 1.0))
    knn = all_pairs_knn(x.astype(np.float64).multiply(inv[None, :]).tocsr(), k + 1, num_threads=1,
                        show_progress=False).tocoo()
    ok = (knn.row != knn.col) & (knn.data > 0)
    rows, movies, data = knn.row[ok], knn.col[ok], knn.data[ok].astype(np.float32)
    order = np.lexsort((movies, -data, rows))
    rows, movies, data = rows[order], movies[order], data[order]
    counts = np.bincount(rows, minlength=x.shape[1])
    keep = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts) < k
    out = sp.csr_matrix((data[keep], (rows[keep], movies[keep])), shape=(x.shape[1],) * 2, dtype=np.float32)
    out.sort_indices()
    return out


def _same_csr(a: sp.csr_matrix, b: sp.csr_matrix) -> bool:
    return all(np.array_equal(getattr(a, f), getattr(b, f)) for f in ("indptr", "indices", "data"))


def test_cap_rows_equal_the_coo_construction() -> None:
    x = sp.csr_matrix((np.random.default_rng(8).random((60, 90)) < 0.4).astype(np.float32))
    for cap in (1, 7, 30, 200):
        assert _same_csr(cap_rows(x, cap, seed=11), _cap_rows_by_coo(x, cap, seed=11))


def test_cooccurrence_rows_equal_the_full_sort_selection() -> None:
    dense = (np.random.default_rng(9).random((300, 70)) < 0.2).astype(np.float32)
    dense[:, 69] = 0  # a movie nobody watched: no row, not its own neighbour
    x = sp.csr_matrix(dense)
    for k in (1, 4, 20, 80):
        assert _same_csr(cooccurrence_rows(x, k, num_threads=1), _cooccurrence_by_lexsort(x, k))


def test_top_k_of_rows_breaks_ties_by_movie_index() -> None:
    rows = np.array([0, 0, 0, 0, 1, 1, 2, 2, 2], dtype=np.int64)
    movies = np.array([5, 3, 9, 1, 4, 2, 7, 8, 6])
    data = np.array([0.5, 0.9, 0.5, 0.5, 0.1, 0.2, 0.3, 0.3, 0.3], dtype=np.float32)
    keep = top_k_of_rows(rows, movies, data, 2, 3)
    assert keep.tolist() == [False, True, False, True, True, True, True, False, True]
