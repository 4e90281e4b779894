"""Rating prediction baselines: damped biases, then truncated SVD of their residuals.

Baseline (Koren 2010, "damped" means): r̂_ui = μ + b_u + b_i, fitted by alternating

    b_i = Σ_{u ∈ R(i)} (r_ui - μ - b_u) / (|R(i)| + λ_i)
    b_u = Σ_{i ∈ R(u)} (r_ui - μ - b_i) / (|R(u)| + λ_u)

SVD: E = the residual r_ui - (μ + b_u + b_i) on observed entries, 0 elsewhere (sparse);
E ≈ U_k S_k V_kᵀ and r̂_ui = μ + b_u + b_i + (U_k S_k)_u · (V_k)_i. The truncated SVD is a
seeded randomized one by default (``offline.models.randomized_svd``: ~10x faster than ARPACK
at ML-20M size, singular values within a few per cent) or ARPACK ``svds`` (exact).
Predictions are clipped to the MovieLens scale [0.5, 5.0].
"""
from __future__ import annotations

import logging
from typing import Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field
from scipy.sparse.linalg import svds

from offline.models.randomized_svd import randomized_svd

logger = logging.getLogger(__name__)

RATING_MIN, RATING_MAX = 0.5, 5.0
_PAIR_BLOCK = 65536  # (user, movie) pairs gathered at once in predict


class BiasConfig(BaseModel):
    """Damping of the bias baseline."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user_damping: float = Field(5.0, ge=0, description="λ_u: pseudo-ratings pulling a user bias towards 0.")
    item_damping: float = Field(5.0, ge=0, description="λ_i: pseudo-ratings pulling a movie bias towards 0.")
    iterations: int = Field(3, ge=1, description="Alternating passes (items, then users).")


class SVDConfig(BaseModel):
    """Hyperparameters of the truncated-SVD rating model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_components: int = Field(100, ge=1, description="Rank k; capped at min(n_users, n_movies) - 1.")
    solver: Literal["randomized", "arpack"] = Field(
        "randomized", description="Randomized subspace iteration (fast) or ARPACK svds (exact, slow at scale)."
    )
    oversample: int = Field(10, ge=0, description="Randomized: sketch columns beyond n_components.")
    power_iterations: int = Field(3, ge=0, description="Randomized: passes of EᵀE over the sketch.")
    seed: int = Field(42, description="Seed of the random sketch or of the ARPACK start vector.")
    bias: BiasConfig = Field(default_factory=BiasConfig, description="Baseline the SVD is fitted on.")


def _canonical(ratings: sp.spmatrix) -> sp.csr_matrix:
    """CSR copy of a (n_users, n_movies) matrix without explicit zeros or duplicates."""
    m = sp.csr_matrix(ratings, copy=True)
    m.eliminate_zeros()
    m.sum_duplicates()
    return m


def _triples(m: sp.csr_matrix) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """(rows, cols, values) of the stored entries of a canonical CSR, in storage order."""
    rows = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))
    return rows, m.indices.astype(np.int64), m.data.astype(np.float64)


def _check_indices(idx: npt.ArrayLike, size: int, what: str) -> npt.NDArray[np.int64]:
    a = np.asarray(idx, dtype=np.int64)
    if a.size and (a.min() < 0 or a.max() >= size):
        raise IndexError(f"{what} index outside 0..{size - 1}")
    return a


class BiasBaseline:
    """r̂_ui = μ + b_u + b_i with damped user and movie biases."""

    def __init__(self, config: BiasConfig | None = None) -> None:
        self.config = config or BiasConfig()
        self.global_mean: float = float("nan")
        self.user_bias: npt.NDArray[np.float32] | None = None
        self.item_bias: npt.NDArray[np.float32] | None = None

    def fit(self, ratings: sp.spmatrix) -> BiasBaseline:
        """Fit on a (n_users, n_movies) CSR of ratings (0.5-5.0); unrated pairs are not stored."""
        return self._fit(*_triples(_canonical(ratings)), ratings.shape)

    def _fit(
        self, rows: npt.NDArray[np.int64], cols: npt.NDArray[np.int64], r: npt.NDArray[np.float64],
        shape: tuple[int, int],
    ) -> BiasBaseline:
        """Fit on the (n,) triples of the stored ratings of a (n_users, n_movies) matrix."""
        n_users, n_movies = shape
        mu = float(r.mean()) if len(r) else (RATING_MIN + RATING_MAX) / 2
        n_u = np.bincount(rows, minlength=n_users).astype(np.float64)
        n_i = np.bincount(cols, minlength=n_movies).astype(np.float64)
        lam_u, lam_i = self.config.user_damping, self.config.item_damping
        b_u = np.zeros(n_users)
        b_i = np.zeros(n_movies)
        for _ in range(self.config.iterations):
            # b_i = Σ_u (r - μ - b_u) / (n_i + λ_i)
            b_i = np.bincount(cols, weights=r - mu - b_u[rows], minlength=n_movies) / np.maximum(n_i + lam_i, 1e-12)
            # b_u = Σ_i (r - μ - b_i) / (n_u + λ_u)
            b_u = np.bincount(rows, weights=r - mu - b_i[cols], minlength=n_users) / np.maximum(n_u + lam_u, 1e-12)
        self.global_mean = mu
        self.user_bias, self.item_bias = b_u.astype(np.float32), b_i.astype(np.float32)
        return self

    def _fitted(self) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        if self.user_bias is None or self.item_bias is None:
            raise RuntimeError("BiasBaseline is not fitted")
        return self.user_bias, self.item_bias

    def raw(self, user_idx: npt.ArrayLike, item_idx: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """(n,) float64 μ + b_u + b_i, unclipped."""
        b_u, b_i = self._fitted()
        u = _check_indices(user_idx, len(b_u), "user")
        i = _check_indices(item_idx, len(b_i), "movie")
        return self.global_mean + b_u[u].astype(np.float64) + b_i[i]

    def predict(self, user_idx: npt.ArrayLike, item_idx: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """(n,) float32 predicted ratings for paired (n,) user and movie indices, in [0.5, 5.0]."""
        return np.clip(self.raw(user_idx, item_idx), RATING_MIN, RATING_MAX).astype(np.float32)


class SVDRatingModel:
    """Bias baseline plus a rank-k truncated SVD of its residuals."""

    def __init__(self, config: SVDConfig | None = None) -> None:
        self.config = config or SVDConfig()
        self.baseline = BiasBaseline(self.config.bias)
        self.user_factors: npt.NDArray[np.float32] | None = None  # (n_users, k) U_k S_k
        self.item_factors: npt.NDArray[np.float32] | None = None  # (n_movies, k) V_k

    @property
    def n_components(self) -> int:
        """The rank actually fitted (after the cap)."""
        return 0 if self.item_factors is None else self.item_factors.shape[1]

    def fit(self, ratings: sp.spmatrix) -> SVDRatingModel:
        """Fit on a (n_users, n_movies) CSR of ratings (0.5-5.0)."""
        n_users, n_movies = ratings.shape
        m = _canonical(ratings)
        rows, cols, r = _triples(m)
        self.baseline._fit(rows, cols, r, (n_users, n_movies))
        # E_ui = r_ui - (μ + b_u + b_i) on observed entries (the structure of m)
        resid = r - self.baseline.raw(rows, cols)
        e = sp.csr_matrix((resid, m.indices, m.indptr), shape=(n_users, n_movies))
        k = min(self.config.n_components, min(n_users, n_movies) - 1)
        if k < self.config.n_components:
            logger.info("n_components capped from %d to %d", self.config.n_components, k)
        if k < 1 or e.nnz == 0:
            self.user_factors = np.zeros((n_users, 0), dtype=np.float32)
            self.item_factors = np.zeros((n_movies, 0), dtype=np.float32)
            return self
        if self.config.solver == "randomized":
            c = self.config
            self.user_factors, _, self.item_factors = randomized_svd(e, k, c.oversample, c.power_iterations, c.seed)
            return self
        v0 = np.random.default_rng(self.config.seed).standard_normal(min(n_users, n_movies))
        # E ≈ U_k diag(s) V_kᵀ
        u, s, vt = svds(e, k=k, v0=v0)
        order = np.argsort(-s)
        self.user_factors = (u[:, order] * s[order]).astype(np.float32)
        self.item_factors = vt[order].T.astype(np.float32)
        return self

    def predict(self, user_idx: npt.ArrayLike, item_idx: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """(n,) float32 predicted ratings for paired (n,) user and movie indices, in [0.5, 5.0]."""
        if self.user_factors is None or self.item_factors is None:
            raise RuntimeError("SVDRatingModel is not fitted")
        u = _check_indices(user_idx, len(self.user_factors), "user")
        i = _check_indices(item_idx, len(self.item_factors), "movie")
        latent = np.empty(len(u), dtype=np.float64)
        for start in range(0, len(u), _PAIR_BLOCK):
            uu, ii = u[start : start + _PAIR_BLOCK], i[start : start + _PAIR_BLOCK]
            # (U S)_u · V_i
            latent[start : start + len(uu)] = np.einsum("nk,nk->n", self.user_factors[uu], self.item_factors[ii])
        # r̂ = μ + b_u + b_i + (U S)_u · V_i
        return np.clip(self.baseline.raw(u, i) + latent, RATING_MIN, RATING_MAX).astype(np.float32)
