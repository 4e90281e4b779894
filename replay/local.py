"""Play events in-process through the worker's own code (``process_batch``), no Kafka.

The worker publishes one list per user per batch, after applying that user's events of the
batch in order. Playing round by round (round r = every user's r-th event, see
``ReplayEvents.rounds``) puts each user at most once in a batch, so every event causes
exactly one list, and the list a user sees before event i is the one their previous event
caused (or their initial list). Users never share state, so this equals playing in global
time order, only with bigger batches.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from offline.recommender import Recommender
from offline.scoring import top_n as select_top_n
from replay.events import ReplayEvents
from stream_app.processing import Incoming, process_batch
from stream_app.user_state import UserState

log = logging.getLogger(__name__)
IdList = npt.NDArray[np.int64]
LOCAL_TOPIC = "replay.local"


def pad(ids: Iterable[int], n: int) -> IdList:
    """(n,) int64 movie ids, -1 padding a shorter list."""
    out = np.full(n, -1, dtype=np.int64)
    arr = np.fromiter(ids, dtype=np.int64)[:n]
    out[: len(arr)] = arr
    return out


def initial_lists(rec: Recommender, user_ids: Iterable[int], n: int, batch: int = 512) -> dict[int, IdList]:
    """Each user's list before any replayed swipe: ``recommend_states`` on a fresh state,
    exactly what the worker serves a user whose table row is empty. Values (n,) int64."""
    users = [int(u) for u in user_ids]
    out: dict[int, IdList] = {}
    for start in range(0, len(users), batch):
        chunk = users[start : start + batch]
        for u, r in zip(chunk, rec.recommend_states([rec.new_state(u) for u in chunk], n)):
            out[u] = pad(r.movie_ids.tolist(), n)
    return out


@dataclass
class PlayResult:
    """What one strategy's replay produced.

    Attributes:
        strategy: its name ("static", "additive", "foldin", "popularity", "retrain").
        before: (n_events, n) int64, the list shown before each event (-1 padding).
        final: user id -> (n,) int64, each replayed user's list after their last event.
        applied, duplicates, dead_lettered: the events' outcomes as the processor counted them.
        seconds: wall time of the play (initial lists excluded).
        via: "local" or "kafka".
    """

    strategy: str
    before: IdList
    final: dict[int, IdList]
    applied: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    seconds: float = 0.0
    via: str = "local"
    extra: dict[str, float] = field(default_factory=dict)


class Step(Protocol):
    """Applies a batch of events (each user at most once) and returns the new lists."""

    applied: int
    duplicates: int
    dead_lettered: int

    def __call__(self, events: ReplayEvents, idx: npt.NDArray[np.int64]) -> dict[int, IdList]: ...


class WorkerStep:
    """One worker batch: the events as Kafka would carry them, through ``process_batch``.

    Args:
        rec: the Recommender configured as the worker's (strategy, history, update params).
        n: list length (the worker's ``top_n``).
        payloads: (n_events,) SwipeEvent JSON bytes, built once and shared between strategies.
    """

    def __init__(self, rec: Recommender, n: int, payloads: list[bytes]) -> None:
        self.rec, self.n, self.payloads = rec, n, payloads
        self.states: dict[int, UserState] = {}
        self.applied = self.duplicates = self.dead_lettered = 0

    def __call__(self, events: ReplayEvents, idx: npt.NDArray[np.int64]) -> dict[int, IdList]:
        messages = [Incoming(self.payloads[i], LOCAL_TOPIC, 0, int(i), str(int(events.user_ids[i])).encode())
                    for i in idx]
        result = process_batch(self.rec, messages, self.states.get, self.n)
        self.states.update(result.states)
        self.applied += result.applied
        self.duplicates += result.duplicates
        self.dead_lettered += len(result.dead_letters)
        return {rl.user_id: pad((it.movie_id for it in rl.items), self.n) for rl in result.lists}


class DirectStep:
    """``process_batch`` without the message layer: ``Recommender.apply`` per event, then one
    ``recommend_states`` for the batch's users, the two calls ``process_batch`` makes. Same
    lists (a test checks it), about twice as fast: what the tuner uses."""

    def __init__(self, rec: Recommender, n: int) -> None:
        self.rec, self.n = rec, n
        self.states: dict[int, UserState] = {}
        self.applied = self.duplicates = self.dead_lettered = 0

    def __call__(self, events: ReplayEvents, idx: npt.NDArray[np.int64]) -> dict[int, IdList]:
        users = []
        for i in idx:
            u = int(events.user_ids[i])
            state = self.states.get(u) or self.rec.new_state(u)
            self.states[u] = self.rec.apply(state, int(events.movie_ids[i]), int(events.preferences[i]),
                                            float(events.timestamps[i]), events.event_ids[i].hex)
            self.applied += 1
            users.append(u)
        ranked = self.rec.recommend_states([self.states[u] for u in users], self.n)
        return {u: pad(r.movie_ids.tolist(), self.n) for u, r in zip(users, ranked)}


class PopularityStep:
    """The non-personalised baseline: the artifact's popularity scores (its cold-start kind,
    fitted on train), minus every movie the user has seen (history and replayed swipes).

    Ranked per row with ``offline.scoring.top_n`` like the worker's cold-start lists, so a
    user's list does not depend on who shares the batch; movies with equal scores may come
    in another order than ``PopularityModel.recommend``'s (whose order among ties depends on
    the batch), which moves the offline numbers slightly.
    """

    def __init__(self, rec: Recommender, n: int) -> None:
        self.rec, self.n = rec, n
        self.states: dict[int, UserState] = {}
        self.applied = self.duplicates = self.dead_lettered = 0

    def lists(self, states: list[UserState]) -> list[IdList]:
        """(n,) int64 movie ids per state."""
        scores = np.repeat(self.rec.popularity_scores[None, :].astype(np.float32), len(states), axis=0)
        for row, s in enumerate(states):
            scores[row, self.rec.seen(s)] = -np.inf
        idx, _ = select_top_n(scores, self.n)
        return [pad(self.rec.movies.ids[r[r >= 0]].tolist(), self.n) for r in idx]

    def __call__(self, events: ReplayEvents, idx: npt.NDArray[np.int64]) -> dict[int, IdList]:
        touched = []
        for i in idx:
            u = int(events.user_ids[i])
            state = self.states.get(u) or self.rec.new_state(u)
            movie = int(events.movie_ids[i])
            self.rec.movie_index(movie)  # raises UnknownMovieError like the worker's apply
            self.states[u] = state.with_swipe(movie, int(events.preferences[i]), float(events.timestamps[i]),
                                              None, None, self.rec.model_version)
            self.applied += 1
            touched.append(u)
        return dict(zip(touched, self.lists([self.states[u] for u in touched])))


def play_local(strategy: str, events: ReplayEvents, step: Step, initial: dict[int, IdList], n: int,
               progress: Callable[[int], None] | None = None) -> PlayResult:
    """Play ``events`` round by round through ``step``; record each event's "before" list.

    Args:
        strategy: name stored in the result.
        events: n_events swipes in global time order.
        step: applies one round (users distinct) and returns their new lists.
        initial: user id -> (n,) int64 list before the replay (every replayed user).
        n: list length.
        progress: called with the number of events done after each round.
    """
    before = np.full((len(events), n), -1, dtype=np.int64)
    current = {u: initial[u] for u in np.unique(events.user_ids).tolist()}
    t0 = time.perf_counter()
    for idx in events.rounds():
        for i in idx:
            before[i] = current[int(events.user_ids[i])]
        current.update(step(events, idx))
        if progress is not None:
            progress(len(idx))
    seconds = time.perf_counter() - t0
    log.info("%s: %d events in %.2fs (local)", strategy, len(events), seconds)
    return PlayResult(strategy, before, current, step.applied, step.duplicates, step.dead_lettered, seconds)
