"""Prequential ("test, then train") bookkeeping over a replayed event sequence (pure numpy).

Every event i is a swipe of user u on movie m. Before the event is applied, the list the
user would see at that moment (``before[i]``, what the worker published after u's previous
event, or u's initial list) is checked for m; then the event is applied. With ``r`` the
1-based rank of m in ``before[i]`` (no rank when m is not in the list), one scored event
contributes, at cut-off K:

=========  ======================================
hit@K      1 if r <= K
ndcg@K     1 / log2(r + 1) if r <= K  (one relevant movie, so IDCG = 1)
mrr@K      1 / r if r <= K
=========  ======================================

Only positive events (preference > 0, "liked") are scored: a negative swipe is applied but
not counted, because a disliked movie near the top of a list is a failure, not a hit.
Metrics are means over the scored events of the whole split (event-weighted, so heavy
users weigh more, as in the live app where every swipe is a chance to show the right movie).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

KS: tuple[int, ...] = (10, 20)


def ranks_in_lists(lists: npt.NDArray[np.int64], movie_ids: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """1-based rank of ``movie_ids[i]`` in row i of ``lists``, 0 where absent.

    Args:
        lists: (n, K) int64 movie ids, best first, -1 padding.
        movie_ids: (n,) int movie ids.
    Returns:
        (n,) int64 in 0..K.
    """
    lists = np.asarray(lists, dtype=np.int64)
    m = np.asarray(movie_ids, dtype=np.int64).reshape(-1, 1)
    if lists.ndim != 2 or lists.shape[0] != m.shape[0]:
        raise ValueError(f"lists {lists.shape} do not match {m.shape[0]} movies")
    found = (lists == m) & (m >= 0)
    return np.where(found.any(axis=1), np.argmax(found, axis=1) + 1, 0).astype(np.int64)


def prequential_metrics(ranks: npt.ArrayLike, positive: npt.ArrayLike, ks: Sequence[int] = KS) -> dict[str, float]:
    """hit@K, ndcg@K and mrr@K averaged over the scored (positive) events.

    Args:
        ranks: (n,) int 1-based rank of each event's movie in its "before" list, 0 = absent.
        positive: (n,) bool, the events that are scored.
        ks: cut-offs; every K must not exceed the lists' length the ranks came from.
    Returns:
        ``{"hit@10": ..., "ndcg@10": ..., "mrr@10": ..., ..., "n_events": n, "n_scored": s}``;
        NaN metrics when no event is scored.
    """
    r = np.asarray(ranks, dtype=np.int64)
    pos = np.asarray(positive, dtype=bool)
    if r.shape != pos.shape:
        raise ValueError(f"ranks {r.shape} and positive {pos.shape} differ")
    scored = r[pos]
    out: dict[str, float] = {}
    for k in ks:
        inside = (scored >= 1) & (scored <= k)
        safe = np.where(inside, scored, 1).astype(np.float64)
        if len(scored) == 0:
            out.update({f"hit@{k}": np.nan, f"ndcg@{k}": np.nan, f"mrr@{k}": np.nan})
            continue
        out[f"hit@{k}"] = float(inside.mean())
        # gain = 1 / log2(r + 1) for a hit at rank r (ideal DCG of one relevant movie = 1)
        out[f"ndcg@{k}"] = float(np.where(inside, 1.0 / np.log2(safe + 1.0), 0.0).mean())
        # reciprocal rank = 1 / r, 0 without a hit in the top K
        out[f"mrr@{k}"] = float(np.where(inside, 1.0 / safe, 0.0).mean())
    out["n_events"] = float(len(r))
    out["n_scored"] = float(len(scored))
    return out


def after_lists(before: npt.NDArray[np.int64], next_of_user: npt.NDArray[np.int64],
                final: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The list each event caused: the user's next "before" list, or their final list.

    Args:
        before: (n, K) int64 lists before each event.
        next_of_user: (n,) int64 index of the user's next event, -1 after the last.
        final: (n, K) int64, row i = the final list of event i's user (used where next = -1).
    Returns:
        (n, K) int64.
    """
    return np.where((next_of_user >= 0)[:, None], before[np.maximum(next_of_user, 0)], final)


def list_changes(before: npt.NDArray[np.int64], after: npt.NDArray[np.int64], k: int = 10) -> npt.NDArray[np.int64]:
    """(n,) int64: how many of the top-k movies of ``before[i]`` are gone from ``after[i]``'s top k.

    A swipe on a listed movie always removes it (seen movies are excluded), so a static
    model changes its list only by such removals and the refill below them.
    """
    b, a = before[:, :k], after[:, :k]
    kept = (b[:, :, None] == a[:, None, :]).any(axis=2) & (b >= 0)
    return ((b >= 0).sum(axis=1) - kept.sum(axis=1)).astype(np.int64)


def rolling_mean(values: npt.ArrayLike, window: int) -> npt.NDArray[np.float64]:
    """(n,) trailing mean over the last ``window`` values (fewer at the start)."""
    v = np.asarray(values, dtype=np.float64)
    c = np.r_[0.0, np.cumsum(v)]
    idx = np.arange(1, len(v) + 1)
    lo = np.maximum(idx - window, 0)
    return (c[idx] - c[lo]) / (idx - lo)


@dataclass
class PrequentialAccumulator:
    """Streaming form of ``prequential_metrics``: feed one event at a time.

    ``add(rank, positive)`` with ``rank`` 1-based (0 = not in the list).
    """

    ks: tuple[int, ...] = KS

    def __post_init__(self) -> None:
        self._ranks: list[int] = []
        self._positive: list[bool] = []

    def add(self, rank: int, positive: bool) -> None:
        if rank < 0:
            raise ValueError(f"rank must be >= 0, got {rank}")
        self._ranks.append(int(rank))
        self._positive.append(bool(positive))

    def add_list(self, before: Sequence[int], movie_id: int, positive: bool) -> int:
        """Score ``movie_id`` against the list shown before the event; returns its rank."""
        rank = next((i + 1 for i, m in enumerate(before) if m == movie_id), 0)
        self.add(rank, positive)
        return rank

    def metrics(self) -> dict[str, float]:
        return prequential_metrics(np.array(self._ranks, np.int64), np.array(self._positive, bool), self.ks)
