"""Rating models: hand-computed biases, rank cap, and SVD > biases > global mean on low-rank data."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import scipy.sparse as sp

from offline.evaluate import rating_metrics
from offline.models.svd import BiasBaseline, BiasConfig, SVDConfig, SVDRatingModel

Split = tuple[sp.csr_matrix, np.ndarray, np.ndarray, np.ndarray]


@pytest.fixture
def make_low_rank() -> Callable[..., Split]:
    """Factory: train CSR and test (users, movies, ratings) from a biased rank-r rating matrix."""

    def make(n_users: int = 300, n_movies: int = 200, rank: int = 3, density: float = 0.4, seed: int = 0) -> Split:
        rng = np.random.default_rng(seed)
        full = (
            3.5
            + rng.normal(0, 0.4, (n_users, 1))
            + rng.normal(0, 0.4, (1, n_movies))
            + rng.normal(0, 0.6, (n_users, rank)) @ rng.normal(0, 0.6, (rank, n_movies))
            + rng.normal(0, 0.1, (n_users, n_movies))
        )
        full = np.clip(np.round(full * 2) / 2, 0.5, 5.0)
        cell = rng.random((n_users, n_movies))
        train = sp.csr_matrix(np.where(cell < density, full, 0.0))
        test_u, test_i = np.nonzero(cell >= 1 - 0.1)
        return train, test_u, test_i, full[test_u, test_i]

    return make


def test_bias_baseline_by_hand():
    # u0: m0 = 4, m1 = 2; u1: m0 = 5; μ = 11/3, no damping, one pass
    ratings = sp.csr_matrix(np.array([[4.0, 2.0], [5.0, 0.0]]))
    b = BiasBaseline(BiasConfig(user_damping=0, item_damping=0, iterations=1)).fit(ratings)
    mu = 11 / 3
    assert b.global_mean == pytest.approx(mu)
    np.testing.assert_allclose(b.item_bias, [4.5 - mu, 2 - mu], rtol=1e-6)
    np.testing.assert_allclose(b.user_bias, [-0.25, 0.5], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(b.predict([0, 1], [0, 0]), [4.25, 5.0], rtol=1e-6)


def test_damping_shrinks_biases():
    ratings = sp.csr_matrix(np.array([[5.0, 1.0], [5.0, 0.0]]))
    loose = BiasBaseline(BiasConfig(user_damping=0, item_damping=0)).fit(ratings)
    tight = BiasBaseline(BiasConfig(user_damping=50, item_damping=50)).fit(ratings)
    assert np.all(np.abs(tight.item_bias) < np.abs(loose.item_bias))


def test_svd_beats_biases_beats_global_mean(make_low_rank):
    train, u, i, truth = make_low_rank()
    svd = SVDRatingModel(SVDConfig(n_components=3, seed=0)).fit(train)
    rmse_svd = rating_metrics(svd.predict(u, i), truth)["rmse"]
    rmse_bias = rating_metrics(svd.baseline.predict(u, i), truth)["rmse"]
    rmse_mean = rating_metrics(np.full(len(truth), svd.baseline.global_mean), truth)["rmse"]
    assert rmse_svd < rmse_bias < rmse_mean


def test_predictions_are_clipped_float32_and_deterministic(make_low_rank):
    train, u, i, _ = make_low_rank(n_users=60, n_movies=40)
    a = SVDRatingModel(SVDConfig(n_components=5, seed=7)).fit(train)
    b = SVDRatingModel(SVDConfig(n_components=5, seed=7)).fit(train)
    pa = a.predict(u, i)
    assert pa.dtype == np.float32 and pa.min() >= 0.5 and pa.max() <= 5.0
    np.testing.assert_allclose(pa, b.predict(u, i), atol=1e-5)


def test_rank_is_capped():
    ratings = sp.csr_matrix(np.random.default_rng(0).integers(1, 6, (10, 8)).astype(np.float64))
    m = SVDRatingModel(SVDConfig(n_components=1000)).fit(ratings)
    assert m.n_components == 7
    assert m.user_factors.shape == (10, 7) and m.item_factors.shape == (8, 7)


def test_bad_indices_and_unfitted():
    m = SVDRatingModel().fit(sp.csr_matrix(np.array([[4.0, 0.0], [0.0, 3.0]])))
    assert m.n_components == 1
    with pytest.raises(IndexError):
        m.predict([0], [2])
    with pytest.raises(IndexError):
        m.predict([-1], [0])
    with pytest.raises(RuntimeError):
        SVDRatingModel().predict([0], [0])
