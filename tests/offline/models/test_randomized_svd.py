"""Randomized SVD: exact on a matrix of low rank, close to ARPACK on MovieLens residuals."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from offline.evaluate import rating_metrics
from offline.models.randomized_svd import randomized_svd, sparse_dense_product
from offline.models.svd import SVDConfig, SVDRatingModel

ML_SMALL = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "ml-latest-small"


def test_recovers_a_low_rank_matrix() -> None:
    rng = np.random.default_rng(0)
    dense = rng.normal(size=(400, 6)) @ np.diag([50, 40, 30, 20, 10, 5]) @ rng.normal(size=(6, 300)) / 20
    exact = np.linalg.svd(dense, compute_uv=False)[:6]
    us, sigma, v = randomized_svd(sp.csr_matrix(dense), 6, oversample=10, power_iterations=3, seed=1)
    assert us.shape == (400, 6) and v.shape == (300, 6) and us.dtype == v.dtype == np.float32
    np.testing.assert_allclose(sigma, exact, rtol=1e-3)
    np.testing.assert_allclose(v.T @ v, np.eye(6), atol=1e-5)  # orthonormal V
    np.testing.assert_allclose(np.linalg.norm(us, axis=0), sigma, rtol=1e-4)  # columns of U Σ


def test_is_seeded_and_checks_k() -> None:
    m = sp.random(80, 50, density=0.2, random_state=3, format="csr")
    a, b = randomized_svd(m, 5, seed=4), randomized_svd(m, 5, seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    with pytest.raises(ValueError):
        randomized_svd(m, 51)


@pytest.mark.slow
def test_close_to_arpack_on_ml_latest_small() -> None:
    """The accuracy quoted in offline/models/randomized_svd.py (k = 100, l = 110, q = 3)."""
    from offline.config import PipelineConfig
    from offline.pipeline import prepare

    if not (ML_SMALL / "ratings.csv").exists():
        pytest.fail(f"{ML_SMALL} is missing: tests read MovieLens from ../shared/data")
    mats = prepare(ML_SMALL, PipelineConfig()).mats
    fast = SVDRatingModel(SVDConfig()).fit(mats.train_ratings)
    exact = SVDRatingModel(SVDConfig(solver="arpack")).fit(mats.train_ratings)
    s_fast = np.linalg.norm(fast.user_factors, axis=0)
    s_exact = np.linalg.norm(exact.user_factors, axis=0)
    rel = np.abs(s_fast - s_exact) / s_exact
    assert rel.mean() < 0.02 and rel.max() < 0.08
    for frame in (mats.val_frame, mats.test_frame):
        u, i, r = (frame[c].to_numpy() for c in ("user_index", "movie_index", "rating"))
        gap = rating_metrics(fast.predict(u, i), r)["rmse"] - rating_metrics(exact.predict(u, i), r)["rmse"]
        assert abs(gap) < 0.002


@pytest.mark.parametrize("n_blocks", [1, 2, 3])
def test_column_blocks_give_the_bit_identical_product(n_blocks: int) -> None:
    rng = np.random.default_rng(12)
    a = sp.random(300, 120, density=0.05, format="csr", dtype=np.float32, random_state=3)
    x = rng.standard_normal((120, 37)).astype(np.float32)
    y = rng.standard_normal((300, 37)).astype(np.float32)
    with ThreadPoolExecutor(n_blocks) as pool:
        for m, v in ((a, x), (a.T, y)):  # CSR gather and CSC scatter
            got = sparse_dense_product(m, v, pool, n_blocks)
            assert got.dtype == np.float32 and np.array_equal(got, m @ v)
