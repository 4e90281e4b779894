"""Row-group Parquet reads into numpy against Arrow's whole-table read, and the numpy path of
parse_column / the blockwise sortedness check of duplicate_mask against their plain versions."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from offline.data import _validate
from offline.data._parquet import read_numeric_columns
from offline.data._validate import duplicate_mask, parse_column
from offline.data.loaders import load_dataset

WANTED = {"userId": "user_id", "movieId": "movie_id", "rating": "rating", "timestamp": "timestamp"}
ParquetFactory = Callable[..., Path]


@pytest.fixture
def ratings_parquet(tmp_path: Path) -> ParquetFactory:
    """Factory: ``ratings_parquet(n, seed, row_group_size, **column overrides)`` -> ratings.parquet."""

    def make(n: int = 1000, seed: int = 0, row_group_size: int = 97, **columns: pa.Array) -> Path:
        rng = np.random.default_rng(seed)
        table = {
            "userId": pa.array(np.sort(rng.integers(1, 50, n)).astype(np.int32)),
            "movieId": pa.array(rng.integers(1, 400, n)),
            "rating": pa.array(rng.integers(1, 11, n) / 2.0),  # float64 in the file
            "timestamp": pa.array(rng.integers(0, 2**31, n)),
            **columns,
        }
        path = tmp_path / f"ratings-{seed}.parquet"
        pq.write_table(pa.table(table), path, row_group_size=row_group_size)
        return path

    return make


def test_row_groups_read_the_same_values_as_one_table(ratings_parquet: ParquetFactory) -> None:
    path = ratings_parquet()
    assert pq.ParquetFile(path).metadata.num_row_groups > 5
    got = read_numeric_columns(path, WANTED)
    assert got is not None
    columns, n = got
    table = pq.read_table(path)
    assert n == table.num_rows
    for src, dst in WANTED.items():
        expected = table.column(src).to_numpy()
        assert columns[dst].dtype == expected.dtype and np.array_equal(columns[dst], expected)


def test_other_columns_are_left_to_arrow(ratings_parquet: ParquetFactory) -> None:
    n = 1000
    with_null = pa.array([None] + list(range(1, n)), pa.int64())
    as_text = pa.array([str(i) for i in range(n)])
    big = pa.array(np.arange(n, dtype=np.uint64))
    for i, column in enumerate((with_null, as_text, big)):
        path = ratings_parquet(n, seed=i + 1, movieId=column)
        assert read_numeric_columns(path, WANTED) is None


def test_load_dataset_is_the_same_through_either_read(ratings_parquet: ParquetFactory, monkeypatch) -> None:
    path = ratings_parquet(3000, seed=4)
    fast = load_dataset(path)
    monkeypatch.setattr("offline.data.loaders.read_numeric_columns", lambda *a: None)
    plain = load_dataset(path)
    assert fast.ratings.equals(plain.ratings) and fast.ratings_report.as_dict() == plain.ratings_report.as_dict()


@pytest.mark.parametrize("kind", ["id", "rating", "timestamp"])
def test_parse_column_reads_numpy_like_arrow(kind: str) -> None:
    floats = np.array([3.0, -1.0, 2.5, np.nan, np.inf, 0.0, 7.0])
    ints = np.array([3, -1, 0, 2**40, 5], dtype=np.int64)
    for values in (floats, ints, ints.astype(np.int32), floats.astype(np.float32)):
        got = parse_column(values, kind, Path("x"), "c")
        expected = parse_column(pa.chunked_array([pa.array(values)]), kind, Path("x"), "c")
        ok = ~(expected[1] | expected[2])
        assert np.array_equal(got[1], expected[1]) and np.array_equal(got[2], expected[2])
        assert got[0].dtype == expected[0].dtype and np.array_equal(got[0][ok], expected[0][ok])


def test_sortedness_is_checked_across_block_edges(monkeypatch) -> None:
    monkeypatch.setattr(_validate, "_CHECK_BLOCK", 4)
    user = np.repeat(np.arange(5, dtype=np.int64), 3)
    movie = np.tile(np.arange(3, dtype=np.int64), 5)
    ts = np.arange(15, dtype=np.int64)
    assert duplicate_mask(user, movie, ts) is None
    for at in (3, 4, 7, 8, 14):  # a repeat of the previous row's pair, on and beside block edges
        m = movie.copy()
        m[at] = m[at - 1]
        u = user.copy()
        u[at] = u[at - 1]
        drop = duplicate_mask(u, m, ts)
        assert drop is not None and np.flatnonzero(drop).tolist() == [at - 1]
