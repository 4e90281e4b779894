"""Replay through the real broker and worker gives the same lists as the in-process replay."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from offline.artifacts import load_version
from offline.recommender import Recommender, UnknownMovieError
from online.settings import OnlineSettings
from replay.events import ReplayEvents, split_events
from replay.kafka_replay import KafkaOptions
from replay.local import PlayResult
from replay.params import with_knobs
from replay.prequential import after_lists
from replay.run import ReplayConfig, Replayer, score
from stream_app.user_state import UserState
from tests.ranking import assert_same_ranking, scores_at

pytestmark = pytest.mark.integration
N_EVENTS = 200


def _reference_scores(rec: Recommender, events: ReplayEvents
                      ) -> tuple[list[npt.NDArray[np.float64] | None], dict[int, npt.NDArray[np.float64] | None]]:
    """float64 scores of every movie (seen ones -inf) for each event's user just before the
    event, and for each user after their last event (the vector's dot products, or the
    standardised list scores of a strategy that blends the cold start); None while a user is
    cold (popularity lists do not go through a matrix product: they must match exactly)."""
    items = rec.item_factors.astype(np.float64)
    states: dict[int, UserState] = {}

    def row(state: UserState) -> npt.NDArray[np.float64] | None:
        if rec.rule.blends_cold_start:  # standardised list scores, one user at a time
            if rec.users.get(state.user_id) is None and not len(state.movies):
                return None
            out = rec.blended_scores([rec.view(state)])[0].astype(np.float64)
        else:
            vec = rec.vector(state)
            if vec is None:
                return None
            out = items @ vec.astype(np.float64)
        out[rec.seen(state)] = -np.inf
        return out

    before = []
    for i in range(len(events)):
        u = int(events.user_ids[i])
        state = states.get(u) or rec.new_state(u)
        before.append(row(state))
        try:
            states[u] = rec.apply(state, int(events.movie_ids[i]), int(events.preferences[i]),
                                  float(events.timestamps[i]), events.event_ids[i].hex)
        except (UnknownMovieError, ValueError):  # dead-lettered: the state stays
            states[u] = state
    return before, {u: row(st) for u, st in states.items()}


def assert_same_lists(a: PlayResult, b: PlayResult, rec: Recommender, events: ReplayEvents) -> dict[str, float]:
    """Both plays showed every user the same lists, up to ties (see ``tests.ranking``): the
    worker scores its batches, the local replay its rounds, so the products differ in shape.
    Returns the most each metric of ``score`` may differ between the two: a mean over
    events moves only through the events whose lists differ (by <= 1 per scored event for
    hit/ndcg/mrr, <= 10 per event for changed@10); 0 when every list is identical."""
    before_ref, final_ref = _reference_scores(rec, events)

    def same(x: npt.NDArray[np.int64], y: npt.NDArray[np.int64], ref: npt.NDArray[np.float64] | None,
             what: str) -> bool:
        if np.array_equal(x, y):
            return True
        assert ref is not None, f"{what}: cold-start lists differ: {x.tolist()} vs {y.tolist()}"
        assert_same_ranking(x, scores_at(ref, rec.movies.index_of(x)), y, scores_at(ref, rec.movies.index_of(y)),
                            context=what)
        return False

    differ = np.array([not same(a.before[i], b.before[i], ref, f"event {i}") for i, ref in enumerate(before_ref)],
                      dtype=bool)
    final_differ = {u: not same(a.final[u], b.final[u], ref, f"user {u}'s final list") for u, ref in final_ref.items()}
    after_differ = after_lists(differ[:, None], events.next_of_user(),
                               np.array([[final_differ[int(u)]] for u in events.user_ids], dtype=bool))[:, 0]
    scored = max(int(events.positive.sum()), 1)
    prequential = float((differ & events.positive).sum()) / scored
    return {"hit": prequential, "ndcg": prequential, "mrr": prequential,
            "changed": 10.0 * float((differ | after_differ).sum()) / max(len(events), 1)}


def test_kafka_and_local_replays_agree_and_account_for_every_event(
    kafka_bootstrap: str, small_artifacts: Path, tmp_path: Path
) -> None:
    art = load_version(small_artifacts)
    params = with_knobs(OnlineSettings(), additive__step=0.3, additive__half_life_days=3.0, additive__max_norm_factor=2.0)
    cfg = ReplayConfig("test", ("additive", "foldin", "recency_neighbours"), params, via="kafka", limit=N_EVENTS)
    replayer = Replayer(art, small_artifacts, cfg, KafkaOptions(kafka_bootstrap, tmp_path, partitions=2, stall_s=60))
    outcome = replayer.run()
    events = split_events(art, "test", N_EVENTS)
    for name, o in outcome.strategies.items():
        extra = o.play.extra
        assert o.play.via == "kafka"
        assert extra["sent"] == extra["lists"] == N_EVENTS, extra
        assert extra["missing"] == extra["dead_lettered"] == extra["duplicates"] == extra["unknown"] == 0, extra
        assert extra.get("worker_applied") == N_EVENTS and extra.get("worker_duplicate", 0) == 0, extra
        local, rec = replayer.play(name, "test", events, "local")
        tolerance = assert_same_lists(local, o.play, rec, events)
        local_metrics = score(local, events, cfg.ks).metrics
        for key in ("hit@10", "ndcg@10", "mrr@10", "hit@20", "ndcg@20", "mrr@20", "changed@10_mean"):
            bound = tolerance[key.split("@")[0]]
            assert abs(local_metrics[key] - o.metrics[key]) <= bound, (name, key, local_metrics[key], o.metrics[key])


def test_a_dead_lettered_event_is_counted_and_its_user_goes_on(
    kafka_bootstrap: str, small_artifacts: Path, tmp_path: Path
) -> None:
    art = load_version(small_artifacts)
    events = split_events(art, "test", 40)
    bad = int(np.flatnonzero(events.next_of_user() >= 0)[0])  # an event its user follows up on
    movies = events.movie_ids.copy()
    movies[bad] = 999_999_999  # not in the catalogue
    events = replace(events, movie_ids=movies)
    replayer = Replayer(art, small_artifacts, ReplayConfig("test", ("static",), OnlineSettings(), via="kafka"),
                        KafkaOptions(kafka_bootstrap, tmp_path, partitions=2, stall_s=60))
    play, _ = replayer.play("static", "test", events, "kafka")
    local, rec = replayer.play("static", "test", events, "local")
    assert play.extra["dead_lettered"] == local.dead_lettered == 1
    assert play.extra["lists"] == play.extra.get("worker_applied") == len(events) - 1
    assert play.extra["missing"] == play.extra["duplicates"] == 0
    assert_same_lists(play, local, rec, events)
