"""Chronological per-user train/val/test split without leakage (pure numpy/pandas)."""
from __future__ import annotations

import numpy as np
import pandas as pd

TRAIN, VAL, TEST = 0, 1, 2
SPLIT_NAMES = ("train", "val", "test")


def chronological_split(
    ratings: pd.DataFrame, val_fraction: float = 0.1, test_fraction: float = 0.1
) -> pd.Series:
    """Assign each rating to train (0), val (1) or test (2) by its position in the user's
    own time line: the oldest ~80 % train, the next ~10 % val, the newest ~10 % test.

    Per user with n ratings: ``n_test = round(test_fraction * n)``,
    ``n_val = round(val_fraction * n)`` (each at least 1 when n >= 3), train the rest.
    Ratings with the same timestamp never straddle a boundary: a tied group goes wholly
    to the earlier split, so every train timestamp is strictly earlier than the user's
    val and test timestamps (ties are common: MovieLens users rate in bursts).

    Args:
        ratings: int64 ``user_id``, ``movie_id``, ``timestamp`` columns, any order.
    Returns:
        int8 Series aligned with ``ratings.index``.
    """
    users = ratings["user_id"].to_numpy()
    ts = ratings["timestamp"].to_numpy()
    movies = ratings["movie_id"].to_numpy()
    order = np.lexsort((movies, ts, users))  # by user, then time, then movie (deterministic)
    u, t = users[order], ts[order]
    n = len(u)
    starts = np.flatnonzero(np.r_[True, u[1:] != u[:-1]])
    counts = np.diff(np.r_[starts, n])
    pos = np.arange(n) - np.repeat(starts, counts)  # position within the user's time line
    n_each = np.repeat(counts, counts)
    n_test = np.rint(test_fraction * n_each).astype(np.int64)
    n_val = np.rint(val_fraction * n_each).astype(np.int64)
    small = n_each >= 3
    n_test = np.where(small, np.maximum(n_test, 1), 0)
    n_val = np.where(small, np.maximum(n_val, 1), 0)
    n_train = n_each - n_val - n_test
    split = np.where(pos < n_train, TRAIN, np.where(pos < n_train + n_val, VAL, TEST)).astype(np.int8)
    # A tied (user, timestamp) group takes the split of its first member (the earliest split).
    group_start = np.r_[True, (u[1:] != u[:-1]) | (t[1:] != t[:-1])]
    group_id = np.cumsum(group_start) - 1
    split = split[np.flatnonzero(group_start)][group_id]
    out = np.empty(n, dtype=np.int8)
    out[order] = split
    return pd.Series(out, index=ratings.index, name="split")
