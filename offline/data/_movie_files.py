"""Movie tables from every layout: movies.csv, movies.dat, u.item, movies.parquet, or none.

Each reader returns the contract table (movie_id int64 unique, title str, genres str
pipe-separated, ``"(no genres listed)"`` for none) and its :class:`LoadReport`.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from offline.data._validate import csv_header, match_columns, parse_column
from offline.data.errors import DataError
from offline.data.report import LoadReport

logger = logging.getLogger(__name__)

NO_GENRES = "(no genres listed)"
MOVIE_ALIASES: dict[str, tuple[str, ...]] = {
    "movie_id": ("movieId", "movie_id", "movieid", "item_id", "itemId", "item"),
    "title": ("title",),
    "genres": ("genres",),
}
# u.item's 19 genre flags, in file order ("Children's" normalised to the ml-latest name).
ML100K_GENRES: tuple[str, ...] = (
    "unknown", "Action", "Adventure", "Animation", "Children", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
)


def _decode(raw: bytes) -> str:
    """UTF-8 if the bytes are valid UTF-8, else Latin-1 (ml-1m, ml-10m, ml-100k)."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _lines(path: Path) -> list[str]:
    """Non-empty lines; split on LF only (Latin-1 text may hold \\x85, a Unicode line break)."""
    return [line.rstrip("\r") for line in _decode(path.read_bytes()).split("\n") if line.strip()]


def _finish(
    ids: pa.ChunkedArray, titles: list[str | None], genres: list[str | None], path: Path, report: LoadReport
) -> pd.DataFrame:
    """Drop rows with missing/invalid/duplicate ids (first kept); fill empty titles and genres.

    Args:
        ids, titles, genres: raw columns of equal length n.

    Returns:
        DataFrame (n_kept rows): movie_id int64, title str, genres str.
    """
    movie, missing, invalid = parse_column(ids, "id", path, "movie_id")
    report.drop("missing_id", int(np.count_nonzero(missing)))
    report.drop("invalid_id", int(np.count_nonzero(invalid & ~missing)))
    frame = pd.DataFrame({"movie_id": movie, "title": titles, "genres": genres})
    frame = frame[~(missing | invalid)]
    duplicated = frame["movie_id"].duplicated(keep="first").to_numpy()
    report.drop("duplicate", int(np.count_nonzero(duplicated)))
    frame = frame[~duplicated].reset_index(drop=True)
    title, genres_text = _text(frame["title"]), _text(frame["genres"])
    untitled = (title == "").to_numpy()
    report.note("missing_title", int(untitled.sum()))
    title[untitled] = "movie " + frame.loc[untitled, "movie_id"].astype("str")
    genres_text[genres_text == ""] = NO_GENRES
    report.rows_kept = len(frame)
    if report.rows_dropped:
        logger.warning(
            "%s: dropped %d of %d movie rows %s", path, report.rows_dropped, report.rows_read, report.dropped
        )
    return pd.DataFrame({"movie_id": frame["movie_id"].to_numpy(np.int64), "title": title, "genres": genres_text})


def _text(values: pd.Series) -> pd.Series:
    """str dtype, missing as "", surrounding whitespace stripped."""
    return values.astype("str").fillna("").str.strip()


def _split_lines(path: Path, sep: str, n_fields: int, report: LoadReport) -> list[list[str]]:
    """Lines split on ``sep``; lines without exactly ``n_fields`` fields are counted and skipped."""
    rows = [line.split(sep) for line in _lines(path)]
    report.rows_read = len(rows)
    good = [row for row in rows if len(row) == n_fields]
    report.drop("malformed_line", len(rows) - len(good))
    return good


def _read_movies_dat(path: Path, report: LoadReport) -> pd.DataFrame:
    """``MovieID::Title::Genres`` (ml-1m, ml-10m; Latin-1)."""
    rows = _split_lines(path, "::", 3, report)
    ids = pa.chunked_array([pa.array([r[0] for r in rows], pa.string())])
    return _finish(ids, [r[1] for r in rows], [r[2] for r in rows], path, report)


def _read_u_item(path: Path, report: LoadReport) -> pd.DataFrame:
    """u.item: id|title|release|video release|IMDb URL|19 genre flags (ml-100k; Latin-1)."""
    rows = _split_lines(path, "|", 5 + len(ML100K_GENRES), report)
    genres = []
    for row in rows:
        names = [g for g, flag in zip(ML100K_GENRES, row[5:]) if flag.strip() == "1" and g != "unknown"]
        genres.append("|".join(names) or NO_GENRES)
    ids = pa.chunked_array([pa.array([r[0] for r in rows], pa.string())])
    return _finish(ids, [r[1] for r in rows], genres, path, report)


def _read_movies_csv(path: Path, report: LoadReport) -> pd.DataFrame:
    """movies.csv with header ``movieId,title,genres`` (quoted titles, CRLF fine)."""
    wanted = match_columns(csv_header(path), MOVIE_ALIASES, path)
    skipped: list[int] = []

    def on_invalid_row(row: object) -> str:
        skipped.append(1)
        return "skip"

    try:
        table = pacsv.read_csv(
            path,
            parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid_row),
            convert_options=pacsv.ConvertOptions(
                column_types={src: pa.string() for src in wanted}, include_columns=list(wanted)
            ),
        )
    except pa.ArrowInvalid as exc:
        raise DataError(path, f"cannot parse: {exc}") from exc
    report.rows_read = table.num_rows + len(skipped)
    report.drop("malformed_line", len(skipped))
    cols = {dst: table.column(src) for src, dst in wanted.items()}
    return _finish(cols["movie_id"], cols["title"].to_pylist(), cols["genres"].to_pylist(), path, report)


def _read_movies_parquet(path: Path, report: LoadReport) -> pd.DataFrame:
    """movies.parquet with movieId (or movie_id), title, genres."""
    try:
        wanted = match_columns(pq.read_schema(path).names, MOVIE_ALIASES, path)
        table = pq.read_table(path, columns=list(wanted))
    except (pa.ArrowException, OSError) as exc:
        raise DataError(path, f"not a readable Parquet file: {exc}") from exc
    report.rows_read = table.num_rows
    cols = {dst: table.column(src) for src, dst in wanted.items()}
    as_text = {name: cols[name].cast(pa.string()).to_pylist() for name in ("title", "genres")}
    return _finish(cols["movie_id"], as_text["title"], as_text["genres"], path, report)


def read_movies(path: Path, layout: str) -> tuple[pd.DataFrame, LoadReport]:
    """The movies file of ``layout`` as the contract table plus its report."""
    report = LoadReport(path=str(path), layout=layout)
    if path.name == "u.item":
        movies = _read_u_item(path, report)
    elif path.suffix == ".dat":
        movies = _read_movies_dat(path, report)
    elif path.suffix == ".parquet":
        movies = _read_movies_parquet(path, report)
    else:
        movies = _read_movies_csv(path, report)
    return movies, report


def movies_from_ratings(ratings: pd.DataFrame, folder: Path, layout: str) -> tuple[pd.DataFrame, LoadReport]:
    """Placeholder movies (title ``"movie <id>"``, no genres) for every rated movie id."""
    ids = np.unique(ratings["movie_id"].to_numpy())
    report = LoadReport(path=str(folder), layout=layout, rows_kept=len(ids))
    report.note("generated_from_ratings", len(ids))
    logger.info("%s: no movies file; %d placeholder movies", folder, len(ids))
    movies = pd.DataFrame({
        "movie_id": ids.astype(np.int64),
        "title": pd.array([f"movie {i}" for i in ids], dtype="str"),
        "genres": pd.array([NO_GENRES] * len(ids), dtype="str"),
    })
    return movies, report
