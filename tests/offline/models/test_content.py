"""Content baseline: year scaling, same-genre neighbours first, profiles, brute-force agreement."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import scipy.sparse as sp

from offline.models.content import ContentConfig, ContentModel

# genres: 0 = drama, 1 = comedy, 2 = horror
GENRES = np.array(
    [[1, 0, 0], [1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 1, 1], [1, 0, 0]], dtype=np.float32
)
YEARS = np.array([1990, 2000, 1995, 1990, np.nan, 2010])


@pytest.fixture
def make_model() -> Callable[..., ContentModel]:
    """Factory: a model on GENRES / YEARS (or given arrays) with the given config fields."""

    def make(genres: np.ndarray = GENRES, years: np.ndarray | None = YEARS, **config: object) -> ContentModel:
        return ContentModel(ContentConfig(**config)).fit(genres, years)

    return make


def test_features_scale_year(make_model):
    f = make_model(year_weight=0.1).features
    assert f.shape == (6, 4) and f.dtype == np.float32
    # (year - 1990) / 20; the missing year takes the mean of the known ones, 0.35
    np.testing.assert_allclose(f[:, -1], 0.1 * np.array([0, 0.5, 0.25, 0, 0.35, 1]), rtol=1e-6)
    assert np.all(make_model(years=None).features[:, -1] == 0)


@pytest.mark.parametrize("method", ["cosine", "jaccard"])
def test_similar_movies_same_genre_first(make_model, method):
    idx, val = make_model().similar_movies(0, 3, method=method)
    assert idx.dtype == np.int64 and 0 not in idx
    assert set(idx[:2].tolist()) == {1, 5} and idx[2] == 2
    assert np.all(np.diff(val) <= 0)


def test_cosine_year_breaks_ties(make_model):
    idx, _ = make_model().similar_movies(0, 2, method="cosine")
    assert idx.tolist() == [1, 5]  # 2000 is nearer 1990 than 2010


def test_similar_movies_pads_past_catalogue(make_model):
    idx, val = make_model().similar_movies(3, 8)
    assert idx.shape == (6,) and idx[-1] == -1 and np.isneginf(val[-1]) and 3 not in idx[:-1]


@pytest.mark.parametrize("method", ["cosine", "jaccard"])
def test_recommend_from_profile(make_model, method):
    # user 0 loves drama movie 0 and hates horror movie 3
    train = sp.csr_matrix(([2.0, -2.0], ([0, 0], [0, 3])), shape=(2, 6))
    rec = make_model(similarity=method).recommend(np.array([0, 1]), 4, train, exclude_csr=train)
    assert rec.dtype == np.int64 and rec.shape == (2, 4)
    assert set(rec[0, :2].tolist()) == {1, 5} and rec[0, 2:].tolist() == [2, 4]
    assert len(set(rec[1].tolist())) == 4  # a user without train movies still gets a list


def _brute_force(genres: np.ndarray, features: np.ndarray, train: np.ndarray, method: str) -> np.ndarray:
    """Per (user, movie) loops over the module docstring's definitions."""
    n_users, n_movies = train.shape
    out = np.zeros((n_users, n_movies))
    for u in range(n_users):
        mass = max(np.abs(train[u]).sum(), 1.0)
        if method == "cosine":
            prof = train[u] @ features / mass
            for j in range(n_movies):
                d = np.linalg.norm(prof) * np.linalg.norm(features[j])
                out[u, j] = prof @ features[j] / d if d > 0 else 0.0
        else:
            for j in range(n_movies):
                for i in np.flatnonzero(train[u]):
                    a, b = genres[i] > 0, genres[j] > 0
                    union = (a | b).sum()
                    out[u, j] += train[u, i] * ((a & b).sum() / union if union else 0.0) / mass
    return out


@pytest.mark.parametrize("method", ["cosine", "jaccard"])
def test_scores_match_brute_force(make_model, method):
    rng = np.random.default_rng(0)
    genres = (rng.random((40, 5)) < 0.35).astype(np.float32)
    years = np.where(rng.random(40) < 0.1, np.nan, rng.integers(1950, 2020, 40))
    train = np.where(rng.random((7, 40)) < 0.2, rng.choice([-2.0, -1.0, 1.0, 2.0], (7, 40)), 0.0)
    model = make_model(genres, years, year_weight=0.3)
    got = model.score_users(np.arange(7), sp.csr_matrix(train), method)
    np.testing.assert_allclose(got, _brute_force(genres, model.features, train, method), atol=1e-5)


def test_recommend_never_returns_excluded(make_model):
    rng = np.random.default_rng(1)
    genres = (rng.random((50, 6)) < 0.3).astype(np.float32)
    train = sp.csr_matrix(np.where(rng.random((20, 50)) < 0.3, 1.0, 0.0))
    rec = make_model(genres, None).recommend(np.arange(20), 10, train, exclude_csr=train)
    dense = train.toarray()
    assert not any(dense[u, i] for u in range(20) for i in rec[u] if i >= 0)


def test_unknown_similarity_and_unfitted():
    with pytest.raises(ValueError):
        ContentModel(ContentConfig()).fit(GENRES).similarity_to(0, "euclid")  # type: ignore[arg-type]
    with pytest.raises(RuntimeError):
        ContentModel().similar_movies(0, 3)
