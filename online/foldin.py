"""Exact ALS fold-in: one user's vector from their interactions, item factors fixed (pure).

``FoldIn`` solves the same normal equations implicit's CPU solver
(``implicit.cpu._als._least_squares``, 0.7.3) solves for one user. Cost O(n_u * k^2 + k^3)
per call.

How implicit 0.7.3 (CPU) reads a stored value v, after multiplying it by the model's own
``alpha`` (our training keeps that at 1.0 because the pipeline already puts alpha into v):
v > 0 means p_ui = 1 with confidence c = v; v < 0 means p_ui = 0 with confidence c = |v|;
missing means p_ui = 0 with c = 1. The regularization is a plain ``lambda * I``: it is
*not* scaled by the number of items or by the user's interaction count.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.linalg import LinAlgError, lapack

from online.preference import all_valid, confidence

FloatArray = npt.NDArray[np.float32]
Interactions = tuple[npt.ArrayLike, npt.ArrayLike]  # (movie_indices, preferences), oldest first


def latest_wins(
    movie_indices: npt.ArrayLike, preferences: npt.ArrayLike
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int8]]:
    """Drop repeated movies, keeping each movie's last (newest) interaction.

    Args:
        movie_indices: (n,) int, oldest first.
        preferences: (n,) int in {-2, -1, 1, 2}, aligned with ``movie_indices``.

    Returns:
        (m,) int64 unique movie indices, sorted ascending, and their (m,) int8 preferences.
    """
    idx = np.asarray(movie_indices, dtype=np.int64).ravel()
    pref = np.asarray(preferences, dtype=np.int8).ravel()
    if idx.shape != pref.shape:
        raise ValueError(f"movie_indices {idx.shape} and preferences {pref.shape} differ")
    if idx.size < 2:
        return idx, pref  # already unique and sorted
    # first occurrence in the reversed array = last occurrence in the original
    _, first_in_reversed = np.unique(idx[::-1], return_index=True)
    keep = idx.size - 1 - first_in_reversed
    return idx[keep], pref[keep]


@dataclass(frozen=True, eq=False)
class FoldIn:
    """Exact ALS user solve against fixed item factors.

    Attributes:
        item_factors: (n_movies, k) float32, Y from the trained model.
        regularization: lambda, exactly the model's ``regularization``.
        yty_reg: (k, k) float64, ``Y^T Y + lambda * I`` (precomputed once).
        value_scale: implicit's own ``AlternatingLeastSquares.alpha``, which multiplies every
            stored value before the solve; 1.0 for our models.
    """

    item_factors: FloatArray
    regularization: float
    yty_reg: npt.NDArray[np.float64]
    value_scale: float = 1.0

    @classmethod
    def from_factors(
        cls, item_factors: npt.ArrayLike, regularization: float, value_scale: float = 1.0
    ) -> FoldIn:
        """Precompute ``Y^T Y + lambda * I`` from (n_movies, k) item factors."""
        y = np.ascontiguousarray(item_factors, dtype=np.float32)
        if y.ndim != 2:
            raise ValueError(f"item_factors must be 2-D, got shape {y.shape}")
        y64 = y.astype(np.float64)
        yty_reg = y64.T @ y64 + regularization * np.eye(y.shape[1])
        return cls(y, float(regularization), yty_reg, float(value_scale))

    @property
    def factors(self) -> int:
        """k, the number of latent factors."""
        return self.item_factors.shape[1]

    def solve(
        self, movie_indices: npt.ArrayLike, preferences: npt.ArrayLike, alpha: float
    ) -> FloatArray:
        """ALS user vector from a user's interactions.

        A movie seen twice counts once, with its newest preference (``latest_wins``), so pass
        interactions oldest first. An empty history gives the zero vector, as in implicit.

        Args:
            movie_indices: (n,) int movie indices into ``item_factors``, oldest first.
            preferences: (n,) int8 in {-2, -1, 1, 2} (wider ints are cast to int8).
            alpha: confidence slope of preference.py, ``C = 1 + alpha * |p|``.

        Returns:
            (k,) float32 user vector.
        """
        idx, pref = latest_wins(movie_indices, preferences)
        self._validate(idx, pref)
        if idx.size == 0:
            return np.zeros(self.factors, dtype=np.float32)
        return self._solve_unique(idx, pref, alpha)

    def solve_many(self, users: Sequence[Interactions], alpha: float) -> FloatArray:
        """``solve`` for a batch of users: (b,) of (indices, preferences) -> (b, k) float32.

        Raises on the first invalid user. A loop over ``solve``: at k=64 batched factorizations
        (numpy's cholesky/solve gufuncs, scipy's batched cho_factor) measured no faster.
        """
        out = np.zeros((len(users), self.factors), dtype=np.float32)
        for row, (movie_indices, preferences) in enumerate(users):
            out[row] = self.solve(movie_indices, preferences, alpha)
        return out

    def _solve_unique(
        self, idx: npt.NDArray[np.int64], pref: npt.NDArray[np.int8], alpha: float
    ) -> FloatArray:
        """Solve for (n,) unique indices with (n,) valid preferences; returns (k,) float32."""
        conf = confidence(pref, alpha) * np.float32(self.value_scale)  # (n,) float32 C_ui
        liked = np.where(pref > 0, conf, np.float32(0.0))  # (n,) float32 C_ui * p_ui
        y_u = self.item_factors[idx]  # (n, k) float32
        a = self.yty_reg + (y_u.T * (conf - np.float32(1.0))) @ y_u  # (k, k) float64
        b = (y_u.T @ liked).astype(np.float64)  # (k,)
        # Xu = (YtY + lambda*I + Yt(Cu - I)Y)^-1 Yt Cu pu   (Cholesky: LAPACK posv, as implicit)
        _, x, info = lapack.dposv(a, b, lower=1, overwrite_a=1, overwrite_b=1)
        if info != 0:
            raise LinAlgError(f"posv failed (info={info}); is regularization > 0?")
        return x.astype(np.float32)

    def _validate(self, idx: npt.NDArray[np.int64], pref: npt.NDArray[np.int8]) -> None:
        """Check ``latest_wins`` output: (n,) sorted unique indices and (n,) int8 preferences."""
        if idx.size == 0:
            return
        if idx[0] < 0 or idx[-1] >= self.item_factors.shape[0]:
            raise IndexError(f"movie index outside 0..{self.item_factors.shape[0] - 1}")
        if not all_valid(pref):
            raise ValueError("preferences must be in {-2, -1, 1, 2}")
