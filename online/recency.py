"""Recency-weighted fold-in: the user's newest interactions, held at boosted confidence,
around the offline vector (pure numpy/scipy).

One user, item factors Y (n_movies, k) fixed. The last ``window`` interactions s (oldest
first; a movie seen twice counts once, newest wins) carry the ALS confidence boosted by
recency, ``c_s = (1 + alpha|p_s|) * (1 + (boost - 1) * decay^age_s)`` with ``age_s`` the
number of later interactions, so the newest swipe weighs ``boost`` times what history would
and the extra fades by ``decay`` per later swipe. The ridge is centred on a share ``anchor``
of the offline vector x0 instead of on 0, which is what keeps the rest of the user's taste:

    x = argmin_x  sum_i c_i (p_i - x.y_i)^2 + lambda ||x - anchor * x0||^2

over every movie i (movies outside the window: p = 0, c = 1, implicit's convention), i.e.

    x = (YtY + lambda I + sum_s (c_s - 1) y_s y_s^T)^-1 (lambda anchor x0 + sum_s c_s p_s y_s)

with p_s = 1 for a liked movie (preference > 0), else 0 ("pushed away"). The cost is
O(window k^2 + k^3), whatever the length of the user's history: YtY + lambda I is computed
once per model, the window is bounded and x0 stands for everything older.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.linalg import LinAlgError, lapack

from online.preference import all_valid

FloatArray = npt.NDArray[np.float32]


def recency_boost(n: int, boost: float, decay: float) -> npt.NDArray[np.float64]:
    """(n,) float64 multipliers ``1 + (boost - 1) * decay^age`` for n interactions, oldest
    first (age = n - 1 - position)."""
    age = np.arange(n - 1, -1, -1, dtype=np.float64)
    return 1.0 + (boost - 1.0) * decay ** age


@dataclass(frozen=True, eq=False)
class RecencyFoldIn:
    """The recency-weighted fold-in against one model's item factors.

    Attributes:
        item_factors: (n_movies, k) float32 Y.
        gram_reg: (k, k) float64 ``YtY + lambda I``.
        regularization: lambda, the ridge's strength.
        alpha: confidence slope, ``C = 1 + alpha |p|`` (the model's).
        boost: confidence multiplier of the newest interaction (1 = plain fold-in weights).
        decay: per later interaction, the factor on the extra confidence ``boost - 1``.
        window: interactions kept (the newest).
        anchor: share of the offline vector the ridge is centred on (0 = plain ridge).
    """

    item_factors: FloatArray
    gram_reg: npt.NDArray[np.float64]
    regularization: float
    alpha: float
    boost: float
    decay: float
    window: int
    anchor: float

    @property
    def _boosts(self) -> npt.NDArray[np.float32]:
        """(window,) float32 ``recency_boost(window, boost, decay)``, computed once."""
        cached = self.__dict__.get("_boost_cache")
        if cached is None:
            cached = recency_boost(self.window, self.boost, self.decay).astype(np.float32)
            object.__setattr__(self, "_boost_cache", cached)
        return cached

    @classmethod
    def from_factors(cls, item_factors: npt.ArrayLike, regularization: float, alpha: float, boost: float,
                     decay: float, window: int, anchor: float) -> RecencyFoldIn:
        """Precompute ``YtY + lambda I`` from (n_movies, k) item factors."""
        y = np.ascontiguousarray(item_factors, dtype=np.float32)
        if y.ndim != 2:
            raise ValueError(f"item_factors must be 2-D, got shape {y.shape}")
        if regularization <= 0 or window < 1:
            raise ValueError("regularization must be > 0 and window >= 1")
        y64 = y.astype(np.float64)
        gram_reg = y64.T @ y64 + regularization * np.eye(y.shape[1])
        return cls(y, gram_reg, float(regularization), float(alpha), float(boost), float(decay), int(window),
                   float(anchor))

    def solve(self, offline: npt.ArrayLike | None, movie_indices: npt.ArrayLike,
              preferences: npt.ArrayLike) -> FloatArray:
        """The user's (k,) float32 vector.

        Args:
            offline: (k,) the artifact's vector x0, or None for a user the model never saw.
            movie_indices: (n,) int indices of the user's recent interactions, oldest first
                (only the last ``window`` count).
            preferences: (n,) int in {-2, -1, 1, 2}, aligned.
        """
        idx = np.asarray(movie_indices, dtype=np.int64).ravel()[-self.window:]
        pref = np.asarray(preferences, dtype=np.int8).ravel()[-self.window:]
        if idx.shape != pref.shape:
            raise ValueError(f"movie_indices {idx.shape} and preferences {pref.shape} differ")
        if not all_valid(pref):
            raise ValueError("preferences must be in {-2, -1, 1, 2}")
        boost = self._boosts[len(self._boosts) - len(idx):]  # (n,) oldest first
        # each movie once, with its newest preference and boost
        order = np.argsort(idx, kind="stable")
        sorted_idx = idx[order]
        keep = order[np.append(sorted_idx[1:] != sorted_idx[:-1], True)] if len(idx) else order
        if len(idx) and (sorted_idx[0] < 0 or sorted_idx[-1] >= len(self.item_factors)):
            raise IndexError(f"movie index outside 0..{len(self.item_factors) - 1}")
        pref = pref[keep]
        conf = (1.0 + self.alpha * np.abs(pref, dtype=np.float32)) * boost[keep]  # (n,) float32 c_s
        y_s = self.item_factors[idx[keep]]  # (n, k) float32
        a = self.gram_reg + (y_s.T * (conf - np.float32(1.0))) @ y_s  # (k, k) float64
        b = (y_s.T @ (conf * (pref > 0))).astype(np.float64)  # (k,)
        if offline is not None:
            b += self.regularization * self.anchor * np.asarray(offline, dtype=np.float64)
        # x = (YtY + lambda I + Ys^T (C_s - I) Ys)^-1 (lambda anchor x0 + Ys^T C_s p_s)   (Cholesky, posv)
        _, x, info = lapack.dposv(a, b, lower=1, overwrite_a=1, overwrite_b=1)
        if info != 0:
            raise LinAlgError(f"posv failed (info={info})")
        return x.astype(np.float32)


__all__ = ["RecencyFoldIn", "recency_boost"]
