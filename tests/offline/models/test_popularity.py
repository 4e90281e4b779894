"""Popularity baselines: hand-ordered counts and Bayesian averages, exclusion, cold start."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from pydantic import ValidationError

from offline.evaluate import evaluate_recommender
from offline.models.popularity import PopularityConfig, PopularityModel

# movie 0: 5, 5, 4, 1        -> 4 ratings, 3 liked, mean 3.75
# movie 1: 5                 -> 1 rating, 1 liked, mean 5
# movie 2: 4, 4, 3.5, 4.5, 2, 3 -> 6 ratings, 4 liked, mean 3.5
# movie 3: none
RATINGS = [
    (0, 0, 5.0), (1, 0, 5.0), (2, 0, 4.0), (3, 0, 1.0),
    (4, 1, 5.0),
    (0, 2, 4.0), (1, 2, 4.0), (2, 2, 3.5), (3, 2, 4.5), (4, 2, 2.0), (5, 2, 3.0),
]  # fmt: skip
N_USERS, N_MOVIES = 6, 4


@pytest.fixture
def ratings_frame() -> pd.DataFrame:
    return pd.DataFrame(RATINGS, columns=["user_index", "movie_index", "rating"])


@pytest.fixture
def ratings_csr(ratings_frame: pd.DataFrame) -> sp.csr_matrix:
    f = ratings_frame
    return sp.csr_matrix((f["rating"], (f["user_index"], f["movie_index"])), shape=(N_USERS, N_MOVIES))


@pytest.fixture
def make_model(ratings_frame: pd.DataFrame) -> Callable[..., PopularityModel]:
    """Factory: a model fitted on the hand-made ratings with the given config fields."""

    def make(**config: float) -> PopularityModel:
        return PopularityModel(PopularityConfig(**config)).fit(ratings_frame, n_movies=N_MOVIES)

    return make


def test_counts_and_means(make_model):
    m = make_model()
    assert m.count.tolist() == [4, 1, 6, 0]
    assert m.positive_count.tolist() == [3, 1, 4, 0]
    np.testing.assert_allclose(m.mean_rating[:3], [3.75, 5.0, 3.5])
    assert np.isnan(m.mean_rating[3])
    assert m.global_mean == pytest.approx(41 / 11)


def test_count_ordering(make_model):
    s = make_model().scores("count")
    assert s.dtype == np.float32
    assert np.argsort(-s, kind="stable").tolist() == [2, 0, 1, 3]


def test_bayes_ordering_and_min_ratings(make_model):
    m = make_model(bayes_m=2.0, min_ratings=2)
    c = 41 / 11
    # (v R + m C) / (v + m)
    expected = [(15 + 2 * c) / 6, (5 + 2 * c) / 3, (21 + 2 * c) / 8, c]
    np.testing.assert_allclose(m.bayes_average(), expected, rtol=1e-6)
    s = m.scores("bayes")
    # eligible 0 (3.74) > 2 (3.56); then the under-rated 1 (4.15) > 3 (3.73), both below
    assert np.argsort(-s, kind="stable").tolist() == [0, 2, 1, 3]
    with pytest.raises(ValueError):
        m.scores("nope")  # type: ignore[arg-type]


def test_csr_fit_matches_frame(make_model, ratings_csr):
    a = make_model()
    b = PopularityModel().fit(ratings_csr)
    pd.testing.assert_frame_equal(a.table(), b.table())


def test_preference_values(ratings_frame):
    prefs = ratings_frame.assign(rating=np.where(ratings_frame["rating"] >= 3.5, 1.0, -1.0))
    m = PopularityModel().fit(prefs, n_movies=N_MOVIES, values="preference")
    assert m.positive_count.tolist() == [3, 1, 4, 0]


def test_recommend_excludes_and_pads(make_model, ratings_csr):
    m = make_model()
    rec = m.recommend(np.array([0, 4, 5]), 2, ratings_csr)
    assert rec.dtype == np.int64
    # order [2, 0, 1, 3]; user 0 saw {0, 2}, user 4 saw {1, 2}, user 5 saw {2}
    assert rec.tolist() == [[1, 3], [0, 3], [0, 1]]
    assert m.recommend(np.array([0]), 4, ratings_csr).tolist() == [[1, 3, -1, -1]]
    assert m.recommend(np.array([0, 1]), 3).tolist() == [[2, 0, 1], [2, 0, 1]]


def test_table_round_trip(make_model):
    m = make_model(bayes_m=3.0)
    t = m.table()
    assert list(t.columns) == ["movie_index", "count", "positive_count", "mean_rating", "bayes_score"]
    back = PopularityModel.from_table(t, m.config)
    np.testing.assert_allclose(back.bayes_average(), m.bayes_average(), rtol=1e-6)
    assert back.global_mean == pytest.approx(m.global_mean, rel=1e-6)


def test_genre_popular(make_model):
    m = make_model()
    genres = np.array([[1, 0], [0, 1], [1, 1], [0, 1]], dtype=np.float32)
    # count percentiles: m3 .25, m1 .5, m0 .75, m2 1; m0 shares no liked genre -> .75 - 1
    assert m.genre_popular(np.array([0, 1]), genres, 4).tolist() == [2, 1, 3, 0]
    assert m.genre_popular(np.array([0, 1]), genres, 4, exclude=np.array([2])).tolist() == [1, 3, 0, -1]
    # overlap .5, .5, 1, .5 -> scores .375, .25, 1, .125
    assert m.genre_popular(np.array([1, 1]), genres, 3).tolist() == [2, 0, 1]


def test_cold_start_caches_give_the_uncached_scores(make_model):
    """The cached percentiles and genre matrix give the bytes a fresh model gives, and a
    changed popularity (a refit) or another genre matrix is not served from the cache."""
    m = make_model()
    genres = np.array([[1, 0], [0, 1], [1, 1], [0, 1]], dtype=np.float32)
    liked = np.array([1.0, 2.0])
    first = m.genre_popular_scores(liked, genres, "count")
    for kind in ("count", "bayes", "count"):
        assert m.genre_popular_scores(liked, genres, kind).tobytes() == \
            make_model().genre_popular_scores(liked, genres.copy(), kind).tobytes()
    assert m.genre_popular_scores(liked, genres, "count").tobytes() == first.tobytes()
    m.positive_count = m.positive_count[::-1].copy()  # popularity changed: re-sorted
    fresh = make_model()
    fresh.positive_count = m.positive_count.copy()
    assert m.genre_popular_scores(liked, genres, "count").tobytes() == \
        fresh.genre_popular_scores(liked, genres, "count").tobytes()
    other = genres[::-1].copy()  # another matrix object: not the cached one
    assert m.genre_popular_scores(liked, other, "count").tobytes() == \
        fresh.genre_popular_scores(liked, other.copy(), "count").tobytes()


def test_config_is_validated():
    with pytest.raises(ValidationError):
        PopularityConfig(bayes_m=-1.0)
    with pytest.raises(ValidationError):
        PopularityConfig(unknown=1)  # type: ignore[call-arg]
    with pytest.raises(RuntimeError):
        PopularityModel().scores()


def test_evaluates_through_the_harness(ratings_csr):
    rng = np.random.default_rng(0)
    holdout = sp.csr_matrix(np.where(rng.random((N_USERS, N_MOVIES)) < 0.3, 1.0, 0.0) * (ratings_csr.toarray() == 0))
    m = PopularityModel().fit(ratings_csr)
    out = evaluate_recommender(lambda u: m.recommend(u, 3, ratings_csr), ratings_csr, holdout, ks=(1, 3))
    assert 0 <= out["recall@3"] <= 1 and out["n_users"] >= 1


def test_index_outside_catalogue_raises(ratings_frame):
    with pytest.raises(ValueError):
        PopularityModel().fit(ratings_frame, n_movies=2)


@pytest.mark.parametrize("kind", ["count", "bayes"])
def test_recommend_is_first_unseen_of_the_global_ranking(kind):
    """Heavy users (most of the catalogue seen) take the widening path; ties go to the lower index."""
    rng = np.random.default_rng(3)
    n_users, n_movies = 40, 300
    ratings = sp.random(n_users, n_movies, density=0.2, format="csr", random_state=4)
    ratings.data = rng.integers(1, 11, size=ratings.nnz) / 2.0
    m = PopularityModel().fit(ratings)
    seen = sp.random(n_users, n_movies, density=0.1, format="lil", random_state=5)
    seen[:3, : n_movies - 5] = 1.0  # three users with 5 eligible movies left
    seen[3, :] = 1.0  # and one with none
    seen = seen.tocsr()
    ranking = np.argsort(-m.scores(kind), kind="stable")
    out = m.recommend(np.arange(n_users), 20, seen, kind)
    for u in range(n_users):
        excluded = set(seen[u].indices.tolist())
        expected = [int(i) for i in ranking if i not in excluded][:20]
        assert out[u].tolist() == expected + [-1] * (20 - len(expected))
    assert m.recommend(np.arange(2), 5, None, kind).tolist() == [ranking[:5].tolist()] * 2


def test_liked_matches_rating_to_preference():
    from offline.models.popularity import liked
    from offline.preference import rating_to_preference

    ratings = np.r_[np.arange(1, 11) / 2, [1, 2, 3, 4, 5], np.nextafter(3.0, 4.0), 3.0000001, 2.9999999, np.nan]
    assert liked(ratings, "rating").tolist() == (rating_to_preference(ratings) > 0).tolist()
    assert liked(np.array([-2.0, -1.0, 1.0, 2.0]), "preference").tolist() == [False, False, True, True]


# -- the batched cold-start scores against the per-user ones -----------------------------------
def _random_cold_start(seed: int, n_movies: int = 80, n_genres: int = 7):
    """A model fitted on random ratings, a multi-hot genre matrix with genre-less movies, and
    liked-genre weights of several users (an all-zero one, one on a genre no movie has)."""
    rng = np.random.default_rng(seed)
    n = 600
    frame = pd.DataFrame({"movie_index": rng.integers(0, n_movies, n),
                          "rating": rng.choice(np.arange(1, 11) / 2, n)})
    model = PopularityModel(PopularityConfig(min_ratings=3)).fit(frame, n_movies=n_movies, value_col="rating")
    genres = (rng.random((n_movies, n_genres)) < 0.3).astype(np.float32)
    genres[:, -1] = 0.0  # a genre no movie has
    genres[::9] = 0.0  # movies without a genre
    weights = rng.integers(0, 4, size=(9, n_genres)).astype(np.float64)
    weights[0] = 0.0  # no liked genre at all
    weights[1] = 0.0
    weights[1, -1] = 3.0  # only a genre no movie carries: no overlap anywhere
    weights[2] = 1.0  # every genre
    weights[3] = 0.0
    weights[3, 0] = 1.0  # one genre
    return model, genres, weights


@pytest.mark.parametrize("kind", ["count", "bayes"])
@pytest.mark.parametrize("seed", [0, 1])
def test_genre_popular_scores_many_rows_are_the_per_user_scores(kind, seed):
    model, genres, weights = _random_cold_start(seed)
    batch = model.genre_popular_scores_many(weights, genres, kind)
    assert batch.shape == (len(weights), len(genres)) and batch.dtype == np.float32
    for u, w in enumerate(weights):
        one = model.genre_popular_scores(w, genres, kind)
        assert batch[u].tobytes() == one.tobytes(), f"user {u}, weights {w.tolist()}"
        # and the definition: overlap_i * pop_i, or pop_i - 1 without a shared genre
        pop = np.empty(len(genres))
        pop[np.argsort(model.scores(kind), kind="stable")] = np.arange(1, len(genres) + 1) / len(genres)
        overlap = genres.astype(np.float64) @ w / (w.sum() if w.sum() > 0 else 1.0)
        np.testing.assert_allclose(one, np.where(overlap > 0, overlap * pop, pop - 1.0), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("kind", ["count", "bayes"])
@pytest.mark.parametrize("seed", [0, 1])
def test_genre_popular_z_many_is_the_standardised_scores(kind, seed):
    from online.overlay import standardise

    model, genres, weights = _random_cold_start(seed)
    scaled, offset = model.genre_popular_z_many(weights, genres, kind)
    assert scaled.shape == (len(weights), len(genres)) and offset.shape == (len(weights),)
    assert scaled.dtype == offset.dtype == np.float32
    expected = standardise(model.genre_popular_scores_many(weights, genres, kind))
    np.testing.assert_allclose(scaled + offset[:, None], expected, rtol=0, atol=1e-5)
    # one user alone: the same row
    for u in (0, 2, len(weights) - 1):
        one_scaled, one_offset = model.genre_popular_z_many(weights[u:u + 1], genres, kind)
        np.testing.assert_allclose(one_scaled[0] + one_offset[0], expected[u], rtol=0, atol=1e-5)


def test_matrix_and_frame_fits_agree_at_the_like_edge() -> None:
    rng = np.random.default_rng(6)
    n = 400
    ratings = rng.choice(np.array([0.5, 2.5, 3.0, 3.5, 4.0, 5.0], dtype=np.float32), n)
    users, movies = rng.integers(0, 40, n), rng.integers(0, 30, n)
    first = np.unique(users * 30 + movies, return_index=True)[1]  # one rating per (user, movie)
    csr = sp.csr_matrix((ratings[first], (users[first], movies[first])), shape=(40, 30))
    frame = pd.DataFrame({"movie_index": csr.tocoo().col, "rating": csr.tocoo().data})
    a = PopularityModel().fit(csr, values="rating")
    b = PopularityModel().fit(frame, n_movies=30, values="rating")
    assert np.array_equal(a.count, b.count) and np.array_equal(a.positive_count, b.positive_count)
    assert np.array_equal(a.mean_rating, b.mean_rating, equal_nan=True) and a.global_mean == b.global_mean
    assert a.positive_count.sum() == int((csr.data >= 3.5).sum())


@pytest.mark.parametrize("kind", ["count", "bayes"])
def test_blend_genre_popular_z_blends_named_rows_in_place(kind):
    from online.overlay import standardise

    model, genres, weights = _random_cold_start(3)
    expected = standardise(model.genre_popular_scores_many(weights, genres, kind))  # (b, n) by passes
    rng = np.random.default_rng(4)
    into = rng.standard_normal((len(weights) + 3, len(genres))).astype(np.float32)
    before = into.copy()
    rows = rng.permutation(len(into))[: len(weights)].tolist()
    keep = rng.random(len(weights))
    keep[0], keep[1] = 0.0, 1.0  # all cold start, none of it
    constants = model.blend_genre_popular_z(weights, genres, into, rows, keep, kind)
    assert constants.shape == (len(weights),) and constants.dtype == np.float32
    for j, i in enumerate(rows):
        np.testing.assert_allclose(into[i] + constants[j], keep[j] * before[i] + (1 - keep[j]) * expected[j],
                                   rtol=0, atol=1e-5, err_msg=f"row {i}")
    untouched = sorted(set(range(len(into))) - set(rows))
    assert np.array_equal(into[untouched], before[untouched])
