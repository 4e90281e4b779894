"""Find and read a MovieLens-shaped dataset, whatever its published layout.

Layouts (``detect_layout`` names): ``ml-latest`` (ratings.csv + movies.csv: ml-latest,
ml-latest-small, ml-20m, ml-25m), ``ml-1m`` / ``ml-10m`` (``::``-separated .dat files),
``ml-100k`` (u.data + u.item) and ``parquet`` (an interactions file, movies optional).
Clean CSV and .dat files take the fast path, a typed ``pyarrow.csv`` read; only when that
fails are they re-read as text and checked row by row (still vectorised).
"""
from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from offline.data import _movie_files as movie_files
from offline.data._parquet import read_numeric_columns
from offline.data._validate import clean_ratings, csv_header, match_columns
from offline.data.errors import DataError
from offline.data.report import LoadReport

logger = logging.getLogger(__name__)

RATING_ALIASES: dict[str, tuple[str, ...]] = {
    "user_id": ("userId", "user_id", "userid", "user"),
    "movie_id": ("movieId", "movie_id", "movieid", "item_id", "itemId", "item"),
    "rating": ("rating",),
    "timestamp": ("timestamp", "ts", "time"),
}
_FAST_TYPES = {"user_id": pa.int64(), "movie_id": pa.int64(), "rating": pa.float32(), "timestamp": pa.int64()}
_DAT_DELIMITER = "\x1f"  # pyarrow wants a one-byte delimiter; "::" is rewritten to this
_BLOCK_SIZE = 16 << 20
_FAILED_COLUMN = re.compile(r"CSV column #(\d+)")  # pyarrow's conversion error names the column


@dataclass(frozen=True, eq=False)
class Dataset:
    """A loaded dataset in the column contract of :mod:`offline.data`.

    Attributes:
        ratings: n_ratings rows; user_id int64, movie_id int64, rating float32,
            timestamp int64 (unix seconds); one row per (user, movie).
        movies: n_movies rows; movie_id int64 (unique), title str, genres str.
        ratings_report: counts for the ratings file.
        movies_report: counts for the movies file (generated titles: ``notes``).
        layout: the layout :func:`detect_layout` found.
    """

    ratings: pd.DataFrame
    movies: pd.DataFrame
    ratings_report: LoadReport
    movies_report: LoadReport
    layout: str


@dataclass(frozen=True)
class _Files:
    layout: str
    ratings: Path
    movies: Path | None


def _dat_layout(folder: Path) -> str:
    return "ml-1m" if (folder / "users.dat").exists() else "ml-10m"


def _parquet_movies(folder: Path) -> Path | None:
    for name in ("movies.parquet", "movies.csv"):
        if (folder / name).is_file():
            return folder / name
    return None


def _locate(path: Path) -> _Files:
    """The layout and the two files to read under ``path`` (a directory or ratings file)."""
    path = Path(path)
    if not path.exists():
        raise DataError(path, "no such file or directory")
    if path.is_dir():
        folder = path
        if (path / "ratings.csv").is_file():
            files = _Files("ml-latest", path / "ratings.csv", path / "movies.csv")
        elif (path / "ratings.dat").is_file():
            files = _Files(_dat_layout(path), path / "ratings.dat", path / "movies.dat")
        elif (path / "u.data").is_file():
            files = _Files("ml-100k", path / "u.data", path / "u.item")
        else:
            parquet = [p for p in sorted(path.glob("*.parquet")) if p.name != "movies.parquet"]
            preferred = [p for p in parquet if p.stem in ("ratings", "interactions")]
            if not (preferred or len(parquet) == 1):
                found = ", ".join(sorted(p.name for p in path.iterdir())[:12]) or "nothing"
                raise DataError(path, f"no known MovieLens layout; found: {found}")
            return _Files("parquet", (preferred or parquet)[0], _parquet_movies(path))
    else:
        folder = path.parent
        if path.name == "u.data":
            files = _Files("ml-100k", path, folder / "u.item")
        elif path.suffix == ".dat":
            files = _Files(_dat_layout(folder), path, folder / "movies.dat")
        elif path.suffix == ".csv":
            files = _Files("ml-latest", path, folder / "movies.csv")
        elif path.suffix in (".parquet", ".pq"):
            return _Files("parquet", path, _parquet_movies(folder))
        else:
            raise DataError(path, "unknown ratings file type (want .csv, .dat, u.data or .parquet)")
    if files.movies is None or not files.movies.is_file():
        raise DataError(files.movies or folder, f"movies file missing for layout {files.layout}")
    return files


def detect_layout(path: Path) -> str:
    """Name the layout at ``path``: ml-latest, ml-1m, ml-10m, ml-100k or parquet.

    Raises:
        DataError: ``path`` is missing, holds no known layout, or lacks its movies file.
    """
    return _locate(path).layout


def _read_delimited(
    source: Path | io.BytesIO, path: Path, *, delimiter: str, columns: list[str], header: bool,
    wanted: dict[str, str], report: LoadReport, quoting: bool = True,
) -> dict[str, pa.ChunkedArray]:
    """Read ``wanted`` (file column -> contract name) from a delimited file.

    First a typed read (int64/float32). A conversion error names the failing column; that
    column alone is re-read as text (all of them if the message is not understood) for
    :func:`clean_ratings` to check row by row. Lines with the wrong number of fields are
    skipped and counted in ``report`` (as are the rows read).

    Args:
        columns: the file's column names in order (its header, or the names to give it).
        header: whether the first line is a header (else ``columns`` names the fields).

    Returns:
        The wanted columns by contract name.
    """
    skipped: list[int] = []

    def on_invalid_row(row: object) -> str:
        skipped.append(1)  # list.append is atomic; the parser may call from threads
        return "skip"

    read = pacsv.ReadOptions(column_names=None if header else columns, block_size=_BLOCK_SIZE)
    parse = pacsv.ParseOptions(
        delimiter=delimiter, quote_char='"' if quoting else False, invalid_row_handler=on_invalid_row
    )
    types = {src: _FAST_TYPES[dst] for src, dst in wanted.items()}
    while True:
        skipped.clear()
        if isinstance(source, io.BytesIO):
            source.seek(0)
        convert = pacsv.ConvertOptions(column_types=types, include_columns=list(wanted))
        try:
            table = pacsv.read_csv(source, read_options=read, parse_options=parse, convert_options=convert)
            break
        except pa.ArrowInvalid as exc:
            if all(t == pa.string() for t in types.values()):
                raise DataError(path, f"cannot parse: {exc}") from exc
            found = _FAILED_COLUMN.search(str(exc))
            index = int(found[1]) if found else -1
            failed = columns[index] if 0 <= index < len(columns) else None
            if failed in types and types[failed] != pa.string():
                types[failed] = pa.string()
            else:
                types = {src: pa.string() for src in wanted}
            logger.info("%s: typed parse failed (%s); re-reading %s as text", path, exc, failed or "all columns")
    report.rows_read = table.num_rows + len(skipped)
    report.drop("malformed_line", len(skipped))
    return {dst: table.column(src) for src, dst in wanted.items()}


def _read_ratings(files: _Files) -> tuple[pd.DataFrame, LoadReport]:
    """The ratings file of ``files`` through its layout's reader, then :func:`clean_ratings`."""
    path = files.ratings
    report = LoadReport(path=str(path), layout=files.layout)
    identity = {name: name for name in _FAST_TYPES}
    columns: dict[str, pa.ChunkedArray | np.ndarray]
    if files.layout == "ml-latest":
        header = csv_header(path)
        wanted = match_columns(header, RATING_ALIASES, path)
        columns = _read_delimited(
            path, path, delimiter=",", columns=header, header=True, wanted=wanted, report=report
        )
    elif files.layout in ("ml-1m", "ml-10m"):
        data = io.BytesIO(path.read_bytes().replace(b"::", _DAT_DELIMITER.encode()))
        columns = _read_delimited(
            data, path, delimiter=_DAT_DELIMITER, columns=list(identity), header=False, wanted=identity,
            report=report, quoting=False,
        )
        del data
    elif files.layout == "ml-100k":
        columns = _read_delimited(
            path, path, delimiter="\t", columns=list(identity), header=False, wanted=identity,
            report=report, quoting=False,
        )
    else:
        try:
            wanted = match_columns(pq.read_schema(path).names, RATING_ALIASES, path)
            numeric = read_numeric_columns(path, wanted)
            if numeric is None:
                table = pq.read_table(path, columns=list(wanted))
                report.rows_read = table.num_rows
                columns = {dst: table.column(src) for src, dst in wanted.items()}
                del table
            else:
                columns, report.rows_read = numeric
        except (pa.ArrowException, OSError) as exc:
            raise DataError(path, f"not a readable Parquet file: {exc}") from exc
    ratings = clean_ratings(columns, path, report)
    return ratings, report


def _count_unknown(rated: np.ndarray, known: np.ndarray) -> int:
    """How many of ``rated`` (n,) int64 are not in ``known`` (m,); a lookup table for small ids."""
    top = int(max(rated.max(initial=0), known.max(initial=0)))
    if rated.min(initial=0) < 0 or known.min(initial=0) < 0 or top > 100_000_000:
        return int(np.count_nonzero(~np.isin(rated, known)))
    table = np.zeros(top + 1, dtype=bool)
    table[known] = True
    return int(len(rated) - np.count_nonzero(table[rated]))


def load_dataset(path: Path) -> Dataset:
    """Load ratings and movies from ``path`` (a directory or a ratings file).

    Bad rows are dropped and counted in the reports; duplicate (user, movie) ratings keep
    the latest timestamp; ratings of movies missing from the movies file are kept and
    counted as ``notes["unknown_movie"]``.

    Raises:
        DataError: missing file or directory, unknown layout, wrong columns, or no usable
            rows; the message names the file (and the rows read).
    """
    files = _locate(Path(path))
    logger.info("loading %s (layout %s)", files.ratings, files.layout)
    ratings, ratings_report = _read_ratings(files)
    if ratings.empty:
        raise DataError(files.ratings, "no usable ratings", rows=ratings_report.rows_read)
    if files.movies is None:
        movies, movies_report = movie_files.movies_from_ratings(ratings, files.ratings.parent, files.layout)
    else:
        movies, movies_report = movie_files.read_movies(files.movies, files.layout)
        if movies.empty:
            raise DataError(files.movies, "no usable movies", rows=movies_report.rows_read)
    unknown = _count_unknown(ratings["movie_id"].to_numpy(), movies["movie_id"].to_numpy())
    ratings_report.note("unknown_movie", unknown)
    logger.info(
        "%s: %d ratings kept of %d read; %d movies", files.ratings, ratings_report.rows_kept,
        ratings_report.rows_read, movies_report.rows_kept,
    )
    return Dataset(ratings, movies, ratings_report, movies_report, files.layout)
