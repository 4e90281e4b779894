"""Content-based baseline on genres and release year (pure numpy/scipy).

Item features F (n_movies, n_genres + 1) float32 = [genre multi-hot | year_weight · y],
y = (year - min) / (max - min) over the catalogue, a missing year taking the mean y.

* cosine: sim(a, b) = a·b / (|a| |b|) on F (0 for an all-zero vector);
* jaccard: |A ∩ B| / |A ∪ B| on the binary genre part only (the year is ignored; 0 when
  both movies have no genre).

A user's score for movie j: cosine to the profile u = Σ_i p_ui F_i / Σ_i |p_ui| (liked train
movies add, disliked ones subtract); Jaccard: Σ_i p_ui J(i, j) / Σ_i |p_ui|, computed over the
few distinct genre combinations so no (n_movies, n_movies) matrix is ever built.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from offline.scoring import top_n

ContentSimilarity = Literal["cosine", "jaccard"]
_USER_BLOCK = 256  # users scored at once: a (block, n_movies) float32 array, selected while in cache
_PATTERN_BLOCK = 1024  # genre combinations per Jaccard block


class ContentConfig(BaseModel):
    """Hyperparameters of the content baseline."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    year_weight: float = Field(0.1, ge=0, description="Weight of the [0, 1]-scaled year beside unit genre entries.")
    similarity: ContentSimilarity = Field("cosine", description="Similarity used by default: cosine or jaccard.")


class ContentModel:
    """Movie-to-movie and user-to-movie similarity on genres and year."""

    def __init__(self, config: ContentConfig | None = None) -> None:
        self.config = config or ContentConfig()
        self.features: npt.NDArray[np.float32] | None = None  # (n_movies, n_genres + 1)
        self._unit = np.zeros((0, 0), dtype=np.float32)  # features / row norms
        self._genres = np.zeros((0, 0), dtype=np.float32)  # binary genre part
        self._patterns = np.zeros((0, 0), dtype=np.float32)  # (n_combinations, n_genres) distinct rows
        self._pattern_of = np.zeros(0, dtype=np.int64)  # (n_movies,) row of each movie's combination

    def fit(
        self, item_genres: npt.NDArray[np.floating] | sp.spmatrix, years: npt.ArrayLike | None = None
    ) -> ContentModel:
        """Build the features.

        Args:
            item_genres: (n_movies, n_genres) multi-hot.
            years: (n_movies,) release years, NaN where unknown; None = all unknown.
        """
        g = item_genres.toarray() if sp.issparse(item_genres) else np.asarray(item_genres)
        g = (g != 0).astype(np.float32)
        y = np.full(len(g), np.nan) if years is None else np.asarray(years, dtype=np.float64)
        known = ~np.isnan(y)
        lo, hi = (y[known].min(), y[known].max()) if known.any() else (0.0, 0.0)
        # y01 = (year - min) / (max - min); 0 when all years are equal
        y01 = np.where(known, (y - lo) / (hi - lo) if hi > lo else 0.0, np.nan)
        y01 = np.where(known, y01, y01[known].mean() if known.any() else 0.0)
        self.features = np.hstack([g, (self.config.year_weight * y01)[:, None]]).astype(np.float32)
        norm = np.linalg.norm(self.features, axis=1, keepdims=True)
        self._unit = (self.features / np.where(norm > 0, norm, 1.0)).astype(np.float32)
        self._genres = g
        self._patterns, self._pattern_of = np.unique(g, axis=0, return_inverse=True)
        self._pattern_of = self._pattern_of.ravel().astype(np.int64)
        return self

    @property
    def n_movies(self) -> int:
        return len(self._fitted())

    def _fitted(self) -> npt.NDArray[np.float32]:
        if self.features is None:
            raise RuntimeError("ContentModel is not fitted")
        return self.features

    def _method(self, method: ContentSimilarity | None) -> ContentSimilarity:
        method = method or self.config.similarity
        if method not in ("cosine", "jaccard"):
            raise ValueError(f"unknown similarity {method!r}")
        return method

    def similarity_to(self, movie_index: int, method: ContentSimilarity | None = None) -> npt.NDArray[np.float32]:
        """(n_movies,) float32 similarity of every movie to ``movie_index`` (itself included)."""
        self._fitted()
        if self._method(method) == "cosine":
            # cos_j = F̂_j · F̂_i
            return self._unit @ self._unit[movie_index]
        g = self._genres
        # J_j = |g_j ∩ g_i| / (|g_j| + |g_i| - |g_j ∩ g_i|)
        inter = g @ g[movie_index]
        union = g.sum(axis=1) + g[movie_index].sum() - inter
        return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)

    def similar_movies(
        self, movie_index: int, n: int, method: ContentSimilarity | None = None
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """The n movies most similar to ``movie_index``, excluding itself.

        Returns:
            indices (n,) int64 and similarities (n,) float32, best first; -1 / -inf padding.
        """
        scores = self.similarity_to(movie_index, method).astype(np.float32)[None, :]
        scores[0, movie_index] = -np.inf
        idx, val = top_n(scores, n)
        return idx[0], val[0]

    def score_users(
        self, user_indices: npt.NDArray[np.int64], train_csr: sp.csr_matrix, method: ContentSimilarity | None = None
    ) -> npt.NDArray[np.float32]:
        """(b, n_movies) float32 similarity of each movie to each user's train profile.

        Args:
            user_indices: (b,) int64 rows of ``train_csr``.
            train_csr: (n_users, n_movies) CSR of preferences (-2, -1, +1, +2).
        A user without train movies scores 0 everywhere.
        """
        self._fitted()
        x = sp.csr_matrix(train_csr)[np.asarray(user_indices, dtype=np.int64)].astype(np.float32)
        # Σ_i |p_ui|, 1 for an empty row
        mass = np.asarray(abs(x).sum(axis=1), dtype=np.float32).ravel()
        mass = np.where(mass > 0, mass, 1.0).astype(np.float32)
        if self._method(method) == "cosine":
            # u = Σ_i p_ui F_i / Σ_i |p_ui|; score_j = û · F̂_j
            profile = np.asarray(x @ self.features) / mass[:, None]
            norm = np.linalg.norm(profile, axis=1, keepdims=True)
            profile = profile / np.where(norm > 0, norm, 1.0)
            return (profile @ self._unit.T).astype(np.float32, copy=False)
        return self._jaccard_scores(x, mass)

    def _jaccard_scores(self, x: sp.csr_matrix, mass: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """score_uj = Σ_i p_ui J(i, j) / Σ_i |p_ui|, grouped by genre combination."""
        pats, of = self._patterns, self._pattern_of
        n_pat = len(pats)
        onehot = sp.csr_matrix((np.ones(len(of), np.float32), (np.arange(len(of)), of)), shape=(len(of), n_pat))
        # W_uq = Σ_{i in combination q} p_ui / Σ_i |p_ui|
        w = np.asarray((x @ onehot).todense(), dtype=np.float32) / mass[:, None]
        size = pats.sum(axis=1)
        per_pattern = np.empty((x.shape[0], n_pat), dtype=np.float32)
        for start in range(0, n_pat, _PATTERN_BLOCK):
            block = pats[start : start + _PATTERN_BLOCK]
            inter = pats @ block.T  # (n_pat, block)
            union = size[:, None] + block.sum(axis=1)[None, :] - inter
            jac = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
            per_pattern[:, start : start + len(block)] = w @ jac
        return per_pattern[:, of]

    def recommend(
        self,
        user_indices: npt.NDArray[np.int64],
        n: int,
        train_csr: sp.csr_matrix,
        exclude_csr: sp.csr_matrix | None = None,
        method: ContentSimilarity | None = None,
    ) -> npt.NDArray[np.int64]:
        """Top-n movies by ``score_users``, in blocks of users.

        Args:
            user_indices: (b,) int64.
            n: list length.
            train_csr: (n_users, n_movies) CSR of preferences, builds the profiles.
            exclude_csr: (n_users, n_movies) CSR of movies never to return; pass ``train_csr``
                to leave out seen movies (None excludes nothing).
        Returns:
            (b, n) int64, best first; -1 padding.
        """
        users = np.asarray(user_indices, dtype=np.int64)
        ex = sp.csr_matrix(exclude_csr) if exclude_csr is not None else None
        out = np.full((len(users), n), -1, dtype=np.int64)
        for start in range(0, len(users), _USER_BLOCK):
            block = users[start : start + _USER_BLOCK]
            scores = self.score_users(block, train_csr, method)
            idx, _ = top_n(scores, n, ex[block] if ex is not None else None)
            out[start : start + len(block), : idx.shape[1]] = idx
        return out
