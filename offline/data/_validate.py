"""Arrow columns to validated numpy arrays; rating rows checked, counted and deduplicated.

Every reader in ``loaders`` hands its raw columns (typed or plain strings, from CSV,
``::``/tab files or Parquet) to :func:`clean_ratings` / :func:`parse_column`, so the
rules for dropping a row live in one place and count the same way for every layout.
"""
from __future__ import annotations

import csv
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from offline.data.errors import DataError
from offline.data.report import LoadReport

logger = logging.getLogger(__name__)

Kind = Literal["id", "rating", "timestamp"]
RATING_MIN, RATING_MAX = 0.5, 5.0
_INT_RE = r"^\d{1,18}$"  # what a cast to int64 accepts (no sign)
_FLOAT_RE = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
_UNITS_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


def csv_header(path: Path, delimiter: str = ",") -> list[str]:
    """Column names on the first line of a delimited text file (BOM and CR stripped)."""
    with path.open("rb") as fh:
        first = fh.readline(1 << 16)
    if not first.strip():
        raise DataError(path, "empty file: no header line")
    text = first.decode("utf-8-sig", errors="replace").rstrip("\r\n")
    return next(csv.reader([text], delimiter=delimiter))


def match_columns(found: Iterable[str], aliases: dict[str, tuple[str, ...]], path: Path) -> dict[str, str]:
    """Map file column names to contract names; DataError naming what was found if any is missing.

    Args:
        found: the file's column names, in file order.
        aliases: contract name -> accepted spellings (compared case-insensitively).

    Returns:
        file column name -> contract name, for every contract name in ``aliases``.
    """
    found = list(found)
    mapping: dict[str, str] = {}
    for dst, spellings in aliases.items():
        lowered = {s.lower() for s in spellings}
        match = next((name for name in found if name.strip().lower() in lowered), None)
        if match is not None:
            mapping[match] = dst
    if len(mapping) < len(aliases):
        expected = ",".join(spellings[0] for spellings in aliases.values())
        raise DataError(path, f"expected columns {expected}; found {','.join(found) or 'none'}")
    return mapping


def _bool(arr: pa.ChunkedArray | pa.Array) -> npt.NDArray[np.bool_]:
    """Arrow boolean (nulls read as False) to a numpy bool array."""
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)


def _numpy(col: pa.ChunkedArray, to: pa.DataType, fill: float) -> np.ndarray:
    """``col`` cast to ``to`` (nulls set to ``fill``) as one numpy array; skips no-op steps."""
    if col.type != to:
        col = col.cast(to)
    if col.null_count:
        col = pc.fill_null(col, pa.scalar(fill).cast(to))
    return col.to_numpy()


def _parse_strings(col: pa.ChunkedArray, kind: Kind) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Plain-text column: trimmed, matched by regex, cast only where the text is valid."""
    text = pc.utf8_trim_whitespace(col)
    missing = _bool(pc.is_null(text)) | _bool(pc.equal(text, ""))
    is_int = pc.fill_null(pc.match_substring_regex(text, _INT_RE), False)
    if kind == "id":
        values = pc.if_else(is_int, text, "0").cast(pa.int64()).to_numpy()
        return values, missing, ~missing & ~_bool(is_int)
    is_float = pc.fill_null(pc.match_substring_regex(text, _FLOAT_RE), False)
    floats = pc.if_else(is_float, text, "nan").cast(pa.float64()).to_numpy()
    ok = _bool(is_float)
    if kind == "rating":
        return floats.astype(np.float32), missing, ~missing & ~ok
    # timestamp: unix seconds (integer or float), else an ISO-8601 date/time string
    values = np.zeros(len(floats), dtype=np.int64)
    values[ok] = np.floor(floats[ok]).astype(np.int64)
    ints = _bool(is_int)
    values[ints] = pc.if_else(is_int, text, "0").cast(pa.int64()).to_numpy()[ints]
    rest = np.flatnonzero(~missing & ~ok)
    if rest.size:
        raw = pd.Series(pc.take(text, pa.array(rest)).to_pylist(), dtype=object)
        parsed = pd.to_datetime(raw, format="ISO8601", utc=True, errors="coerce")
        good = parsed.notna().to_numpy()
        seconds = (parsed[good] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
        values[rest[good]] = seconds.to_numpy(dtype=np.int64)
        ok[rest[good]] = True
    return values, missing, ~missing & ~ok


def parse_column(col: pa.ChunkedArray | np.ndarray, kind: Kind, path: Path, name: str) -> tuple[
    np.ndarray, npt.NDArray[np.bool_], npt.NDArray[np.bool_]
]:
    """One raw column to ``(values, missing, invalid)``, each of shape (n,).

    ``values`` is int64 for ids and timestamps (unix seconds), float32 for ratings; its
    entries are meaningless where ``missing`` (null/empty) or ``invalid`` (unparseable,
    or an id that is not a non-negative integer) is True. Accepts integer, floating,
    decimal, string, dictionary, timestamp and date columns, and (n,) integer or floating
    numpy arrays (no nulls: what ``offline.data._parquet`` reads), checked by the same rules.
    """
    if isinstance(col, np.ndarray):
        return _parse_numpy(col, kind)
    t = col.type
    if pa.types.is_dictionary(t):
        return parse_column(col.cast(t.value_type), kind, path, name)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return _parse_strings(col, kind)
    n = len(col)
    missing = _bool(pc.is_null(col)) if col.null_count else np.zeros(n, dtype=bool)
    if pa.types.is_integer(t):
        return _from_integers(_numpy(col, pa.int64(), 0), missing, kind)
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return _from_floats(_numpy(col, pa.float32() if kind == "rating" else pa.float64(), np.nan), missing, kind)
    if kind == "timestamp" and (pa.types.is_timestamp(t) or pa.types.is_date(t)):
        if pa.types.is_date(t):
            col, t = col.cast(pa.timestamp("s")), pa.timestamp("s")
        raw = _numpy(col, pa.int64(), 0)
        return raw // _UNITS_PER_SECOND[t.unit], missing, np.zeros(n, dtype=bool)
    raise DataError(path, f"column {name!r} has unsupported type {t} for a {kind}")


def _parse_numpy(col: np.ndarray, kind: Kind) -> tuple[np.ndarray, npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """``parse_column`` of an (n,) integer or floating numpy column without nulls."""
    missing = np.zeros(len(col), dtype=bool)
    if col.dtype.kind in "iu":
        return _from_integers(col.astype(np.int64, copy=False), missing, kind)
    return _from_floats(col.astype(np.float32 if kind == "rating" else np.float64, copy=False), missing, kind)


def _from_integers(values: npt.NDArray[np.int64], missing: npt.NDArray[np.bool_],
                   kind: Kind) -> tuple[np.ndarray, npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """(values, missing, invalid) of an (n,) int64 column (missing entries hold 0): ratings as
    float32, a negative id invalid."""
    invalid = (values < 0) & ~missing if kind == "id" else np.zeros(len(values), dtype=bool)
    return (values.astype(np.float32) if kind == "rating" else values), missing, invalid


def _from_floats(floats: npt.NDArray[np.floating], missing: npt.NDArray[np.bool_],
                 kind: Kind) -> tuple[np.ndarray, npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """(values, missing, invalid) of an (n,) floating column (NaN counts as missing): ratings
    as they are; ids and timestamps floored to int64, a non-finite one invalid, an id also
    when fractional or negative."""
    missing = missing | np.isnan(floats)
    if kind == "rating":
        return floats, missing, np.zeros(len(floats), dtype=bool)
    finite = np.isfinite(floats)
    values = np.where(finite, np.floor(floats), 0).astype(np.int64)
    invalid = ~missing & ~finite
    if kind == "id":
        invalid |= finite & ((floats != values) | (floats < 0))
    return values, missing, invalid


_CHECK_BLOCK = 1 << 20  # rows per block of the sortedness check (its arrays stay in cache)


def _keys_increasing(user: npt.NDArray[np.int64], movie: npt.NDArray[np.int64], width: int) -> bool:
    """Whether key = user * width + movie (n,) rises strictly from row to row, checked block by
    block (the one O(n) pass of sorted unique input, without an (n,) key array)."""
    n = len(user)
    for start in range(0, n - 1, _CHECK_BLOCK):
        end = min(start + _CHECK_BLOCK + 1, n)  # one row of overlap with the next block
        key = user[start:end] * width
        key += movie[start:end]
        if not bool(np.all(key[1:] > key[:-1])):
            return False
    return True


def duplicate_mask(
    user: npt.NDArray[np.int64], movie: npt.NDArray[np.int64], timestamp: npt.NDArray[np.int64]
) -> npt.NDArray[np.bool_] | None:
    """Rows to drop so each (user, movie) keeps its latest-timestamp row; None if no duplicates.

    Ties on the timestamp keep the row that comes later in the file. Sorted unique input
    (MovieLens order: user, then movie) is recognised in one O(n) pass.
    """
    n = len(user)
    if n < 2:
        return None
    width = int(movie.max()) + 1
    packable = int(user.max()) < np.iinfo(np.int64).max // width
    if packable and _keys_increasing(user, movie, width):
        return None
    if packable:
        key = user * width + movie
    else:  # ids too large to pack in one int64: pack their ranks instead
        movie_rank = np.unique(movie, return_inverse=True)[1].astype(np.int64)
        key = np.unique(user, return_inverse=True)[1].astype(np.int64) * (int(movie_rank.max()) + 1) + movie_rank
    if bool(np.all(key[1:] > key[:-1])):
        return None
    order = np.lexsort((timestamp, key))  # by key, then timestamp; stable
    sorted_key = key[order]
    superseded = np.zeros(n, dtype=bool)
    superseded[:-1] = sorted_key[1:] == sorted_key[:-1]
    if not superseded.any():
        return None
    drop = np.zeros(n, dtype=bool)
    drop[order[superseded]] = True
    return drop


def clean_ratings(
    columns: dict[str, pa.ChunkedArray | np.ndarray], path: Path, report: LoadReport
) -> pd.DataFrame:
    """Validate raw rating columns, drop and count bad rows, dedupe; the contract DataFrame.

    Args:
        columns: ``user_id``, ``movie_id``, ``rating``, ``timestamp`` raw Arrow columns of
            equal length n (any type :func:`parse_column` accepts, or numpy arrays); emptied on return.
        path: the source file, for error messages.
        report: updated in place (``dropped`` by reason, ``rows_kept``); ``rows_read``
            must already count the malformed lines the parser skipped.

    Returns:
        DataFrame (n_kept rows): user_id int64, movie_id int64, rating float32,
        timestamp int64 (unix seconds), in file order.
    """
    # pop: each Arrow column is freed as soon as its numpy copy exists (peak memory)
    user, user_missing, user_invalid = parse_column(columns.pop("user_id"), "id", path, "user_id")
    movie, movie_missing, movie_invalid = parse_column(columns.pop("movie_id"), "id", path, "movie_id")
    rating, rating_missing, rating_invalid = parse_column(columns.pop("rating"), "rating", path, "rating")
    ts, ts_missing, ts_invalid = parse_column(columns.pop("timestamp"), "timestamp", path, "timestamp")

    with np.errstate(invalid="ignore"):
        out_of_range = ~((rating >= RATING_MIN) & (rating <= RATING_MAX))
    checks = (
        ("missing_id", user_missing | movie_missing),
        ("invalid_id", user_invalid | movie_invalid),
        ("missing_rating", rating_missing),
        ("non_numeric_rating", rating_invalid),
        ("rating_out_of_range", out_of_range),
        ("unparseable_timestamp", ts_missing | ts_invalid),
    )
    bad = np.zeros(len(user), dtype=bool)
    for reason, mask in checks:
        if not mask.any():  # the usual case: no pass over the rows beyond this one
            report.drop(reason, 0)
            continue
        report.drop(reason, int(np.count_nonzero(mask & ~bad)))
        bad |= mask
    if bad.any():
        keep = ~bad
        user, movie, rating, ts = user[keep], movie[keep], rating[keep], ts[keep]

    dup = duplicate_mask(user, movie, ts) if len(user) else None
    if dup is not None:
        report.drop("duplicate", int(np.count_nonzero(dup)))
        keep = ~dup
        user, movie, rating, ts = user[keep], movie[keep], rating[keep], ts[keep]

    report.rows_kept = len(user)
    if report.rows_dropped:
        logger.warning("%s: dropped %d of %d rows %s", path, report.rows_dropped, report.rows_read, report.dropped)
    # Arrow's zero-copy arrays are read-only; np.require copies only those (small files).
    data = {
        "user_id": np.require(user, np.int64, ["C", "W"]),
        "movie_id": np.require(movie, np.int64, ["C", "W"]),
        "rating": np.require(rating, np.float32, ["C", "W"]),
        "timestamp": np.require(ts, np.int64, ["C", "W"]),
    }
    return pd.DataFrame(data, copy=False)
