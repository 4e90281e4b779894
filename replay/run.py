"""One replay: every strategy over the same events, scored prequentially and offline.

Definitions (the report repeats them):

* history: replaying ``val``, the users' known history is train; replaying ``test`` it is
  train + val (seen movies and the fold-in base), while the user vectors a replay starts
  from stay the train-only ones of the artifact.
* prequential metrics: see ``prequential``; positive events only.
* ``offline_start/...``: every user's list before the replay (no swipe applied yet) against
  the replayed split's liked movies, ``offline.evaluate`` protocol: the offline report's
  number for that split, a consistency check.
* ``offline_next/...`` (``val`` only): the lists after the last val swipe (users without
  val swipes: their initial list) against the test split's liked movies, seen = train + the
  replayed val swipes (all of val unless ``--limit``):
  what the stream learned from val, measured the way the offline report measures test.
* new users (``--new-users``): a seeded fifth of the users held out, ALS, popularity and
  neighbour rows refit without them; NDCG@10 over each one's first 10 swipes (prequential),
  the "test" half of them (the "val" half replaying ``val``). See ``new_users``.
* responsiveness (``--responsiveness``): how many of a known user's top 10 four "love"
  swipes of one genre replace, and that genre's share of the new top 10 (``responsiveness``).
* ``retrain``: ALS refit on train + val with the artifact's ALSConfig, served statically.
  Replaying ``test`` it is one more row, played over the same test events. Replaying ``val``
  it is played over the test events instead (``retrain@test``), beside the artifact's static
  model over the same test events (``static@test``): the same evaluation for both.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from offline.artifacts import ArtifactVersion
from offline.evaluate import evaluate_recommender
from offline.matrix import interaction_matrix
from offline.recommender import Recommender
from online.settings import OnlineSettings
from replay.events import HISTORY_BEFORE, ReplayEvents, Split, split_events
from replay.kafka_replay import KafkaOptions, play_kafka, worker_env
from replay.local import IdList, PlayResult, PopularityStep, WorkerStep, initial_lists, play_local
from replay.new_users import NewUserModel, new_user_metrics
from replay.params import ALL_STRATEGIES, WORKER_STRATEGIES, build_recommender, with_knobs
from replay.prequential import KS, after_lists, list_changes, prequential_metrics, ranks_in_lists
from replay.responsiveness import responsiveness
from replay.retrain import retrained_recommender

log = logging.getLogger(__name__)
Bar = Callable[[str, int], Any]
"""make_bar(description, total) -> an object with ``update(n)`` and ``close()`` (e.g. tqdm)."""


@dataclass(frozen=True)
class ReplayConfig:
    """What to replay. ``n`` (the worker's top_n) must be >= max(ks)."""

    split: Split = "test"
    strategies: tuple[str, ...] = ALL_STRATEGIES
    params: OnlineSettings = field(default_factory=OnlineSettings)
    via: Literal["local", "kafka"] = "local"
    n: int = 20
    ks: tuple[int, ...] = KS
    limit: int | None = None
    new_users: bool = False
    """Also the new-user replay (``new_users``: held-out users, refit without them)."""
    responsiveness: bool = False
    """Also the responsiveness check (``responsiveness``: 4 liked swipes of one genre)."""


@dataclass
class StrategyOutcome:
    """One strategy's scores: ``metrics`` by name; per event (n_events,) int64 ``ranks``
    (0 = not in the top n) and ``changes`` (top-10 movies replaced by the swipe)."""

    name: str
    metrics: dict[str, float]
    ranks: npt.NDArray[np.int64]
    changes: npt.NDArray[np.int64]
    play: PlayResult


@dataclass
class ReplayOutcome:
    config: ReplayConfig
    version: str
    events: ReplayEvents
    strategies: dict[str, StrategyOutcome] = field(default_factory=dict)
    references: dict[str, StrategyOutcome] = field(default_factory=dict)
    references_events: ReplayEvents | None = None
    new_users: dict[str, dict[str, float]] = field(default_factory=dict)
    """Strategy -> metrics of the new-user replay (first 10 swipes of held-out users)."""
    responsiveness: dict[str, dict[str, float]] = field(default_factory=dict)
    """Strategy -> replaced@10, genre_share@10, genre_gain@10 after 4 liked swipes of one genre."""


def _matrix(rec: Recommender, frame: pd.DataFrame, values: npt.NDArray[np.float32]) -> Any:
    return interaction_matrix(rec.users.index_of(frame["user_id"].to_numpy()),
                              rec.movies.index_of(frame["movie_id"].to_numpy()), values,
                              (len(rec.users), len(rec.movies)))


def offline_metrics(rec: Recommender, lists: dict[int, IdList], art: ArtifactVersion, holdout: str,
                    seen_frame: pd.DataFrame, ks: tuple[int, ...]) -> dict[str, float]:
    """``evaluate_recommender`` of fixed lists (user id -> (n,) movie ids) on ``holdout``'s
    liked movies, with ``seen_frame``'s (user_id, movie_id) pairs as the movies each list must
    leave out; every user of the artifact needs a list (KeyError otherwise)."""
    seen = _matrix(rec, seen_frame, np.ones(len(seen_frame), np.float32))
    hold = _matrix(rec, art.tables[holdout], art.tables[holdout]["preference"].to_numpy(np.float32))

    def recommend(users: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        return np.stack([rec.movies.index_of(lists[int(rec.users.ids[u])]) for u in users])

    return evaluate_recommender(recommend, seen, hold, ks, rec.item_genres)


def score(play: PlayResult, events: ReplayEvents, ks: tuple[int, ...]) -> StrategyOutcome:
    """Prequential metrics, ranks and top-10 list changes of one play."""
    ranks = ranks_in_lists(play.before, events.movie_ids)
    final = np.stack([play.final[int(u)] for u in events.user_ids]) if len(events) else play.before
    changes = list_changes(play.before, after_lists(play.before, events.next_of_user(), final), 10)
    metrics = prequential_metrics(ranks, events.positive, ks)
    metrics["changed@10_mean"] = float(changes.mean()) if len(changes) else float("nan")
    metrics["seconds"] = play.seconds
    return StrategyOutcome(play.strategy, metrics, ranks, changes, play)


class Replayer:
    """Plays strategies over one artifact and split (shared payloads, cached Recommenders)."""

    def __init__(self, art: ArtifactVersion, artifacts_root: Path, config: ReplayConfig,
                 kafka: KafkaOptions | None = None, make_bar: Bar | None = None) -> None:
        if config.n < max(config.ks):
            raise ValueError(f"list length n={config.n} < max(ks)={max(config.ks)}")
        if config.via == "kafka" and kafka is None:
            raise ValueError("--via kafka needs KafkaOptions")
        self.art, self.root, self.config, self.kafka, self.make_bar = art, artifacts_root, config, kafka, make_bar
        self._retrain: Recommender | None = None

    def retrain_rec(self) -> Recommender:
        if self._retrain is None:
            self._retrain = retrained_recommender(self.art, ("train", "val"), self.config.params.cold_start_swipes)
        return self._retrain

    def play(self, strategy: str, split: Split, events: ReplayEvents, via: str) -> tuple[PlayResult, Recommender]:
        """Play one strategy; ``via`` "kafka" only for the worker's strategies."""
        history = HISTORY_BEFORE[split]
        n, params = self.config.n, self.config.params
        if strategy == "retrain":
            rec = self.retrain_rec()
        else:
            rec = build_recommender(self.art, "static" if strategy == "popularity" else strategy, history, params)
        users = np.unique(events.user_ids).tolist()
        pop = PopularityStep(rec, n) if strategy == "popularity" else None
        initial = dict(zip(users, pop.lists([rec.new_state(u) for u in users]))) if pop else \
            initial_lists(rec, users, n)
        bar = self.make_bar(f"{strategy} ({via})", len(events)) if self.make_bar else None
        progress = bar.update if bar is not None else None
        try:
            if via == "kafka":
                assert self.kafka is not None
                env = worker_env(self.kafka, self.root, self.art.version, strategy, history,
                                 with_knobs(params, strategy=strategy).as_env(), n)
                return play_kafka(strategy, events, initial, n, env, self.kafka, progress), rec
            step = pop or WorkerStep(rec, n, [events.swipe(i).to_bytes() for i in range(len(events))])
            return play_local(strategy, events, step, initial, n, progress), rec
        finally:
            if bar is not None:
                bar.close()

    def outcome(self, strategy: str, split: Split, events: ReplayEvents, via: str) -> StrategyOutcome:
        play, rec = self.play(strategy, split, events, via)
        out = score(play, events, self.config.ks)
        history = pd.concat([self.art.tables[p] for p in (("train",) if split == "val" else ("train", "val"))],
                            ignore_index=True)[["user_id", "movie_id"]]
        start_lists = self._initial_all(rec, strategy)
        for name, value in offline_metrics(rec, start_lists, self.art, split, history, self.config.ks).items():
            out.metrics[f"offline_start/{name}"] = value
        if split == "val":  # seen: the history plus the replayed swipes (all of val unless --limit)
            played = pd.DataFrame({"user_id": events.user_ids, "movie_id": events.movie_ids})
            end_lists = {**start_lists, **play.final}
            for name, value in offline_metrics(rec, end_lists, self.art, "test", pd.concat([history, played]),
                                               self.config.ks).items():
                out.metrics[f"offline_next/{name}"] = value
        return out

    def _initial_all(self, rec: Recommender, strategy: str) -> dict[int, IdList]:
        users = rec.users.ids.tolist()
        if strategy == "popularity":
            return dict(zip(users, PopularityStep(rec, self.config.n).lists([rec.new_state(u) for u in users])))
        return initial_lists(rec, users, self.config.n)

    def run(self) -> ReplayOutcome:
        """Every configured strategy over the configured split (+ the retrain reference)."""
        cfg = self.config
        if unknown := set(cfg.strategies) - set(ALL_STRATEGIES):
            raise ValueError(f"unknown strategies {sorted(unknown)}; choose from {ALL_STRATEGIES}")
        events = split_events(self.art, cfg.split, cfg.limit)
        result = ReplayOutcome(cfg, self.art.version, events)
        for strategy in cfg.strategies:
            if strategy == "retrain" and cfg.split == "val":
                continue
            via = cfg.via if strategy in WORKER_STRATEGIES else "local"
            result.strategies[strategy] = self.outcome(strategy, cfg.split, events, via)
        if "retrain" in cfg.strategies and cfg.split == "val":
            test_events = split_events(self.art, "test", cfg.limit)
            result.references_events = test_events
            for name in ("static", "retrain"):
                result.references[f"{name}@test"] = self.outcome(name, "test", test_events, "local")
        online = [s for s in cfg.strategies if s in WORKER_STRATEGIES]
        if cfg.new_users:
            model = NewUserModel.fit(self.art)
            half = "val" if cfg.split == "val" else "test"
            result.new_users = {s: new_user_metrics(model, s, cfg.params, half, n=cfg.n) for s in online}
        if cfg.responsiveness:
            genres = self.art.info.get("genres", [])
            result.responsiveness = {s: responsiveness(build_recommender(self.art, s, "all", cfg.params), genres)
                                     for s in online}
        return result
