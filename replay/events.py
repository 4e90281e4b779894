"""The replayed split as a swipe-event sequence in global time order (pure numpy/pandas).

A split table (``user_id``, ``movie_id``, ``rating``, ``preference``, ``timestamp``) becomes
one event per row, ordered by (timestamp, user_id, movie_id) so that the order is total and
deterministic. Every event gets a stable UUID (uuid5 of the artifact version, split and
position), so two replays of the same split send byte-identical swipes.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from offline.artifacts import ArtifactVersion
from offline.preference import rating_to_bucket
from schemas.events import SwipeEvent

Split = Literal["val", "test"]
HISTORY_BEFORE: dict[str, Literal["train", "train+val"]] = {"val": "train", "test": "train+val"}
"""What the Recommender counts as known history when a split is replayed."""
_NAMESPACE = uuid.UUID("6f1c2d3e-8a4b-4c5d-9e6f-0a1b2c3d4e5f")


@dataclass(frozen=True)
class ReplayEvents:
    """n swipe events, global time order (all arrays aligned, shape (n,)).

    Attributes:
        user_ids: int64 MovieLens user ids.
        movie_ids: int64 MovieLens movie ids.
        preferences: int8 signed preference (-2, -1, +1, +2), what ``Recommender.apply`` takes.
        buckets: int8 swipe bucket 1..4, what a ``SwipeEvent`` carries.
        timestamps: float64 unix seconds.
        event_ids: the events' UUIDs.
    """

    user_ids: npt.NDArray[np.int64]
    movie_ids: npt.NDArray[np.int64]
    preferences: npt.NDArray[np.int8]
    buckets: npt.NDArray[np.int8]
    timestamps: npt.NDArray[np.float64]
    event_ids: tuple[uuid.UUID, ...]

    def __len__(self) -> int:
        return len(self.user_ids)

    @property
    def positive(self) -> npt.NDArray[np.bool_]:
        """(n,) bool: the events that are scored (liked movies, preference > 0)."""
        return self.preferences > 0

    def head(self, n: int) -> ReplayEvents:
        """The first n events (a prefix keeps every user's order)."""
        return ReplayEvents(self.user_ids[:n], self.movie_ids[:n], self.preferences[:n], self.buckets[:n],
                            self.timestamps[:n], self.event_ids[:n])

    def occurred_at(self, i: int) -> datetime:
        """Event i's time as an aware UTC datetime."""
        return datetime.fromtimestamp(float(self.timestamps[i]), tz=timezone.utc)

    def swipe(self, i: int) -> SwipeEvent:
        """Event i as the ``SwipeEvent`` the app would send (bucket 1..4, its stable id)."""
        return SwipeEvent(event_id=self.event_ids[i], user_id=int(self.user_ids[i]), movie_id=int(self.movie_ids[i]),
                          preference=int(self.buckets[i]), occurred_at=self.occurred_at(i))

    def position_in_user(self) -> npt.NDArray[np.int64]:
        """(n,) int64: 0 for a user's first event, 1 for their second, ... (global order)."""
        order = np.argsort(self.user_ids, kind="stable")  # by user, global order kept within
        u = self.user_ids[order]
        starts = np.flatnonzero(np.r_[True, u[1:] != u[:-1]])
        counts = np.diff(np.r_[starts, len(u)])
        pos = np.empty(len(u), dtype=np.int64)
        pos[order] = np.arange(len(u)) - np.repeat(starts, counts)
        return pos

    def next_of_user(self) -> npt.NDArray[np.int64]:
        """(n,) int64: index of the same user's next event, -1 after their last one."""
        order = np.argsort(self.user_ids, kind="stable")
        nxt = np.full(len(self), -1, dtype=np.int64)
        same = self.user_ids[order[1:]] == self.user_ids[order[:-1]]
        nxt[order[:-1][same]] = order[1:][same]
        return nxt

    def rounds(self) -> list[npt.NDArray[np.int64]]:
        """Event indices grouped by ``position_in_user``: round r holds every user's r-th
        event (ascending global order). Users are independent, so playing round by round
        gives every event the same "before" list as playing in global order."""
        pos = self.position_in_user()
        order = np.lexsort((np.arange(len(self)), pos))
        cuts = np.flatnonzero(np.diff(pos[order])) + 1
        return [np.sort(r) for r in np.split(order, cuts)] if len(self) else []


def events_from_table(table: pd.DataFrame, namespace: str = "") -> ReplayEvents:
    """Events from a split table, sorted by (timestamp, user_id, movie_id).

    Args:
        table: rows with ``user_id``, ``movie_id``, ``rating``, ``preference``, ``timestamp``.
        namespace: mixed into each event's uuid5 (e.g. "<version>/test").
    """
    t = table.sort_values(["timestamp", "user_id", "movie_id"], kind="stable").reset_index(drop=True)
    ids = tuple(uuid.uuid5(_NAMESPACE, f"{namespace}/{i}") for i in range(len(t)))
    return ReplayEvents(
        user_ids=t["user_id"].to_numpy(np.int64),
        movie_ids=t["movie_id"].to_numpy(np.int64),
        preferences=t["preference"].to_numpy(np.int8),
        buckets=rating_to_bucket(t["rating"].to_numpy()).astype(np.int8),
        timestamps=t["timestamp"].to_numpy(np.float64),
        event_ids=ids,
    )


def split_events(art: ArtifactVersion, split: Split, limit: int | None = None) -> ReplayEvents:
    """The artifact's ``split`` table as events (the first ``limit`` in time order if given)."""
    if split not in HISTORY_BEFORE:
        raise ValueError(f"split must be 'val' or 'test', got {split!r}")
    events = events_from_table(art.tables[split], f"{art.version}/{split}")
    return events if limit is None else events.head(limit)
