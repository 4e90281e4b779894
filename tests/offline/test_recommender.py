"""The Recommender contract: top-N, updates, cold start, similar movies."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from offline.artifacts import load_version
from offline.recommender import Recommender, UnknownMovieError
from online.settings import OnlineSettings


@pytest.fixture(scope="module")
def art(small_artifacts: Path):
    return load_version(small_artifacts)


@pytest.fixture
def make(art):
    def _make(**kw) -> Recommender:
        return Recommender.from_artifact(art, **kw)

    return _make


def test_top_n_excludes_history_and_is_sorted(make) -> None:
    rec = make()
    top = rec.get_top_n(1, 20)
    seen = set(rec.movies.ids[rec.seen(rec.state(1))].tolist())
    ids, scores = zip(*top)
    assert len(top) == 20 and not seen & set(ids)
    assert list(scores) == sorted(scores, reverse=True)
    with_seen = [m for m, _ in rec.get_top_n(1, 20, exclude_seen=False)]
    assert seen & set(with_seen), "user 1's best-scored movies include ones they rated"


def test_a_views_history_is_the_artifacts_row_and_cannot_change_the_model(make) -> None:
    rec = make()
    u = rec.users.get(1)
    row = rec.history.getrow(u)
    movies, preferences = rec.view(rec.state(1)).history
    assert movies.tolist() == row.indices.tolist() and preferences.tolist() == row.data.astype(int).tolist()
    assert preferences.dtype == np.int8 and set(preferences.tolist()) <= {-2, -1, 1, 2}
    with pytest.raises(ValueError, match="read-only"):
        movies[0] = 0  # a view into the model's matrix: writing to it would change every later list
    with pytest.raises(ValueError, match="read-only"):
        preferences[0] = 2


@pytest.mark.parametrize("strategy", ["foldin", "additive"])
def test_liking_a_movie_raises_its_neighbours(make, strategy: str) -> None:
    rec = make(strategy=strategy)
    anchor = 1
    neighbours = [m for m, _ in rec.similar_movies(anchor, 30, "als")]
    idx = rec.movies.index_of(neighbours)
    before = rec.vector(rec.state(1)) @ rec.item_factors[idx].T
    rec.update_user(1, anchor, 2, occurred_at=1.6e9)
    after = rec.vector(rec.state(1)) @ rec.item_factors[idx].T
    assert after.mean() > before.mean()
    assert anchor not in [m for m, _ in rec.get_top_n(1, 50)]


def test_static_strategy_never_moves(make) -> None:
    rec = make(strategy="static")
    before = rec.vector(rec.state(1)).copy()
    top = [m for m, _ in rec.get_top_n(1, 11)]
    rec.update_user(1, top[0], 2, 1.6e9)
    assert np.array_equal(rec.vector(rec.state(1)), before)
    assert [m for m, _ in rec.get_top_n(1, 10)] == top[1:]


def test_cold_start_popularity_then_genres_then_vector(make, art) -> None:
    rec = make(strategy="foldin", cold_start_swipes=3)  # the hard switch (the blending rules: below)
    new = 77_000_000
    popular = [m for m, _ in rec.get_top_n(new, 10)]
    order = np.argsort(-rec.popularity_scores, kind="stable")[:10]
    assert popular == rec.movies.ids[order].tolist()
    movies = art.tables["movies"].set_index("movie_id")
    animations = [m for m in movies.index if "Animation" in movies.at[m, "genres"]][:3]
    rec.update_user(new, animations[0], 2, 1.6e9)
    genre_list = [m for m, _ in rec.get_top_n(new, 10)]
    assert rec.vector(rec.state(new)) is None
    share = np.mean(["Animation" in movies.at[m, "genres"] for m in genre_list])
    assert share >= 0.5 and animations[0] not in genre_list
    rec.update_user(new, animations[1], 2, 1.6e9)
    rec.update_user(new, animations[2], 2, 1.6e9)
    assert rec.vector(rec.state(new)) is not None
    assert rec.state(new).vector is None  # fold-in is stateless: the vector is derived when ranked, not stored


def test_unknown_movie_and_bad_preference_are_rejected(make) -> None:
    rec = make()
    with pytest.raises(UnknownMovieError):
        rec.update_user(1, 999_999_999, 2)
    with pytest.raises(ValueError, match="preference"):
        rec.update_user(1, 1, 0)


def test_similar_movies_methods(make, art) -> None:
    rec = make()
    genres = art.tables["movies"].set_index("movie_id")["genres"]
    for method in ("als", "cosine", "jaccard"):
        sims = rec.similar_movies(1, 10, method)
        assert len(sims) == 10 and 1 not in [m for m, _ in sims]
        assert [s for _, s in sims] == sorted((s for _, s in sims), reverse=True)
    jac = rec.similar_movies(1, 5, "jaccard")
    assert all(set(genres[m].split("|")) & set(genres[1].split("|")) for m, _ in jac)


def test_state_from_another_version_is_re_derived_by_fold_in(make) -> None:
    """A promoted model re-derives a user's vector from history + swipes, not the old vector."""
    old = make(strategy="additive")
    for m in (260, 1196, 1210):
        old.update_user(1, m, 2, 1.6e9)
    state = old.state(1)
    new = make(strategy="additive")
    new.model_version = "another-version"
    expected = make(strategy="foldin")
    for m in (260, 1196, 1210):
        expected.update_user(1, m, 2, 1.6e9)
    assert not np.allclose(state.vector, expected.vector(expected.state(1)))
    assert np.allclose(new.vector(state), expected.vector(expected.state(1)), atol=1e-5)
    assert np.allclose(old.vector(state), state.vector)


def test_user_state_round_trips_through_bytes(make) -> None:
    from stream_app.user_state import UserState

    rec = make(strategy="foldin")
    rec.update_user(55_000_001, 1, 2, 1.6e9)
    rec.update_user(55_000_001, 2, -1, 1.6e9 + 60)
    state = rec.state(55_000_001)
    back = UserState.from_bytes(state.to_bytes())
    assert back.movies.tolist() == [1, 2] and back.preferences.tolist() == [2, -1]
    assert back.last_event_at == state.last_event_at and back.n_events == 2
    assert back.vector is None and back.model_version == rec.model_version


def _animation(art, n: int = 4) -> list[int]:
    """The n most-liked Animation movies of the artifact."""
    movies = art.tables["movies"].set_index("movie_id")
    pop = art.tables["popularity"].sort_values(["positive_count", "movie_id"], ascending=[False, True])
    return [int(m) for m in pop["movie_id"] if "Animation" in movies.at[m, "genres"]][:n]


def test_a_state_of_another_strategy_is_re_derived(make) -> None:
    """A vector tagged with another strategy (the worker's default changed) is not reused."""
    additive = make(strategy="additive")
    for m in (260, 1196, 1210):
        additive.update_user(1, m, 2, 1.6e9)
    state = additive.state(1)
    assert state.strategy == "additive"
    recency = make(strategy="recency")
    expected = make(strategy="recency")
    for m in (260, 1196, 1210):
        expected.update_user(1, m, 2, 1.6e9)
    np.testing.assert_allclose(recency.vector(state), expected.vector(expected.state(1)), atol=1e-6)
    assert not np.allclose(recency.vector(state), state.vector)
    # a format-1 state (no tag) keeps its vector, as the workers that wrote it did
    from dataclasses import replace

    np.testing.assert_array_equal(recency.vector(replace(state, strategy="")), state.vector)


@pytest.mark.parametrize("strategy", ["recency", "neighbours", "recency_neighbours"])
def test_the_new_rules_follow_four_liked_animation_films(make, art, strategy: str) -> None:
    rec = make(strategy=strategy)
    movies = art.tables["movies"].set_index("movie_id")
    rated = set(rec.movies.ids[rec.seen(rec.state(1))].tolist())
    picks = [m for m in _animation(art, 40) if m not in rated][:4]
    before = [m for m, _ in rec.get_top_n(1, 10)]
    for i, m in enumerate(picks):
        rec.update_user(1, m, 2, 1.6e9 + i)
    after = [m for m, _ in rec.get_top_n(1, 10)]
    assert len(set(before) - set(after)) >= 4, strategy
    if strategy != "recency":  # the overlay lifts the liked films' neighbours: the genre follows
        share = np.mean(["Animation" in movies.at[m, "genres"] for m in after])
        assert share > np.mean(["Animation" in movies.at[m, "genres"] for m in before])


def test_a_new_user_blends_from_the_genre_cold_start(make, art) -> None:
    rec = make(strategy="recency_neighbours")
    new = 77_000_001
    first = rec.recommend_states([rec.state(new)], 10)[0]
    assert first.source == "cold_start"
    assert first.movie_ids.tolist() == [m for m, _ in make(strategy="foldin").get_top_n(new, 10)]
    movies = art.tables["movies"].set_index("movie_id")
    for i, m in enumerate(_animation(art)):
        rec.update_user(new, m, 2, 1.6e9 + i)
    assert rec.vector(rec.state(new)) is not None  # a vector from the first swipe on
    ranked = rec.recommend_states([rec.state(new)], 10)[0]
    assert ranked.source == "model"
    assert sum("Animation" in movies.at[m, "genres"] for m in ranked.movie_ids.tolist()) >= 5


# -- batched lists and vectors against the per-user ones ---------------------------------------
BATCH_STRATEGIES = ["recency_neighbours", "recency", "foldin", "static", "additive"]
NEW_ONE, NEW_FIVE, NEW_COLD = 77_100_001, 77_100_005, 77_100_000


def _mixed_states(rec: Recommender, art) -> list:
    """States of one batch: known users with swipes (liked and disliked) and without, a new
    user with 1 and one with 5 liked swipes (blending), a new user with none (cold)."""
    popular = art.tables["popularity"].sort_values(["positive_count", "movie_id"], ascending=[False, True])
    popular = [int(m) for m in popular["movie_id"]]
    states, t = [], 1.6e9
    for user, prefs in ((1, [2, -1, 1, -2, 2]), (2, [2, 2, -1]), (3, [])):
        seen = set(rec.movies.ids[rec.seen(rec.state(user))].tolist())
        picks = [m for m in popular if m not in seen][: len(prefs)]
        s = rec.new_state(user)
        for i, (m, p) in enumerate(zip(picks, prefs)):
            s = rec.apply(s, m, p, t + 3600 * i)
        states.append(s)
    animation = _animation(art, 6)
    for user, n_liked in ((NEW_ONE, 1), (NEW_FIVE, 5)):
        s = rec.new_state(user)
        for i, m in enumerate(animation[:n_liked]):
            s = rec.apply(s, m, 2, t + 60 * i)
        states.append(s)
    states.append(rec.new_state(NEW_COLD))
    return states


def _dense_scores(rec: Recommender, state) -> np.ndarray | None:
    """(n_movies,) the scores one user's list ranks, computed for that user alone (None: cold)."""
    view = rec.view(state)
    if rec.rule.blends_cold_start:
        return rec.blended_scores([view])[0].astype(np.float64)
    vec = rec.vector(state)
    return None if vec is None else rec.item_factors.astype(np.float64) @ vec.astype(np.float64)


@pytest.mark.parametrize("strategy", BATCH_STRATEGIES)
def test_a_batch_ranks_every_user_as_alone(make, art, strategy: str) -> None:
    from tests.ranking import assert_same_ranking, scores_at

    rec = make(strategy=strategy)
    states = _mixed_states(rec, art)
    batch = rec.recommend_states(states, 10)
    assert len(batch) == len(states)
    sources = []
    for state, got in zip(states, batch):
        alone = rec.recommend_states([state], 10)[0]
        context = f"{strategy}, user {state.user_id} ({len(state.movies)} swipes)"
        assert got.source == alone.source, context
        assert len(got.movie_ids) == 10, context
        assert_same_ranking(got.movie_ids, got.scores, alone.movie_ids, alone.scores, context=context)
        sources.append(got.source)
        dense = _dense_scores(rec, state)
        if got.source == "model":
            # the published scores are the user's own (standardised, for the blending rules) scores,
            # and the list is the best 10 unseen movies by them
            idx = rec.movies.index_of(got.movie_ids)
            np.testing.assert_allclose(got.scores, scores_at(dense, idx), rtol=1e-4, atol=1e-4, err_msg=context)
            dense[rec.seen(state)] = -np.inf
            best = np.argsort(-dense, kind="stable")[:10]
            assert_same_ranking(rec.movies.ids[best], dense[best], got.movie_ids, got.scores, context=context)
        else:  # exact on purpose: a cold list publishes the stored popularity scores themselves
            np.testing.assert_array_equal(got.scores, rec.popularity_scores[rec.movies.index_of(got.movie_ids)])
    # the batch mixes both sources: known users and the 5-swipe user have a vector (static: new
    # users never do), the user without swipes is cold (and the 1-swipe user blends, or is cold
    # under a hard switch)
    assert sources[:3] == ["model"] * 3 and sources[5] == "cold_start", sources
    assert sources[4] == ("cold_start" if strategy == "static" else "model"), sources
    assert sources[3] == ("model" if rec.rule.blends_cold_start else "cold_start"), sources


@pytest.mark.parametrize("strategy", BATCH_STRATEGIES)
def test_stateless_rules_store_no_vector_and_derive_it(make, art, strategy: str) -> None:
    rec = make(strategy=strategy)
    states = _mixed_states(rec, art)
    views = [rec.view(s) for s in states]
    batched = rec.vectors(views)
    for state, view, vec in zip(states, views, batched):
        context = f"{strategy}, user {state.user_id}"
        one = rec.vector(state)
        if rec.rule.stateless:
            assert state.vector is None, context
            ref = rec.rule.derive(view)
        else:
            ref = state.vector if state.vector is not None else rec.rule.derive(view)
            if len(state.movies) and state.user_id != NEW_ONE:  # warm (additive: the hard switch at 3)
                assert state.vector is not None, context
        if ref is None:
            assert one is None and vec is None, context
            continue
        scale = float(np.abs(ref).max())
        np.testing.assert_allclose(one, ref, rtol=0, atol=1e-5 * scale, err_msg=context)
        np.testing.assert_allclose(vec, ref, rtol=0, atol=2e-5 * scale, err_msg=context)  # the batched derive
    if not rec.rule.stateless:
        assert sum(s.vector is not None for s in states) == 3  # users 1, 2 and the 5-swipe user


@pytest.mark.parametrize("strategy", ["recency_neighbours", "recency"])
def test_a_lone_user_ranks_as_in_a_batch_with_repeats_beyond_the_window(make, art, strategy: str) -> None:
    """The one-user paths (solve on lists, Woodbury with k > window; seeds on lists) against the
    batched ones (``solve_many``, vectorised seeds: more users than ``SOLVE_ONE_BY_ONE`` and
    ``FEW_USERS``) for users whose swipes repeat movies inside and across the window's edge."""
    from online.overlay import FEW_USERS
    from online.rules import SOLVE_ONE_BY_ONE
    from tests.ranking import assert_same_ranking

    rec = make(strategy=strategy)
    assert rec.item_factors.shape[1] > rec.online.recency.window  # the Woodbury path of the lone solve
    popular = art.tables["popularity"].sort_values(["positive_count", "movie_id"], ascending=[False, True])
    popular = [int(m) for m in popular["movie_id"]][:12]
    users = [*range(1, 9), NEW_FIVE, NEW_ONE]  # known users and two new ones (no offline vector)
    states = []
    for user in users:
        s = rec.new_state(user)
        for i in range(rec.online.recency.window + 12):  # 42 swipes of 12 movies: every movie repeats
            s = rec.apply(s, popular[(i * 5 + user) % 12], (2, -1, 1, -2, 2)[(i + user) % 5], 1.6e9 + 60 * i)
        states.append(s)
    assert len(states) > max(SOLVE_ONE_BY_ONE, FEW_USERS)
    batch = rec.recommend_states(states, 10)
    views = [rec.view(s) for s in states]
    batched = rec.vectors(views)
    for state, view, vec, got in zip(states, views, batched, batch):
        context = f"{strategy}, user {state.user_id}"
        alone = rec.recommend_states([state], 10)[0]
        assert alone.source == got.source == "model", context
        assert_same_ranking(alone.movie_ids, alone.scores, got.movie_ids, got.scores, context=context)
        one = rec.vectors([view])[0]
        np.testing.assert_allclose(one, vec, rtol=0, atol=2e-5 * float(np.abs(vec).max()), err_msg=context)


def test_a_blending_users_scores_are_the_share_weighted_z_scores(make, art) -> None:
    """A new user's list score is a z(model + overlay) + (1 - a) z(cold start), here rebuilt from
    the definitions by passes over the catalogue, for a user with liked swipes (genre cold start)
    and one with only disliked swipes (plain popularity), blended beside a known user."""
    from online.overlay import standardise

    rec = make(strategy="recency_neighbours")
    animation = _animation(art, 4)
    liked, disliked = rec.new_state(77_200_001), rec.new_state(77_200_002)
    for i, m in enumerate(animation[:3]):
        liked = rec.apply(liked, m, 2, 1.6e9 + i)
        disliked = rec.apply(disliked, m, -2, 1.6e9 + i)
    states = [rec.apply(rec.state(1), animation[3], 2, 1.6e9), liked, disliked]
    views = [rec.view(s) for s in states]
    got = rec.blended_scores(views).astype(np.float64)
    y = rec.item_factors.astype(np.float64)
    for row, (view, vec) in enumerate(zip(views, rec.vectors(views))):
        model = standardise((y @ vec.astype(np.float64))[None, :]).astype(np.float64)[0]
        extra = rec.rule.overlay([view])
        if extra is not None:
            model += extra.toarray()[0]
        a = rec.rule.model_share(view)
        m, p = view.swipes
        if p.size and (p > 0).any():
            cold = rec.popularity.genre_popular_scores(rec.item_genres[m[p > 0]].sum(axis=0), rec.item_genres,
                                                       rec.cold_start_kind)
        else:
            cold = rec.popularity_scores
        expected = a * model + (1 - a) * standardise(cold[None, :])[0]
        assert (a < 1) == (row > 0), (row, a)
        np.testing.assert_allclose(got[row], expected, rtol=0, atol=2e-4, err_msg=f"row {row}")


@pytest.mark.parametrize("n_swipes", [5, 100])  # the dict look-ups, and the vectorised path
def test_swipes_on_movies_outside_the_catalogue_are_dropped(make, art, n_swipes: int) -> None:
    from online.state import UserState

    rec = make(strategy="recency_neighbours")
    known = rec.movies.ids[:n_swipes]
    movies = np.insert(known, [1, len(known) - 1], [999_999_991, 999_999_992])  # ids of another catalogue
    prefs = np.resize(np.array([2, -1, 1], np.int8), len(movies))
    state = UserState(user_id=1, movies=movies.astype(np.int64), preferences=prefs)
    idx, p = rec._swipes(state)
    kept = ~np.isin(movies, [999_999_991, 999_999_992])
    assert idx.tolist() == list(range(n_swipes)) and p.tolist() == prefs[kept].tolist()
    assert idx.dtype == np.int64 and p.dtype == np.int8
    clean = UserState(user_id=1, movies=known.astype(np.int64), preferences=prefs[kept])
    idx, p = rec._swipes(clean)
    assert idx.tolist() == list(range(n_swipes)) and p.tolist() == prefs[kept].tolist()


@pytest.mark.parametrize("strategy", ["recency_neighbours", "recency", "neighbours"])
def test_a_lone_users_list_is_the_same_with_the_compiled_kernels_or_numpy(make, art, strategy: str) -> None:
    """One user at a time (the worker's lone event) runs numba's kernels; with
    ``compiled_kernels = false`` numpy's code: the same lists, tie-aware."""
    from tests.ranking import assert_same_ranking

    compiled = make(online=OnlineSettings(strategy=strategy))
    plain = make(online=OnlineSettings(strategy=strategy, compiled_kernels=False))
    fold_in = getattr(compiled.rule, "recency", None)
    assert fold_in is None or fold_in._kernel is not None, "the artifact's k should exceed the window"
    for state in _mixed_states(compiled, art):
        got, want = compiled.recommend_states([state], 10)[0], plain.recommend_states([state], 10)[0]
        context = f"{strategy}, user {state.user_id} ({len(state.movies)} swipes)"
        assert got.source == want.source, context
        assert_same_ranking(got.movie_ids, got.scores, want.movie_ids, want.scores, context=context)


def test_warm_up_ranks_without_keeping_anything(make) -> None:
    rec = make(online=OnlineSettings())
    rec.warm_up()
    assert rec._states == {}
    assert "_kernel" in rec.rule.recency.__dict__  # the solve's kernel was looked up (and compiled)
