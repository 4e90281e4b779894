"""Chronological per-user train/val/test split without leakage (pure numpy/pandas)."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

TRAIN, VAL, TEST = 0, 1, 2
SPLIT_NAMES = ("train", "val", "test")


def time_line_order(users: np.ndarray, timestamps: np.ndarray) -> np.ndarray:
    """(n,) int64 permutation sorting by user, then timestamp (stable: ties keep row order).

    One stable argsort of the int64 key (user - min) * span + (timestamp - min) when it
    fits, which is several times faster than a two-key ``np.lexsort`` (timsort also profits
    from files already sorted by user); the lexsort otherwise.
    """
    if len(users) == 0:
        return np.zeros(0, dtype=np.int64)
    u0, t0 = int(users.min()), int(timestamps.min())
    span = int(timestamps.max()) - t0 + 1
    if (int(users.max()) - u0 + 1) * span >= 2**63:
        return np.lexsort((timestamps, users))
    key = users.astype(np.int64)  # a copy: the in-place steps below never touch the input
    key -= u0
    key *= span
    key += timestamps
    key -= t0
    return np.argsort(key, kind="stable")


def chronological_split(
    ratings: pd.DataFrame, val_fraction: float = 0.1, test_fraction: float = 0.1
) -> pd.Series:
    """Assign each rating to train (0), val (1) or test (2) by its position in the user's
    own time line: the oldest ~80 % train, the next ~10 % val, the newest ~10 % test.

    Per user with n ratings: ``n_test = round(test_fraction * n)``,
    ``n_val = round(val_fraction * n)`` (each at least 1 when n >= 3), train the rest.
    Ratings with the same timestamp never straddle a boundary: a tied group goes wholly
    to the earlier split, so every train timestamp is strictly earlier than the user's
    val and test timestamps (ties are common: MovieLens users rate in bursts). A tied
    group's split depends only on how many of the user's ratings are older, so the order
    within the group does not matter.

    Args:
        ratings: int64 ``user_id``, ``movie_id``, ``timestamp`` columns, any order.
    Returns:
        int8 Series aligned with ``ratings.index``.
    """
    if len(ratings) == 0:
        return pd.Series(np.zeros(0, dtype=np.int8), index=ratings.index, name="split")
    users = ratings["user_id"].to_numpy()
    ts = ratings["timestamp"].to_numpy()
    out = np.empty(len(users), dtype=np.int8)
    blocks = user_blocks(users, os.cpu_count() or 1)
    if len(blocks) == 1:
        _split_codes(users, ts, val_fraction, test_fraction, out)
    else:  # users are independent: one block of whole users per core (numpy releases the GIL)
        with ThreadPoolExecutor(len(blocks), thread_name_prefix="split") as pool:
            list(pool.map(lambda b: _split_codes(users[b], ts[b], val_fraction, test_fraction, out[b]), blocks))
    return pd.Series(out, index=ratings.index, name="split")


_MIN_BLOCK_ROWS = 1 << 20  # smaller tables are split on one thread


def user_blocks(users: np.ndarray, n_blocks: int) -> list[slice]:
    """At most ``n_blocks`` row ranges covering (n,) ``users`` with no user in two of them, when
    the users come sorted (MovieLens order); one range otherwise or for small tables."""
    n = len(users)
    n_blocks = min(n_blocks, n // _MIN_BLOCK_ROWS)
    if n_blocks < 2 or not bool(np.all(users[1:] >= users[:-1])):
        return [slice(0, n)]
    cuts = [int(np.searchsorted(users, users[n * i // n_blocks], side="left")) for i in range(1, n_blocks)]
    edges = sorted({0, n, *cuts})
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]


def _split_codes(users: np.ndarray, ts: np.ndarray, val_fraction: float, test_fraction: float,
                 out: np.ndarray) -> None:
    """Write the split code of each of the (n,) rows into ``out`` (n,) int8 (``chronological_split``
    of whole users)."""
    order = time_line_order(users, ts)
    u, t = users[order], ts[order]
    n = len(u)
    new_user = np.r_[True, u[1:] != u[:-1]]
    starts = np.flatnonzero(new_user)
    counts = np.diff(np.r_[starts, n])  # ratings per user, users in time-line order
    n_test = np.rint(test_fraction * counts).astype(np.int64)
    n_val = np.rint(val_fraction * counts).astype(np.int64)
    small = counts >= 3
    n_test = np.where(small, np.maximum(n_test, 1), 0)
    n_val = np.where(small, np.maximum(n_val, 1), 0)
    n_train = counts - n_val - n_test
    # Row i of a user whose time line starts at row s: train below s + n_train, val below
    # s + n_train + n_val, test after (TRAIN, VAL, TEST = 0, 1, 2). int32 row numbers when
    # they fit: these arrays are as long as the ratings.
    index = np.int32 if n < 2**31 else np.int64
    row = np.arange(n, dtype=index)
    split = (row >= np.repeat((starts + n_train).astype(index), counts)).astype(np.int8)
    split += row >= np.repeat((starts + n_train + n_val).astype(index), counts)
    del row
    # A tied (user, timestamp) group takes the split of its first member (the earliest split).
    group_start = new_user
    group_start[1:] |= t[1:] != t[:-1]
    group_id = np.cumsum(group_start, dtype=index)
    group_id -= 1
    split = split[np.flatnonzero(group_start)][group_id]
    out[order] = split
