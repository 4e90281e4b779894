"""Synthetic MovieLens: same files, shapes and rough statistics, with a taste signal to learn.

Model (all draws from ``np.random.default_rng`` seeded by ``seed``; constants in
``_synth_model``):

* movies: 1-3 of 19 MovieLens genres (ML-20M frequencies; 1% none), release years
  1920-2020 skewed recent, Zipf-like popularity ``p_j ~ (rank_j + M/100)^-2.5`` (at ML-20M
  size: top movie ~0.3% of ratings, median movie ~16 ratings, a third under 10).
* users: at least 20 ratings each (fewer only if ``n_ratings / n_users`` < 20), the rest
  lognormal (heavy tail), capped at 35% of the catalogue (raised for dense requests);
  totals exactly ``n_ratings``.
* taste: rank-8 factors, movies ``v_j = G_j A / sqrt|G_j| + noise``, users
  ``u_i = t_i A / sqrt(n_genres) + noise`` (``G`` multi-hot genres, ``t_i`` the user's
  genre taste, ``A`` a genre embedding); scaled so ``u_i . v_j`` has std 0.8.
* choice: each user picks n_u distinct movies with probability ~ ``p_j exp(0.5 u_i . v_j)``
  (people watch what they like): light users through popularity draws with replacement,
  deduplicated per user, then the top by ``0.5 u_i . v_j + Gumbel``; heavy users (more
  than 5% of the catalogue) by exact Gumbel top-k over the whole catalogue.
* rating: ``c + b_i + b_j + u_i . v_j + N(0, 0.7)`` (popular movies get a higher
  ``b_j``), rounded to half stars (40% of users to whole stars) and clipped to [0.5, 5];
  ``c`` calibrated on a pilot chunk so the mean rating is ~3.53, like ML-20M.
* time: per user a start date (1996-2020) and activity span; sessions of ~15 ratings
  about a minute apart, sessions spread over the span; timestamps rise with watch order.
  (Ratings may predate a movie's release year: time and catalogue are independent.)

Written in chunks of users (``ratings.csv`` like ml-latest, or ``ratings.parquet``;
``movies.csv`` always), rows sorted by user then movie id like MovieLens.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from offline.data import _synth_model as model

logger = logging.getLogger(__name__)

USERS_PER_CHUNK = 4096
_RATING_TEXT = pa.array([f"{v / 2:.1f}" for v in range(1, 11)])  # "0.5" ... "5.0"
_RATINGS_SCHEMA = pa.schema(
    [("userId", pa.int64()), ("movieId", pa.int64()), ("rating", pa.float32()), ("timestamp", pa.int64())]
)
_CSV_SCHEMA = _RATINGS_SCHEMA.set(2, pa.field("rating", pa.dictionary(pa.int8(), pa.string())))


@dataclass(frozen=True)
class SynthSummary:
    """What :func:`generate` wrote."""

    ratings_path: Path
    movies_path: Path
    fmt: str
    n_users: int
    n_movies: int
    n_ratings: int
    mean_rating: float
    min_user_ratings: int
    max_user_ratings: int
    seconds: float


def n_chunks(n_users: int) -> int:
    """How many chunks (progress steps) :func:`generate` writes for ``n_users``."""
    return max(1, -(-n_users // USERS_PER_CHUNK))


def _ratings_table(users: npt.NDArray[np.int64], movie_ids: npt.NDArray[np.int64],
                   half_stars: npt.NDArray[np.int8], ts: npt.NDArray[np.int64], fmt: str) -> pa.Table:
    """One chunk as an Arrow table; CSV writes the rating as text ("4.0", like MovieLens)."""
    if fmt == "csv":
        rating: pa.Array = pa.DictionaryArray.from_arrays(pa.array(half_stars - 1, pa.int8()), _RATING_TEXT)
    else:
        rating = pa.array(half_stars.astype(np.float32) / 2)
    return pa.table({"userId": users + 1, "movieId": movie_ids, "rating": rating, "timestamp": ts})


def generate(
    out_dir: Path,
    n_users: int,
    n_movies: int,
    n_ratings: int,
    seed: int,
    fmt: Literal["csv", "parquet"] = "csv",
    on_chunk: Callable[[int, int], None] | None = None,
) -> SynthSummary:
    """Write a synthetic MovieLens dataset (ml-latest layout) into ``out_dir``.

    Args:
        out_dir: created if missing; gets ``movies.csv`` and ``ratings.csv`` (header
            ``userId,movieId,rating,timestamp``) or ``ratings.parquet`` (int64, int64,
            float32, int64).
        n_users, n_movies, n_ratings: sizes; exactly ``n_ratings`` rows are written, with
            no duplicate (user, movie) pair. Needs ``n_users <= n_ratings <= n_users *
            n_movies`` (ValueError otherwise).
        seed: every random draw derives from it; same arguments -> identical files.
        fmt: "csv" or "parquet" for the ratings file.
        on_chunk: called as ``on_chunk(done, total)`` after each chunk of users.

    Returns:
        A :class:`SynthSummary` (paths, sizes, mean rating, per-user min/max, seconds).
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be 'csv' or 'parquet', not {fmt!r}")
    if min(n_users, n_movies, n_ratings) < 1:
        raise ValueError(f"sizes must be positive: {n_users=}, {n_movies=}, {n_ratings=}")
    start = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    world = model.make_world(n_users, n_movies, n_ratings, seed)
    movies_path = out_dir / "movies.csv"
    model.write_movies(world, movies_path)

    ratings_path = out_dir / f"ratings.{fmt}"
    stale = out_dir / ("ratings.parquet" if fmt == "csv" else "ratings.csv")
    if stale.exists():  # the loader would pick whichever it finds first
        logger.warning("removing %s from an earlier run", stale)
        stale.unlink()
    partial = ratings_path.with_name(ratings_path.name + ".partial")
    total_chunks = n_chunks(n_users)
    rating_sum = 0
    with partial.open("wb") as sink:
        writer: pacsv.CSVWriter | pq.ParquetWriter
        if fmt == "csv":
            sink.write(b"userId,movieId,rating,timestamp\n")
            options = pacsv.WriteOptions(include_header=False, quoting_style="none")
            writer = pacsv.CSVWriter(sink, _CSV_SCHEMA, write_options=options)
        else:
            writer = pq.ParquetWriter(sink, _RATINGS_SCHEMA, compression="snappy")
        for chunk in range(total_chunks):
            lo, hi = chunk * USERS_PER_CHUNK, min(n_users, (chunk + 1) * USERS_PER_CHUNK)
            rng = np.random.default_rng([seed, 1, chunk])  # one stream per chunk
            users, movies, half_stars, ts = model.chunk_ratings(world, lo, hi, rng)
            rating_sum += int(half_stars.sum(dtype=np.int64))
            table = _ratings_table(users, world.movie_ids[movies], half_stars, ts, fmt)
            writer.write_table(table.cast(_CSV_SCHEMA if fmt == "csv" else _RATINGS_SCHEMA))
            if on_chunk is not None:
                on_chunk(chunk + 1, total_chunks)
        writer.close()
    partial.replace(ratings_path)

    counts = world.user_counts
    summary = SynthSummary(
        ratings_path=ratings_path, movies_path=movies_path, fmt=fmt, n_users=n_users,
        n_movies=n_movies, n_ratings=int(counts.sum()), mean_rating=rating_sum / 2 / max(1, int(counts.sum())),
        min_user_ratings=int(counts.min()), max_user_ratings=int(counts.max()),
        seconds=time.perf_counter() - start,
    )
    logger.info("synth: %d ratings by %d users on %d movies in %.1f s -> %s",
                summary.n_ratings, n_users, n_movies, summary.seconds, out_dir)
    return summary
