"""User-vector updates run on every swipe (pure numpy/scipy; no I/O).

Two rules share one contract, "old state + one swipe -> new user vector (k,) float32":

* ``FoldIn``: the exact ALS half-step for one user, the same normal equations implicit's
  CPU solver (``implicit.cpu._als._least_squares``, 0.7.3) solves, with the item factors
  held fixed. Cost O(n_u * k^2 + k^3) per call.
* ``AdditiveRule``: a cheap O(k) nudge ``u <- decay * u + eta * p~ * m``, with the step
  expressed as a fraction of a typical user norm (ALS user vectors are far longer than item
  vectors, so a raw eta of 0.01-0.1 would move nothing).

How implicit 0.7.3 (CPU) reads a stored value v, after multiplying it by the model's own
``alpha`` (our training keeps that at 1.0 because preference.py already puts alpha into v):
v > 0 means p_ui = 1 with confidence c = v; v < 0 means p_ui = 0 with confidence c = |v|;
missing means p_ui = 0 with c = 1. The regularization is a plain ``lambda * I``: it is
*not* scaled by the number of items or by the user's interaction count.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy.linalg import LinAlgError, lapack

from offline.preference import confidence

FloatArray = npt.NDArray[np.float32]
Interactions = tuple[npt.ArrayLike, npt.ArrayLike]  # (movie_indices, preferences), oldest first
InitialKind = Literal["zero", "mean"]

# True at the uint8 bit patterns of int8 -2, -1, 1, 2: one lookup validates a preference array
_VALID_PREFERENCE = np.zeros(256, dtype=bool)
_VALID_PREFERENCE[np.array([-2, -1, 1, 2], dtype=np.int8).view(np.uint8)] = True


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
        if not _VALID_PREFERENCE[pref.view(np.uint8)].all():
            raise ValueError("preferences must be in {-2, -1, 1, 2}")


def decay_for(elapsed_seconds: float, half_life_seconds: float) -> float:
    """Multiplier ``0.5 ** (elapsed / half_life)`` for the old user vector.

    ``elapsed_seconds`` runs from the user's previous event to this one. Out-of-order or
    simultaneous events (elapsed <= 0) do not decay (1.0). ``half_life = inf`` never decays
    (1.0); ``half_life = 0`` forgets everything once any time has passed (0.0 for
    elapsed > 0), the limit of the formula. A negative or NaN half-life raises ValueError.
    """
    if math.isnan(half_life_seconds) or half_life_seconds < 0:
        raise ValueError(f"half_life_seconds must be >= 0, got {half_life_seconds}")
    if not elapsed_seconds > 0 or math.isinf(half_life_seconds):
        return 1.0
    if half_life_seconds == 0:
        return 0.0
    return 0.5 ** (elapsed_seconds / half_life_seconds)


def additive_update(
    user_vector: npt.ArrayLike,
    item_vector: npt.ArrayLike,
    preference: int,
    step: float,
    decay: float,
    max_norm: float,
) -> FloatArray:
    """One swipe: ``u <- decay * u + step * p~ * m``, then shrink so that ``||u|| <= max_norm``.

    ``p~ = preference / 2``, so love/hate (+-2) move by one full step and like/dislike
    (+-1) by half; 0 only decays. ``step`` is the absolute eta (``AdditiveRule.eta``);
    ``max_norm = inf`` disables the clip.

    Args:
        user_vector: (k,) float32 current u.
        item_vector: (k,) float32 m, the swiped movie's item factor.
        preference: int in -2..2.
        step: eta, in user-norm units per item-norm unit.
        decay: multiplier on the old u (see ``decay_for``).
        max_norm: upper bound on ||u||.

    Returns:
        (k,) float32 new user vector (a fresh array).
    """
    if not -2 <= preference <= 2:
        raise ValueError(f"preference must be in -2..2, got {preference}")
    u = np.asarray(user_vector, dtype=np.float32)
    m = np.asarray(item_vector, dtype=np.float32)
    # u <- decay * u + eta * (p / 2) * m;  then u <- u * min(1, max_norm / ||u||)
    new = np.float32(decay) * u + np.float32(step * preference / 2.0) * m
    norm = float(np.linalg.norm(new))
    if norm > max_norm:
        new *= np.float32(max_norm / norm)
    return new


@dataclass(frozen=True)
class AdditiveParams:
    """Dimensionless knobs of the additive rule (what configuration carries).

    Attributes:
        step: fraction of a typical user norm that one love/hate swipe on a typical-norm
            movie moves the user (0.1 = 10 %).
        half_life_seconds: time for the old vector's weight to halve; inf = never.
        max_norm_factor: clip ||u|| at this multiple of the 99th-percentile user norm.
    """

    step: float = 0.1
    half_life_seconds: float = 7 * 24 * 3600.0
    max_norm_factor: float = 1.0


@dataclass(frozen=True)
class AdditiveRule:
    """Additive rule resolved against one model artifact.

    Attributes:
        eta: absolute step, ``step * typical_user_norm / typical_item_norm``.
        half_life_seconds: as in ``AdditiveParams``.
        max_norm: absolute clip on ||u||.
        typical_user_norm: median norm of the non-zero user factors.
        typical_item_norm: median norm of the non-zero item factors.
    """

    eta: float
    half_life_seconds: float
    max_norm: float
    typical_user_norm: float
    typical_item_norm: float

    @classmethod
    def from_factors(
        cls,
        user_factors: npt.ArrayLike,
        item_factors: npt.ArrayLike,
        step: float,
        half_life_seconds: float,
        max_norm_factor: float,
    ) -> AdditiveRule:
        """Scale ``step`` by (n_users, k) and (n_movies, k) factor norms (zero rows ignored)."""
        user_norms = _nonzero_norms(user_factors)
        item_norms = _nonzero_norms(item_factors)
        typical_user = float(np.median(user_norms))
        typical_item = float(np.median(item_norms))
        max_norm = max_norm_factor * float(np.percentile(user_norms, 99))
        eta = step * typical_user / typical_item  # one +-2 swipe moves ~step * typical_user
        return cls(eta, float(half_life_seconds), max_norm, typical_user, typical_item)

    @classmethod
    def from_params(
        cls, user_factors: npt.ArrayLike, item_factors: npt.ArrayLike, params: AdditiveParams
    ) -> AdditiveRule:
        """``from_factors`` with the knobs taken from ``params``."""
        return cls.from_factors(user_factors, item_factors, params.step,
                                params.half_life_seconds, params.max_norm_factor)

    def apply(self, user_vector: npt.ArrayLike, item_vector: npt.ArrayLike, preference: int,
              elapsed_seconds: float) -> FloatArray:
        """(k,) u, (k,) m -> (k,) float32 new u, decayed over ``elapsed_seconds``."""
        decay = decay_for(elapsed_seconds, self.half_life_seconds)
        return additive_update(user_vector, item_vector, preference, self.eta, decay,
                               self.max_norm)


def initial_vector(kind: InitialKind, user_factors: npt.ArrayLike) -> FloatArray:
    """Starting (k,) float32 vector for a user the model has never seen.

    ``"zero"`` (the default choice for both rules): the vector is exactly what the user's
    swipes say, matching implicit (a user with no items gets zeros); serving should fall back
    to popularity while it is zero. ``"mean"``: the mean trained user vector, which ranks
    roughly by popularity before the first swipe but takes several swipes to outweigh.
    """
    x = np.asarray(user_factors, dtype=np.float32)
    if kind == "zero":
        return np.zeros(x.shape[1], dtype=np.float32)
    if kind == "mean":
        return x.mean(axis=0, dtype=np.float64).astype(np.float32)
    raise ValueError(f"unknown initial vector kind {kind!r}")


def _nonzero_norms(factors: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """(n,) row norms of an (n, k) matrix, rows of all zeros left out."""
    norms = np.linalg.norm(np.asarray(factors, dtype=np.float64), axis=1)
    norms = norms[norms > 0]
    if norms.size == 0:
        raise ValueError("all factor rows are zero")
    return norms
