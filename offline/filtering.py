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
    # Dense codes make every round two bincounts instead of two groupbys.
    user_codes, user_uniques = pd.factorize(users, sort=False)
    movie_codes, movie_uniques = pd.factorize(movies, sort=False)
    keep = np.ones(len(ratings), dtype=bool)
    n_users, n_movies = len(user_uniques), len(movie_uniques)
    rounds = [FilterRound(0, len(ratings), n_users, n_movies, 0, 0)]
    for r in range(1, max_rounds + 1):
        movie_counts = np.bincount(movie_codes[keep], minlength=len(movie_uniques))
        keep &= movie_counts[movie_codes] >= min_movie_ratings
        user_counts = np.bincount(user_codes[keep], minlength=len(user_uniques))
        keep &= user_counts[user_codes] >= min_user_ratings
        new_users = int(np.count_nonzero(np.bincount(user_codes[keep], minlength=len(user_uniques))))
        new_movies = int(np.count_nonzero(np.bincount(movie_codes[keep], minlength=len(movie_uniques))))
        rounds.append(
            FilterRound(r, int(keep.sum()), new_users, new_movies, n_users - new_users, n_movies - new_movies)
        )
        if new_users == n_users and new_movies == n_movies:
            break
        n_users, n_movies = new_users, new_movies
    out = ratings.loc[keep] if not keep.all() else ratings
    return out.reset_index(drop=True), rounds
