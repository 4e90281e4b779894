"""Replay through the real broker and worker gives the same lists as the in-process replay."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from offline.artifacts import load_version
from offline.replay.events import split_events
from offline.replay.kafka_replay import KafkaOptions
from offline.replay.params import OnlineParams
from offline.replay.run import ReplayConfig, Replayer, score

pytestmark = pytest.mark.integration
N_EVENTS = 200


def test_kafka_and_local_replays_agree_and_account_for_every_event(
    kafka_bootstrap: str, small_artifacts: Path, tmp_path: Path
) -> None:
    art = load_version(small_artifacts)
    params = OnlineParams().with_additive(step=0.3, half_life_days=3.0, max_norm_factor=2.0)
    cfg = ReplayConfig("test", ("additive", "foldin"), params, via="kafka", limit=N_EVENTS)
    replayer = Replayer(art, small_artifacts, cfg, KafkaOptions(kafka_bootstrap, tmp_path, partitions=2, stall_s=60))
    outcome = replayer.run()
    events = split_events(art, "test", N_EVENTS)
    for name, o in outcome.strategies.items():
        extra = o.play.extra
        assert o.play.via == "kafka"
        assert extra["sent"] == extra["lists"] == N_EVENTS, extra
        assert extra["missing"] == extra["dead_lettered"] == extra["duplicates"] == extra["unknown"] == 0, extra
        assert extra.get("worker_applied") == N_EVENTS and extra.get("worker_duplicate", 0) == 0, extra
        local, _ = replayer.play(name, "test", events, "local")
        assert np.array_equal(local.before, o.play.before), f"{name}: kafka and local lists differ"
        local_metrics = score(local, events, cfg.ks).metrics
        for key in ("hit@10", "ndcg@10", "mrr@10", "hit@20", "ndcg@20", "mrr@20", "changed@10_mean"):
            assert local_metrics[key] == o.metrics[key], key


def test_a_dead_lettered_event_is_counted_and_its_user_goes_on(
    kafka_bootstrap: str, small_artifacts: Path, tmp_path: Path
) -> None:
    art = load_version(small_artifacts)
    events = split_events(art, "test", 40)
    bad = int(np.flatnonzero(events.next_of_user() >= 0)[0])  # an event its user follows up on
    movies = events.movie_ids.copy()
    movies[bad] = 999_999_999  # not in the catalogue
    events = replace(events, movie_ids=movies)
    replayer = Replayer(art, small_artifacts, ReplayConfig("test", ("static",), OnlineParams(), via="kafka"),
                        KafkaOptions(kafka_bootstrap, tmp_path, partitions=2, stall_s=60))
    play, _ = replayer.play("static", "test", events, "kafka")
    local, _ = replayer.play("static", "test", events, "local")
    assert play.extra["dead_lettered"] == local.dead_lettered == 1
    assert play.extra["lists"] == play.extra.get("worker_applied") == len(events) - 1
    assert play.extra["missing"] == play.extra["duplicates"] == 0
    assert np.array_equal(play.before, local.before)
