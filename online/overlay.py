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

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

FloatArray = npt.NDArray[np.float32]


def standardise(scores: npt.NDArray[np.floating]) -> FloatArray:
    """(b, n) float32 ``(s - mean) / std`` per row (a constant row becomes 0)."""
    s = np.asarray(scores, dtype=np.float32)
    mean = s.mean(axis=1, keepdims=True, dtype=np.float64)
    std = s.std(axis=1, keepdims=True, dtype=np.float64)
    return ((s - mean) / np.where(std > 0, std, 1.0)).astype(np.float32)


def seed_weights(movie_indices: npt.ArrayLike, preferences: npt.ArrayLike, decay: float,
                 max_seeds: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The overlay's seeds of one user: (m,) movie indices and (m,) weights ``decay^age``.

    Args:
        movie_indices: (n,) int, the user's recent interactions, oldest first.
        preferences: (n,) int, aligned; only liked ones (> 0) become seeds.
        decay: weight factor per later interaction.
        max_seeds: the newest liked movies kept (a movie liked twice counts once, newest).
    """
    idx = np.asarray(movie_indices, dtype=np.int64).ravel()
    pref = np.asarray(preferences).ravel()
    age = np.arange(len(idx) - 1, -1, -1, dtype=np.float64)
    liked = pref > 0
    idx, age = idx[liked][::-1], age[liked][::-1]  # newest first
    _, first = np.unique(idx, return_index=True)
    first = np.sort(first)[:max_seeds]
    return idx[first], decay ** age[first]


@dataclass(frozen=True, eq=False)
class NeighbourOverlay:
    """beta * (seed weights) @ S for a batch of users.

    Attributes:
        rows: (n_movies, n_movies) float32 CSR, the scaled top-K neighbour rows S.
        beta: weight of the overlay against the standardised base (z units).
        decay: seed weight factor per later interaction.
        max_seeds: newest liked movies used per user.
    """

    rows: sp.csr_matrix
    beta: float
    decay: float
    max_seeds: int

    def scores(self, recent: Sequence[tuple[npt.ArrayLike, npt.ArrayLike]]) -> sp.csr_matrix:
        """(b, n_movies) float32 CSR of ``beta * sum_j w_j S[j, :]`` per user.

        Args:
            recent: per user (movie indices, preferences) of their recent interactions, oldest first.
        """
        n = self.rows.shape[0]
        cols: list[npt.NDArray[np.int64]] = []
        vals: list[npt.NDArray[np.float64]] = []
        for idx, pref in recent:
            c, w = seed_weights(idx, pref, self.decay, self.max_seeds)
            cols.append(c)
            vals.append(w)
        indptr = np.r_[0, np.cumsum([len(c) for c in cols])]
        seeds = sp.csr_matrix((np.concatenate(vals).astype(np.float32) if vals else np.zeros(0, np.float32),
                               np.concatenate(cols) if cols else np.zeros(0, np.int64), indptr),
                              shape=(len(recent), n))
        # overlay = beta * W (b, n) @ S (n, n)
        return (seeds @ self.rows).multiply(np.float32(self.beta)).tocsr().astype(np.float32)


def add_sparse(dense: FloatArray, extra: sp.csr_matrix) -> FloatArray:
    """``dense += extra`` in place for a (b, n) array and a (b, n) CSR; returns ``dense``."""
    extra.sum_duplicates()  # one entry per (row, column): a plain fancy-indexed add is exact
    rows = np.repeat(np.arange(extra.shape[0]), np.diff(extra.indptr))
    dense[rows, extra.indices] += extra.data
    return dense
