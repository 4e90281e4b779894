"""Iterative k-core filtering of the ratings table (pure numpy/pandas)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class FilterRound:
    """Counts after one filtering round."""

    round: int
    ratings: int
    users: int
    movies: int
    dropped_users: int
    dropped_movies: int


_MAX_ID_AS_CODE = 1 << 24  # non-negative ids below this serve as their own codes


def _codes(ids: np.ndarray) -> np.ndarray:
    """(n,) non-negative integer codes, equal for equal ids: the ids themselves when small and
    non-negative (MovieLens), else ``pd.factorize`` codes. Unused codes simply count 0."""
    if len(ids) and ids.min() >= 0 and ids.max() < _MAX_ID_AS_CODE:
        return ids
    return pd.factorize(ids, sort=False)[0]


def core_filter(
    ratings: pd.DataFrame, min_user_ratings: int, min_movie_ratings: int, max_rounds: int = 50
) -> tuple[pd.DataFrame, list[FilterRound]]:
    """Drop movies with < ``min_movie_ratings`` and users with < ``min_user_ratings``
    ratings, alternately, until no row is dropped (the dense core).

    Args:
        ratings: rows with int64 ``user_id`` and ``movie_id`` (other columns carried along).
    Returns:
        the filtered ratings (index reset) and one ``FilterRound`` per round; round 0
        describes the input.
    """
    users = ratings["user_id"].to_numpy()
    movies = ratings["movie_id"].to_numpy()
    # Dense codes make the counts bincounts; a round then only touches the rows of the
    # users and movies it drops (usually none after the first round or two).
    user_codes, movie_codes = _codes(users), _codes(movies)
    user_counts, movie_counts = np.bincount(user_codes), np.bincount(movie_codes)
    keep = np.ones(len(ratings), dtype=bool)
    n_users, n_movies = int(np.count_nonzero(user_counts)), int(np.count_nonzero(movie_counts))
    rounds = [FilterRound(0, len(ratings), n_users, n_movies, 0, 0)]

    def drop(codes: np.ndarray, counts: np.ndarray, minimum: int) -> None:
        """Drop the kept rows of every entity with 0 < count < minimum; update both counts."""
        bad = (counts > 0) & (counts < minimum)
        if not bad.any():
            return
        rows = np.flatnonzero(bad[codes] & keep)
        keep[rows] = False
        user_counts[:] -= np.bincount(user_codes[rows], minlength=len(user_counts))
        movie_counts[:] -= np.bincount(movie_codes[rows], minlength=len(movie_counts))

    for r in range(1, max_rounds + 1):
        drop(movie_codes, movie_counts, min_movie_ratings)
        drop(user_codes, user_counts, min_user_ratings)
        new_users, new_movies = int(np.count_nonzero(user_counts)), int(np.count_nonzero(movie_counts))
        rounds.append(
            FilterRound(r, int(user_counts.sum()), new_users, new_movies, n_users - new_users, n_movies - new_movies)
        )
        if new_users == n_users and new_movies == n_movies:
            break
        n_users, n_movies = new_users, new_movies
    if keep.all():
        return ratings.reset_index(drop=True), rounds
    return kept_rows(ratings, keep), rounds


def kept_rows(frame: pd.DataFrame, keep: np.ndarray) -> pd.DataFrame:
    """``frame.loc[keep].reset_index(drop=True)`` for a (n,) bool mask, column by column: a
    numpy column is masked directly (2-3x faster than ``loc`` on 20M rows, which gathers
    through row positions), an extension column through its array."""
    columns = {
        name: col.to_numpy()[keep] if isinstance(col.dtype, np.dtype) else col.array[keep]
        for name, col in frame.items()
    }
    return pd.DataFrame(columns, columns=frame.columns, copy=False)
