"""Each user's newest interactions in the artifact, in time order (pure numpy/pandas).

The recency fold-in and the item-neighbour overlay (``online.rules``) read a known user's
newest interactions before their swipes; the artifact's history matrix has no order, so
``RecentHistory`` keeps the last few per user from the split tables' timestamps.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from offline.matrix import IdMap


@dataclass(frozen=True)
class RecentHistory:
    """Each user's newest artifact interactions in time order, as CSR-like arrays.

    Attributes:
        indptr: (n_users + 1,) int64; user u's entries are ``indptr[u]:indptr[u + 1]``.
        movies: (nnz,) int64 movie indices, oldest first within a user.
        preferences: (nnz,) int8, aligned.
    """

    indptr: npt.NDArray[np.int64]
    movies: npt.NDArray[np.int64]
    preferences: npt.NDArray[np.int8]

    @classmethod
    def empty(cls, n_users: int) -> RecentHistory:
        return cls(np.zeros(n_users + 1, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int8))

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, users: IdMap, movies: IdMap, keep: int) -> RecentHistory:
        """The newest ``keep`` rows per user of ``frame`` (user_id, movie_id, preference, timestamp)."""
        u = users.index_of(frame["user_id"].to_numpy())
        m = movies.index_of(frame["movie_id"].to_numpy())
        ok = (u >= 0) & (m >= 0)
        u, m = u[ok], m[ok]
        p = frame["preference"].to_numpy(np.int8)[ok]
        t = frame["timestamp"].to_numpy()[ok]
        order = np.lexsort((m, t, u))  # by user, then time (ties: movie id)
        u, m, p = u[order], m[order], p[order]
        counts = np.bincount(u, minlength=len(users))
        ends = np.cumsum(counts)
        rank_from_end = ends[u] - np.arange(len(u))  # 1 for a user's newest row
        kept = rank_from_end <= keep
        indptr = np.r_[0, np.cumsum(np.minimum(counts, keep))].astype(np.int64)
        return cls(indptr, m[kept].astype(np.int64), p[kept].astype(np.int8))

    def of(self, u: int | None) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int8]]:
        if u is None:
            return np.zeros(0, np.int64), np.zeros(0, np.int8)
        row = slice(self.indptr[u], self.indptr[u + 1])
        return self.movies[row], self.preferences[row]
