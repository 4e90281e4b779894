"""From a filtered, split ratings table to id maps and the matrices every model needs."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from offline.matrix import IdMap
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


_MAX_TABLE_ID = 1 << 24  # ids below this are mapped through a lookup table, not a sort


def _index(values: np.ndarray) -> tuple[IdMap, np.ndarray]:
    """IdMap of the distinct ``values`` (n,) int64 and each value's index (n,), int32 when the
    ids fit (half the memory traffic of int64 in the gathers that follow), else int64.

    Small non-negative ids (every MovieLens release) go through a presence table and a
    lookup table, two O(n) passes; others through ``np.unique`` and a binary search.
    """
    if len(values) and values.min() >= 0 and values.max() < _MAX_TABLE_ID:
        present = np.zeros(int(values.max()) + 1, dtype=bool)
        present[values] = True
        ids = np.flatnonzero(present).astype(np.int64)
        lookup = np.empty(len(present), dtype=np.int32)
        lookup[ids] = np.arange(len(ids), dtype=np.int32)
        return IdMap(ids), lookup[values]
    ids = IdMap.from_values(values)
    return ids, ids.index_of(values)


def _csr(
    rows: np.ndarray, cols: np.ndarray, values: np.ndarray, shape: tuple[int, int], repeated: bool
) -> sp.csr_matrix:
    """CSR from (row, col) pairs sorted by row then column, float32 values.

    Equal to ``interaction_matrix`` (a repeated pair, flagged by ``repeated``, is summed;
    indices sorted) without the COO round trip: the row pointers are a binary search of
    the sorted rows.
    """
    index_dtype = np.int32 if max(len(cols), *shape) < 2**31 else np.int64
    indptr = np.searchsorted(rows, np.arange(shape[0] + 1), side="left").astype(index_dtype)
    m = sp.csr_matrix(
        (values.astype(np.float32, copy=False), cols.astype(index_dtype, copy=False), indptr), shape=shape, copy=False
    )
    if repeated:
        m.sum_duplicates()
    m.has_sorted_indices = True
    return m


def build_matrices(ratings: pd.DataFrame, split: np.ndarray, alpha: float) -> SplitMatrices:
    """Id maps over the filtered ratings and the per-split matrices.

    Args:
        ratings: filtered rows with ``user_id``, ``movie_id``, ``rating``, ``preference``.
        split: (n,) int8 split codes aligned with ``ratings``.
        alpha: confidence slope.
    """
    users, ui = _index(ratings["user_id"].to_numpy(dtype=np.int64))
    movies, mi = _index(ratings["movie_id"].to_numpy(dtype=np.int64))
    pref = ratings["preference"].to_numpy()
    rating = ratings["rating"].to_numpy(dtype=np.float32)
    shape = (len(users), len(movies))
    # One (user, movie) order for every matrix; MovieLens files already come in it.
    key = ui.astype(np.int64) * max(shape[1], 1) + mi
    order = None if np.all(key[1:] >= key[:-1]) else np.argsort(key, kind="stable")
    masks = {code: split == code for code in (TRAIN, VAL, TEST)}
    ordered = (lambda a: a) if order is None else (lambda a: a[order])
    ui_o, mi_o = ordered(ui), ordered(mi)
    pairs: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, bool]] = {}

    def part(code: int, values: np.ndarray) -> sp.csr_matrix:
        if code not in pairs:
            m = ordered(masks[code])
            rows, cols = ui_o[m], mi_o[m]
            repeated = len(rows) > 1 and bool(np.any((rows[1:] == rows[:-1]) & (cols[1:] == cols[:-1])))
            pairs[code] = (m, rows, cols, repeated)
        m, rows, cols, repeated = pairs[code]
        return _csr(rows, cols, ordered(values)[m], shape, repeated)

    def frame(code: int) -> pd.DataFrame:
        m = masks[code]
        return pd.DataFrame(
            {
                "user_index": ui[m].astype(np.int64),
                "movie_index": mi[m].astype(np.int64),
                "rating": rating[m],
                "preference": pref[m],
            }
        )

    pref32 = pref.astype(np.float32)
    return SplitMatrices(
        users=users,
        movies=movies,
        confidence=part(TRAIN, stored_value(pref, alpha)),
        train=part(TRAIN, pref32),
        val=part(VAL, pref32),
        test=part(TEST, pref32),
        train_ratings=part(TRAIN, rating),
        val_frame=frame(VAL),
        test_frame=frame(TEST),
    )
