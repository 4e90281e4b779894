"""From a filtered, split ratings table to id maps and the matrices every model needs."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
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
        """Movies a user has seen before the given split starts (train; train + val for test):
        (n_users, n_movies) float32 CSR holding 1 at every non-zero of that sum."""
        seen = self.train if split == VAL else self.train + self.val
        if not seen.data.all():  # a stored zero or a pair whose train and val values cancel
            return (seen != 0).astype(np.float32).tocsr()
        # the same matrix as the comparison above, without its two full copies
        ones = np.ones(seen.nnz, dtype=np.float32)
        return sp.csr_matrix((ones, seen.indices.copy(), seen.indptr.copy()), shape=seen.shape)


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


def stored_values(preference: npt.NDArray[np.generic], alpha: float) -> npt.NDArray[np.float32]:
    """``stored_value(preference, alpha)`` (n,) float32, through a table of its values at
    -2..+2 when ``preference`` is integer and within them (the int8 preference column): one
    gather instead of five float passes. Each entry is the same float32 computation either way."""
    p = np.asarray(preference)
    if p.dtype.kind not in "iu" or len(p) == 0 or p.min() < -2 or p.max() > 2:
        return stored_value(p, alpha)
    table = stored_value(np.arange(-2, 3, dtype=np.float32), alpha)
    return table[p.astype(np.intp) + 2]


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
    key = ui.astype(np.int64)
    key *= max(shape[1], 1)
    key += mi
    unique = bool(np.all(key[1:] > key[:-1]))  # sorted, and no pair twice: no part repeats a pair
    order = None if unique or np.all(key[1:] >= key[:-1]) else np.argsort(key, kind="stable")
    del key
    masks = {code: split == code for code in (TRAIN, VAL, TEST)}
    ordered = (lambda a: a) if order is None else (lambda a: a[order])
    ui_o, mi_o = ordered(ui), ordered(mi)
    pairs: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, bool]] = {}

    def of_split(code: int, values: np.ndarray) -> np.ndarray:
        """The entries of ``values`` (n,) (aligned with ``ratings``) in split ``code``, in matrix order."""
        if code not in pairs:
            m = ordered(masks[code])
            rows, cols = ui_o[m], mi_o[m]
            repeated = not unique and len(rows) > 1 and bool(
                np.any((rows[1:] == rows[:-1]) & (cols[1:] == cols[:-1])))
            pairs[code] = (m, rows, cols, repeated)
        return ordered(values)[pairs[code][0]]

    def part(code: int, values: np.ndarray, masked: bool = False) -> sp.csr_matrix:
        """CSR of split ``code`` with ``values`` (n,) aligned with ``ratings``, or (``masked``) the
        split's own values from ``of_split``."""
        split_values = values if masked else of_split(code, values)
        _, rows, cols, repeated = pairs[code]
        return _csr(rows, cols, split_values, shape, repeated)

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
    train_pref = of_split(TRAIN, pref)
    return SplitMatrices(
        users=users,
        movies=movies,
        confidence=part(TRAIN, stored_values(train_pref, alpha), masked=True),
        train=part(TRAIN, train_pref.astype(np.float32), masked=True),
        val=part(VAL, pref32),
        test=part(TEST, pref32),
        train_ratings=part(TRAIN, rating),
        val_frame=frame(VAL),
        test_frame=frame(TEST),
    )
