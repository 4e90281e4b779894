"""From a filtered, split ratings table to id maps and the matrices every model needs."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from offline.matrix import IdMap, interaction_matrix
from offline.preference import stored_value
from offline.split import TEST, TRAIN, VAL


@dataclass(frozen=True)
class SplitMatrices:
    """Everything indexed by contiguous user/movie indices; all CSR (n_users, n_movies).

    ``confidence``: train, sign(p)·(1 + α|p|) float32 (what ALS fits);
    ``train``/``val``/``test``: preferences (-2..+2) as float32;
    ``train_ratings``: raw train ratings (0.5-5.0) float32;
    ``val_frame``/``test_frame``: holdout rows with ``user_index``, ``movie_index``, ``rating``.
    """

    users: IdMap
    movies: IdMap
    confidence: sp.csr_matrix
    train: sp.csr_matrix
    val: sp.csr_matrix
    test: sp.csr_matrix
    train_ratings: sp.csr_matrix
    val_frame: pd.DataFrame
    test_frame: pd.DataFrame

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.users), len(self.movies))

    def seen_before(self, split: int) -> sp.csr_matrix:
        """Movies a user has seen before the given split starts (train; train + val for test)."""
        seen = self.train if split == VAL else self.train + self.val
        return (seen != 0).astype(np.float32).tocsr()


def build_matrices(ratings: pd.DataFrame, split: np.ndarray, alpha: float) -> SplitMatrices:
    """Id maps over the filtered ratings and the per-split matrices.

    Args:
        ratings: filtered rows with ``user_id``, ``movie_id``, ``rating``, ``preference``.
        split: (n,) int8 split codes aligned with ``ratings``.
        alpha: confidence slope.
    """
    users = IdMap.from_values(ratings["user_id"].to_numpy())
    movies = IdMap.from_values(ratings["movie_id"].to_numpy())
    ui = users.index_of(ratings["user_id"].to_numpy())
    mi = movies.index_of(ratings["movie_id"].to_numpy())
    pref = ratings["preference"].to_numpy()
    rating = ratings["rating"].to_numpy(dtype=np.float32)
    shape = (len(users), len(movies))

    def part(code: int, values: np.ndarray) -> sp.csr_matrix:
        m = split == code
        return interaction_matrix(ui[m], mi[m], values[m], shape)

    def frame(code: int) -> pd.DataFrame:
        m = split == code
        return pd.DataFrame({"user_index": ui[m], "movie_index": mi[m], "rating": rating[m], "preference": pref[m]})

    return SplitMatrices(
        users=users,
        movies=movies,
        confidence=part(TRAIN, stored_value(pref, alpha)),
        train=part(TRAIN, pref.astype(np.float32)),
        val=part(VAL, pref.astype(np.float32)),
        test=part(TEST, pref.astype(np.float32)),
        train_ratings=part(TRAIN, rating),
        val_frame=frame(VAL),
        test_frame=frame(TEST),
    )
