"""The item-neighbour overlay: a user's recent liked movies lift their neighbours (pure).

Scores of one user over the catalogue, with s the base scores (the user vector's dot
products, or the cold-start scores) and S the item-neighbour rows (S[j, m] = how much
liking j suggests m; sparse, top-K per row, scaled so that the median row maximum is 1):

    score(m) = z(s)(m) + beta * sum_j w_j S[j, m],    w_j = decay^age_j

over the user's most recent liked movies j (age_j = later interactions, liked or not), where
z standardises s per user (mean 0, standard deviation 1 over the catalogue) so that beta
means the same for every user and every base. Disliked movies are not seeds.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from online.additions import Parts, RowAdditions, ScoreAdditions, SeedAdditions
from online.compiled import compiled_kernels
from online.preference import int_list
from online.product import dot_scores, one_user_scores

FloatArray = npt.NDArray[np.float32]
FEW_USERS = 8
"""Up to this many users, ``NeighbourOverlay.scores`` finds the seeds user by user on lists
(fewer numpy calls than the vectorised ``seed_weights_many``; bench/strategies.py's model:
cheaper at 4 and 8 users, even at 16)."""


@dataclass(frozen=True, eq=False)
class ItemMoments:
    """Mean and covariance of the item factors: the per-user mean and standard deviation of
    the scores ``u . y_m`` over the catalogue in O(k^2), without the (n_movies,) row.

    Attributes:
        mean: (k,) float64, the mean item factor.
        cov: (k, k) float64, ``Y^T Y / n - mean mean^T``.
    """

    mean: npt.NDArray[np.float64]
    cov: npt.NDArray[np.float64]

    @classmethod
    def of(cls, item_factors: npt.ArrayLike) -> ItemMoments:
        """From (n_movies, k) item factors."""
        y = np.asarray(item_factors, dtype=np.float64)
        mean = y.mean(axis=0)
        return cls(mean, y.T @ y / len(y) - np.outer(mean, mean))

    @cached_property
    def _joint32(self) -> FloatArray:
        """(k, k + 1) float32 ``[cov | mean]``, computed on first use: one product gives
        ``cov u`` and ``mean.u`` of a float32 u without casting it (the one-user path)."""
        return np.hstack((self.cov, self.mean[:, None])).astype(np.float32)

    def scaled_scores(self, users: npt.ArrayLike,
                      item_factors: npt.NDArray[np.float32]) -> tuple[FloatArray, FloatArray]:
        """The z-scores z = (Y u - mean.u) / sqrt(u^T cov u) of ``users`` (b, k) (or one user's
        (k,) float32 vector) against the
        item factors, one matrix product for the batch, as (b, n_movies) float32 ``Y u / sd``
        and the (b,) float32 constant ``-mean.u / sd`` to add row by row. A ranking needs only
        the first: the constant is added to the few scores kept, not to every movie."""
        if isinstance(users, np.ndarray) and users.ndim == 1 and users.dtype == np.float32:
            # one user's (k,) vector: mean and sd as Python floats (a third of the numpy calls),
            # in float32 (relative error ~1e-7 in the scale; a cast of u to float64 cost ~3 us)
            joint = users @ self._joint32  # (k + 1,) float32 cov u, mean.u
            var, mean = float(joint[:-1] @ users), joint.item(-1)
            inv = 1.0 / math.sqrt(var) if var > 0 else 0.0
            # Y (u / sd) as the product's own scale (BLAS alpha): no pass over u
            return one_user_scores(users, item_factors, inv), np.array([-mean * inv], np.float32)
        u = np.atleast_2d(np.asarray(users, dtype=np.float64))
        mu = u @ self.mean  # (b,) mean over the catalogue of u . y
        sd = np.sqrt(np.maximum(((u @ self.cov) * u).sum(axis=1), 0.0))  # (b,) its standard deviation
        inv = np.where(sd > 0, 1.0 / np.where(sd > 0, sd, 1.0), 0.0)
        # z = Y (u / sd) - mean.u / sd
        return dot_scores((u * inv[:, None]).astype(np.float32), item_factors), (-mu * inv).astype(np.float32)


def standardise(scores: npt.NDArray[np.floating]) -> FloatArray:
    """(b, n) float32 ``(s - mean) / std`` per row (a constant row becomes 0)."""
    s = np.asarray(scores, dtype=np.float32)
    mean = s.mean(axis=1, keepdims=True, dtype=np.float64)
    std = s.std(axis=1, keepdims=True, dtype=np.float64)
    return ((s - mean) / np.where(std > 0, std, 1.0)).astype(np.float32)


def _newest_likes(movies: list[int], prefs: list[int], max_seeds: int) -> dict[int, int]:
    """movie -> age (later interactions) of the newest ``max_seeds`` liked movies, newest first
    (a movie liked twice counts once, at its newest); a few dozen entries: lists beat numpy calls."""
    seeds: dict[int, int] = {}
    for age, (m, p) in enumerate(zip(reversed(movies), reversed(prefs))):
        if p > 0 and m not in seeds:
            seeds[m] = age
            if len(seeds) == max_seeds:
                break
    return seeds


def seed_weights(movie_indices: npt.ArrayLike, preferences: npt.ArrayLike, decay: float,
                 max_seeds: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The overlay's seeds of one user: (m,) movie indices and (m,) weights ``decay^age``.

    Args:
        movie_indices: (n,) int, the user's recent interactions, oldest first.
        preferences: (n,) int, aligned; only liked ones (> 0) become seeds.
        decay: weight factor per later interaction.
        max_seeds: the newest liked movies kept (a movie liked twice counts once, newest).
    """
    seeds = _newest_likes(int_list(movie_indices, np.int64), int_list(preferences, np.int64), max_seeds)
    return np.fromiter(seeds.keys(), np.int64, len(seeds)), decay ** np.fromiter(seeds.values(), np.float64, len(seeds))


def seed_weights_many(recent: Sequence[tuple[npt.ArrayLike, npt.ArrayLike]], decay: float,
                      max_seeds: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """``seed_weights`` of a batch of users without a loop over their interactions.

    Returns (b,) int64 seeds per user, then (m,) int64 seed movies and (m,) float64 weights of
    all users one after the other, each user's in ``seed_weights``' order (newest first).
    """
    if len(recent) <= 3:  # a few users: the per-user loop is cheaper than the ~20 calls below
        per = [seed_weights(m, p, decay, max_seeds) for m, p in recent]
        return (np.array([len(j) for j, _ in per], dtype=np.int64),
                np.concatenate([j for j, _ in per]) if per else np.zeros(0, np.int64),
                np.concatenate([w for _, w in per]) if per else np.zeros(0))
    lengths = np.array([np.size(m) for m, _ in recent], dtype=np.int64)
    if not lengths.sum():
        return np.zeros(len(recent), np.int64), np.zeros(0, np.int64), np.zeros(0)
    movie = np.concatenate([np.asarray(m, dtype=np.int64).ravel() for m, _ in recent])
    pref = np.concatenate([np.asarray(p).ravel() for _, p in recent])
    user = np.repeat(np.arange(len(recent)), lengths)
    age = np.repeat(np.cumsum(lengths) - 1, lengths) - np.arange(len(movie))  # later interactions, liked or not
    liked = pref > 0
    user, movie, age = user[liked], movie[liked], age[liked]
    # each (user, movie) once, at its newest like: sorted by user, movie, age (one int64 key: a
    # third of lexsort's time), the first of a run. The keys are distinct (an age is one entry
    # of its user), so the sort need not be stable: numpy's default (SIMD on x86) takes ~half
    # the time of the stable one on these blocks of random movies
    span, n_movies = int(lengths.max()), int(movie.max(initial=0)) + 1
    order = np.argsort((user * n_movies + movie) * span + age)
    user, movie, age = user[order], movie[order], age[order]
    first = np.r_[True, (user[1:] != user[:-1]) | (movie[1:] != movie[:-1])][:len(user)]
    user, movie, age = user[first], movie[first], age[first]
    # per user, newest first, at most max_seeds (stable: these keys come in descending runs,
    # which the stable sort takes in one pass)
    order = np.argsort(user * span + age, kind="stable")
    user, movie, age = user[order], movie[order], age[order]
    counts = np.bincount(user, minlength=len(recent))
    rank = np.arange(len(user)) - np.repeat(np.cumsum(counts) - counts, counts)
    keep = rank < max_seeds
    return np.minimum(counts, max_seeds), movie[keep], decay ** age[keep].astype(np.float64)


@dataclass(frozen=True, eq=False)
class NeighbourOverlay:
    """beta * (seed weights) @ S for a batch of users.

    Attributes:
        rows: (n_movies, n_movies) float32 CSR, the scaled top-K neighbour rows S.
        beta: weight of the overlay against the standardised base (z units).
        decay: seed weight factor per later interaction.
        max_seeds: newest liked movies used per user.
        compiled: one user's overlay in numba's compiled kernel where it is installed
            (``scores_parts``; ``online.kernels``).
    """

    rows: sp.csr_matrix
    beta: float
    decay: float
    max_seeds: int
    compiled: bool = True

    # The tables below are computed on first use and then read as plain attributes
    # (``cached_property`` on this frozen dataclass: no descriptor call on the hot path).

    @cached_property
    def _n_movies(self) -> int:
        return int(self.rows.shape[0])

    @cached_property
    def _padded(self) -> tuple[npt.NDArray[np.intp], FloatArray]:
        """S as (n_movies, K) column indices and (n_movies, K) values, K the longest row, each
        row's entries in CSR order and padded with (column 0, value 0.0): a seed's row is one
        fancy index, no per-seed offsets (adding +0.0 changes no score)."""
        s = self.rows
        counts = np.diff(s.indptr)
        width = max(int(counts.max()) if len(counts) else 0, 1)
        present = np.arange(width)[None, :] < counts[:, None]
        cols, vals = np.zeros((s.shape[0], width), np.intp), np.zeros((s.shape[0], width), np.float32)
        cols[present], vals[present] = s.indices, s.data
        return cols, vals

    def _weights_to(self, oldest: int) -> FloatArray:
        """(> oldest,) float32 seed weights ``beta * decay^age`` by age, kept, and made again
        twice as long as needed when a seed is older (at least 256 ages)."""
        table = self.__dict__.get("_age_weights")
        if table is None or len(table) <= oldest:
            ages = np.arange(max(256, 2 * (oldest + 1)), dtype=np.float64)
            table = self.__dict__["_age_weights"] = (self.decay ** ages * self.beta).astype(np.float32)
        return table

    def _groups(self, seeds: int) -> npt.NDArray[np.intp]:
        """(seeds * K,) intp: entry e of ``seeds`` gathered (seeds, K) rows, read flat, belongs
        to seed e // K; one table, kept, and made again twice as long when too short."""
        width = self._padded[0].shape[1]
        table = self.__dict__.get("_group_table")
        if table is None or len(table) < seeds * width:
            count = max(2 * seeds, FEW_USERS * max(self.max_seeds, 1))
            table = self.__dict__["_group_table"] = np.repeat(np.arange(count, dtype=np.intp), width)
        return table[: seeds * width]

    def scores_parts(self, users: Sequence[tuple[Parts, Parts]],
                     as_lists: Callable[[], list[tuple[list[int], list[int]]]]) -> ScoreAdditions:
        """``scores`` of a few users, each from the interactions recent then swipes (each
        (movie indices, preferences) arrays, oldest first): the compiled kernel's where it is
        installed and ``compiled``, else ``scores(as_lists())`` (each user's two joined as
        lists of ints)."""
        scatter = self._scatter
        if scatter is None:
            return self.scores(as_lists())
        oldest = max(len(recent[0]) + len(swipes[0]) for recent, swipes in users)
        return SeedAdditions(scatter, users, self.max_seeds, self._weights_to(oldest), self._padded)

    @cached_property
    def _scatter(self) -> Callable[..., None] | None:
        """``online.kernels.seed_scatter`` where ``scores_parts`` may use it, else None."""
        kernels = compiled_kernels() if self.compiled else None
        return None if kernels is None else kernels.seed_scatter

    def scores(self, recent: Sequence[tuple[npt.ArrayLike | list[int], npt.ArrayLike | list[int]]]
               ) -> RowAdditions:
        """(b, n_movies) additions ``beta * sum_j w_j S[j, :]`` per user, not summed: a movie
        near several seeds has one entry per seed (``RowAdditions.add_to`` adds them all).

        Args:
            recent: per user (movie indices, preferences) of their recent interactions, oldest
                first (arrays, or lists of ints: the few-user path reads them as lists).
        """
        n, b = self._n_movies, len(recent)
        cols, vals = self._padded
        if b <= FEW_USERS:  # seeds found in Python: fewer numpy calls
            seeds = [_newest_likes(int_list(m), int_list(p), self.max_seeds) for m, p in recent]
            j = [m for s in seeds for m in s]
            if not j:
                return RowAdditions.of(np.zeros(0, np.intp), np.zeros(0, np.float32), (b, n))
            ages = [age for s in seeds for age in s.values()]
            weights = self._weights_to(max(ages)).take(ages)  # (m,) beta w_j
            flat = cols.take(j, 0)  # (m, K) the gathers take the list as it is (one numpy call, not two)
            if b > 1:  # each entry at row * n + movie of its user's row
                flat += np.array([row * n for row, s in enumerate(seeds) for _ in s], dtype=np.intp)[:, None]
            return RowAdditions.of(flat.ravel(), vals.take(j, 0).ravel(), (b, n), self._groups(len(j)), weights)
        per_user, j, w64 = seed_weights_many(recent, self.decay, self.max_seeds)  # (m,) seed movies, user by user
        flat = cols.take(j, 0)  # (m, K)
        flat += np.repeat(np.arange(b, dtype=np.intp) * n, per_user)[:, None]
        return RowAdditions.of(flat.ravel(), vals.take(j, 0).ravel(), (b, n), self._groups(len(j)),
                               (w64 * self.beta).astype(np.float32))
