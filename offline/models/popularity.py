"""Popularity baselines: most-liked count, Bayesian average rating (and, mixed in from
``offline.models.genre_cold_start``, the genre-weighted cold start).

Fitted on train interactions, one row per (user, movie) rating or preference. Per movie i:

* ``count``          v_i = number of interactions
* ``positive_count`` number of liked ones (preference > 0, i.e. rating >= 3.5)
* ``mean_rating``    R_i = mean stored value (NaN when v_i = 0)
* ``bayes_score``    (v_i R_i + m C) / (v_i + m), C = global mean, m = ``bayes_m``
"""
from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from offline.models.genre_cold_start import GenreColdStart, PopularityKind
from offline.preference import BUCKET_UPPER_EDGES


class PopularityConfig(BaseModel):
    """Hyperparameters of the popularity baselines."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bayes_m: float = Field(
        10.0, ge=0, description="Prior weight m: pseudo-ratings at the global mean added to every movie."
    )
    min_ratings: int = Field(
        5, ge=0, description="Movies with fewer ratings rank after all others by Bayesian average."
    )


def liked(vals: npt.NDArray[np.floating], values: Literal["rating", "preference"]) -> npt.NDArray[np.bool_]:
    """(n,) bool: preference > 0, i.e. ``rating_to_preference(vals) > 0`` for ratings.

    A rating is liked when its bucket is 3 or 4: as float32 (like ``rating_to_bucket``) it
    is above the second bucket edge (NaN, which that lookup sorts last, too). One comparison
    instead of a binary search per rating.
    """
    if values == "preference":
        return vals > 0
    return ~(np.asarray(vals, dtype=np.float32) <= np.float32(BUCKET_UPPER_EDGES[1]))


class PopularityModel(GenreColdStart):
    """Non-personalised ranking of movies by popularity (same list for every user)."""

    def __init__(self, config: PopularityConfig | None = None) -> None:
        self.config = config or PopularityConfig()
        self.count: npt.NDArray[np.int64] | None = None
        self.positive_count: npt.NDArray[np.int64] | None = None
        self.mean_rating: npt.NDArray[np.float32] | None = None
        self.global_mean: float = float("nan")

    @property
    def n_movies(self) -> int:
        return len(self._fitted()[0])

    def fit(
        self,
        interactions: pd.DataFrame | sp.spmatrix,
        n_movies: int | None = None,
        *,
        values: Literal["rating", "preference"] = "rating",
        movie_col: str = "movie_index",
        value_col: str = "rating",
    ) -> PopularityModel:
        """Count and average the interactions.

        Args:
            interactions: (n_users, n_movies) CSR of ratings (0.5-5) or preferences, or a
                DataFrame with int movie indices in ``movie_col`` and values in ``value_col``.
            n_movies: catalogue size; default: the matrix width or the largest index + 1.
            values: whether the values are ratings or preferences (-2, -1, +1, +2).
        """
        if isinstance(interactions, pd.DataFrame):
            movies = interactions[movie_col].to_numpy(dtype=np.int64)
            vals = interactions[value_col].to_numpy(dtype=np.float64)
            raw = vals
            n_movies = int(movies.max()) + 1 if n_movies is None and len(movies) else (n_movies or 0)
        else:
            m = sp.csr_matrix(interactions)
            stored = m.data != 0  # 0 is neither a rating nor a preference
            every = bool(stored.all())
            movies = (m.indices if every else m.indices[stored]).astype(np.int64)
            raw = m.data if every else m.data[stored]
            vals = raw.astype(np.float64)
            n_movies = m.shape[1] if n_movies is None else n_movies
        if len(movies) and (movies.min() < 0 or movies.max() >= n_movies):
            raise ValueError(f"movie index outside 0..{n_movies - 1}")
        # liked() compares in float32: the matrix's own values (float32 for ratings) need no
        # cast back from the float64 copy, and give the same answer (the cast is exact)
        positive = liked(raw, values)
        self.count = np.bincount(movies, minlength=n_movies).astype(np.int64)
        self.positive_count = np.bincount(movies[positive], minlength=n_movies).astype(np.int64)
        total = np.bincount(movies, weights=vals, minlength=n_movies)
        with np.errstate(invalid="ignore", divide="ignore"):
            # R_i = Σ r / v_i
            self.mean_rating = (total / self.count).astype(np.float32)
        self.global_mean = float(vals.mean()) if len(vals) else float("nan")
        return self

    @classmethod
    def from_table(cls, table: pd.DataFrame, config: PopularityConfig | None = None) -> PopularityModel:
        """Rebuild from ``table()`` output (rows in movie-index order)."""
        model = cls(config)
        t = table.sort_values("movie_index")
        model.count = t["count"].to_numpy(dtype=np.int64)
        model.positive_count = t["positive_count"].to_numpy(dtype=np.int64)
        model.mean_rating = t["mean_rating"].to_numpy(dtype=np.float32)
        rated = model.count > 0
        # C = Σ v_i R_i / Σ v_i
        weights = model.count[rated].astype(np.float64)
        model.global_mean = float(weights @ model.mean_rating[rated] / weights.sum()) if rated.any() else float("nan")
        return model

    def _fitted(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        if self.count is None or self.positive_count is None or self.mean_rating is None:
            raise RuntimeError("PopularityModel is not fitted")
        return self.count, self.positive_count, self.mean_rating

    def bayes_average(self) -> npt.NDArray[np.float32]:
        """(n_movies,) float32 (v R + m C) / (v + m); C where v + m = 0."""
        v, _, r = self._fitted()
        m, c = self.config.bayes_m, self.global_mean
        v = v.astype(np.float64)
        num = v * np.nan_to_num(r.astype(np.float64)) + m * c
        return np.where(v + m > 0, num / np.maximum(v + m, 1e-12), c).astype(np.float32)

    def scores(self, kind: PopularityKind = "count") -> npt.NDArray[np.float32]:
        """(n_movies,) float32, higher = more popular.

        "count": positive_count. "bayes": the Bayesian average, with every movie rated fewer
        than ``min_ratings`` times shifted below all others (finite, order among them kept).
        """
        v, pos, _ = self._fitted()
        if kind == "count":
            return pos.astype(np.float32)
        if kind != "bayes":
            raise ValueError(f"unknown popularity kind {kind!r}")
        b = self.bayes_average().astype(np.float64)
        low = v < self.config.min_ratings
        if low.any() and len(b):
            # shift = span + 1 puts max(low) below min(eligible)
            b = np.where(low, b - (b.max() - b.min() + 1.0), b)
        return b.astype(np.float32)

    def recommend(
        self,
        user_indices: npt.NDArray[np.int64],
        n: int,
        exclude_csr: sp.csr_matrix | None = None,
        kind: PopularityKind = "count",
    ) -> npt.NDArray[np.int64]:
        """Most popular movies not in each user's excluded set.

        Args:
            user_indices: (b,) int64 rows of ``exclude_csr``.
            n: list length.
            exclude_csr: (n_users, n_movies) CSR of movies never to return (e.g. train).
        Returns:
            (b, n) int64, best first, equal scores in ascending movie index; -1 pads a row
            with fewer eligible movies.
        """
        s = self.scores(kind)
        users = np.asarray(user_indices, dtype=np.int64)
        order = np.argsort(-s, kind="stable")  # the one global ranking, ties by movie index
        ranked = order[np.isfinite(s[order])]  # a non-finite score is never recommended
        out = np.full((len(users), n), -1, dtype=np.int64)
        if exclude_csr is None:
            out[:, : min(n, len(ranked))] = ranked[:n]
            return out
        ex = sp.csr_matrix(exclude_csr)[users]
        rank_of = np.full(len(s), len(ranked), dtype=np.int64)
        rank_of[ranked] = np.arange(len(ranked))
        # Each list is the first n movies of ``ranked`` the user has not seen: look at the
        # first ``width`` ranks, widened (x4) only for users who saw nearly all of them.
        todo = np.arange(len(users))
        width = min(len(ranked), n + 64)
        while len(todo):
            sub = ex[todo]
            rows = np.repeat(np.arange(len(todo)), np.diff(sub.indptr))
            ranks = rank_of[sub.indices]
            inside = ranks < width
            seen = np.zeros((len(todo), width), dtype=bool)
            seen[rows[inside], ranks[inside]] = True
            n_free = width - seen.sum(axis=1)
            done = (n_free >= n) | (width == len(ranked))
            first = np.argsort(seen[done], axis=1, kind="stable")[:, :n]  # unseen ranks first, in order
            picked = np.where(np.arange(first.shape[1]) < n_free[done][:, None], ranked[first], -1)
            out[todo[done], : first.shape[1]] = picked
            todo, width = todo[~done], min(len(ranked), 4 * width)
        return out

    def table(self) -> pd.DataFrame:
        """One row per movie: movie_index, count, positive_count, mean_rating, bayes_score."""
        v, pos, r = self._fitted()
        return pd.DataFrame(
            {
                "movie_index": np.arange(len(v), dtype=np.int64),
                "count": v,
                "positive_count": pos,
                "mean_rating": r,
                "bayes_score": self.bayes_average(),
            }
        )
