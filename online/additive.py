"""The additive update rule: a cheap O(k) nudge of the user vector per swipe (pure numpy).

``u <- decay * u + eta * p~ * m``, with the step expressed as a fraction of a typical user
norm (ALS user vectors are far longer than item vectors, so a raw eta of 0.01-0.1 would
move nothing), an exponential time decay of the old vector and a norm clip.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from online.settings import AdditiveSettings

FloatArray = npt.NDArray[np.float32]
InitialKind = Literal["zero", "mean"]


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
class AdditiveRule:
    """Additive rule resolved against one model artifact.

    Attributes:
        eta: absolute step, ``step * typical_user_norm / typical_item_norm``.
        half_life_seconds: time for the old vector's weight to halve; inf = never.
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
    def from_settings(
        cls, user_factors: npt.ArrayLike, item_factors: npt.ArrayLike, settings: AdditiveSettings
    ) -> AdditiveRule:
        """``from_factors`` with the knobs of ``settings`` (half-life in days -> seconds)."""
        return cls.from_factors(user_factors, item_factors, settings.step,
                                settings.half_life_days * 86400.0, settings.max_norm_factor)

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
