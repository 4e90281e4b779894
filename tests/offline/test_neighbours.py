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
    cooccurrence_rows,
    cooccurrence_rows_reference,
    ease_rows,
    fit_neighbours,
    neighbour_matrix,
    scale_rows,
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
    from offline.neighbours import cap_rows

    capped = cap_rows(X, 5, seed=3)
    counts = np.diff(capped.indptr)
    assert counts.max() == 5 and np.array_equal(counts, np.minimum(np.diff(X.indptr), 5))
    assert (capped - capped.multiply(X)).nnz == 0  # a subset of each row
    assert (cap_rows(X, 5, seed=3) != capped).nnz == 0 and (cap_rows(X, 5, seed=4) != capped).nnz > 0
