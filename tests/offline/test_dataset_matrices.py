"""build_matrices against the plain COO construction, in every id regime."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from offline.dataset_matrices import build_matrices, stored_values
from offline.matrix import IdMap, interaction_matrix
from offline.preference import rating_to_preference, stored_value
from offline.split import TEST, TRAIN, VAL


def _ratings(seed: int, user_offset: int, shuffle: bool) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = 3000
    frame = pd.DataFrame(
        {
            "user_id": rng.integers(0, 200, n) * 7 + user_offset,
            "movie_id": rng.integers(0, 500, n) * 3 + 1,
            "rating": rng.integers(1, 11, n).astype(np.float32) / 2,
        }
    ).drop_duplicates(["user_id", "movie_id"])
    frame = frame.sample(frac=1.0, random_state=seed) if shuffle else frame.sort_values(["user_id", "movie_id"])
    frame = frame.reset_index(drop=True).assign(preference=lambda f: rating_to_preference(f["rating"].to_numpy()))
    return frame, rng.integers(0, 3, len(frame)).astype(np.int8)


@pytest.mark.parametrize("user_offset", [0, 2**40])  # lookup table / np.unique path
@pytest.mark.parametrize("shuffle", [False, True])
def test_matches_coo_construction(user_offset: int, shuffle: bool) -> None:
    ratings, split = _ratings(1, user_offset, shuffle)
    mats = build_matrices(ratings, split, alpha=15.0)
    users, movies = IdMap.from_values(ratings["user_id"]), IdMap.from_values(ratings["movie_id"])
    assert np.array_equal(mats.users.ids, users.ids) and np.array_equal(mats.movies.ids, movies.ids)
    ui, mi = users.index_of(ratings["user_id"]), movies.index_of(ratings["movie_id"])
    pref, rating = ratings["preference"].to_numpy(), ratings["rating"].to_numpy()
    shape = (len(users), len(movies))
    expected = {
        "confidence": (TRAIN, stored_value(pref, 15.0)),
        "train": (TRAIN, pref),
        "val": (VAL, pref),
        "test": (TEST, pref),
        "train_ratings": (TRAIN, rating),
    }
    for name, (code, values) in expected.items():
        m = split == code
        ref = interaction_matrix(ui[m], mi[m], values[m], shape)
        got = getattr(mats, name)
        assert got.dtype == np.float32 and got.has_canonical_format
        assert np.array_equal(got.indptr, ref.indptr) and np.array_equal(got.indices, ref.indices)
        assert np.array_equal(got.data, ref.data)
    assert mats.val_frame["user_index"].tolist() == ui[split == VAL].tolist()


def test_repeated_pair_is_summed_like_coo() -> None:
    ratings = pd.DataFrame({"user_id": [5, 5, 6], "movie_id": [9, 9, 9], "rating": [4.0, 5.0, 3.0]})
    ratings = ratings.assign(preference=rating_to_preference(ratings["rating"].to_numpy()))
    mats = build_matrices(ratings, np.zeros(3, dtype=np.int8), alpha=1.0)
    assert mats.train_ratings.toarray().tolist() == [[9.0], [3.0]]
    assert mats.train_ratings.nnz == 2


def test_stored_values_table_equals_the_formula() -> None:
    pref = np.array([-2, -1, 1, 2, 2, -1, 0], dtype=np.int8)
    # exact on purpose: the table holds the same elementwise float32 computation (no BLAS, no
    # reduction), so every entry is the identical IEEE result on any CPU
    for alpha in (15.0, 0.37, 1e-3):
        assert np.array_equal(stored_values(pref, alpha), stored_value(pref, alpha))
    for other in (np.array([0.5, -2.0, 1.0], np.float32), np.array([3, -1], np.int8), np.zeros(0, np.int8)):
        assert np.array_equal(stored_values(other, 15.0), stored_value(other, 15.0))


def test_seen_before_is_the_non_zero_pattern_of_the_sum() -> None:
    ratings, split = _ratings(2, 0, False)
    mats = build_matrices(ratings, split, alpha=15.0)
    for code, seen in ((VAL, mats.train), (TEST, mats.train + mats.val)):
        expected = (seen != 0).astype(np.float32).tocsr()
        got = mats.seen_before(code)
        assert got.dtype == np.float32 and (got != expected).nnz == 0 and got.nnz == expected.nnz
        assert not np.shares_memory(got.indices, mats.train.indices)
    # a stored zero is not seen (the comparison's rule), in either split
    train = mats.train.copy()
    train.data[:5] = 0
    with_zero = replace(mats, train=train)
    for code in (VAL, TEST):
        assert with_zero.seen_before(code).nnz == mats.seen_before(code).nnz - 5
