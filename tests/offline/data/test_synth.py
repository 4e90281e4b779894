"""Synthetic MovieLens: shapes, ranges, determinism, no duplicates, and a signal to learn."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from offline.data.loaders import Dataset, load_dataset
from offline.data.synth import SynthSummary, generate
from offline.movies import clean_movies

USERS, MOVIES, RATINGS, SEED = 400, 300, 40_000, 11
ML_GENRES = {
    "Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "IMAX", "Musical", "Mystery", "Romance", "Sci-Fi",
    "Thriller", "War", "Western",
}


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SynthSummary]:
    out = tmp_path_factory.mktemp("synth")
    return out, generate(out, USERS, MOVIES, RATINGS, SEED)


@pytest.fixture(scope="module")
def dataset(synth_dir: tuple[Path, SynthSummary]) -> Dataset:
    return load_dataset(synth_dir[0])


def test_files_load_cleanly_with_exact_sizes(synth_dir: tuple[Path, SynthSummary], dataset: Dataset) -> None:
    out, summary = synth_dir
    assert sorted(p.name for p in out.iterdir()) == ["movies.csv", "ratings.csv"]
    assert (out / "ratings.csv").read_text().splitlines()[0] == "userId,movieId,rating,timestamp"
    assert dataset.layout == "ml-latest"
    assert dataset.ratings_report.dropped == {} and dataset.ratings_report.notes == {}
    assert len(dataset.ratings) == summary.n_ratings == RATINGS
    assert len(dataset.movies) == MOVIES
    assert dataset.ratings["user_id"].nunique() == USERS
    assert dataset.ratings["rating"].mean() == pytest.approx(summary.mean_rating, abs=1e-4)


def test_no_duplicate_pairs_and_movielens_order(synth_dir: tuple[Path, SynthSummary]) -> None:
    raw = pd.read_csv(synth_dir[0] / "ratings.csv")
    assert not raw.duplicated(["userId", "movieId"]).any()
    key = raw["userId"].to_numpy() * 10**9 + raw["movieId"].to_numpy()
    assert np.all(np.diff(key) > 0)  # sorted by user, then movie, like MovieLens


def test_ranges(dataset: Dataset) -> None:
    ratings = dataset.ratings
    assert set(np.unique(ratings["rating"] * 2)) <= set(range(1, 11))
    assert 3.4 < ratings["rating"].mean() < 3.65  # ML-20M: 3.53
    assert set(ratings["movie_id"]) <= set(dataset.movies["movie_id"])
    assert ratings.groupby("user_id").size().min() >= 20
    when = pd.to_datetime(ratings["timestamp"], unit="s")
    assert when.min() >= pd.Timestamp("1996-01-01") and when.max() < pd.Timestamp("2021-01-01")


def test_heavy_tailed_activity_and_popularity(tmp_path: Path) -> None:
    generate(tmp_path, 1_000, 2_000, 60_000, 3)  # sparse, like MovieLens (3% dense)
    ratings = load_dataset(tmp_path).ratings
    per_user = ratings.groupby("user_id").size()
    assert per_user.min() >= 20 and per_user.max() > 5 * per_user.median()
    per_movie = ratings.groupby("movie_id").size()
    assert per_movie.max() > 20 * per_movie.median()
    top_tenth = per_movie.sort_values(ascending=False).iloc[: len(per_movie) // 10].sum()
    assert top_tenth > 0.3 * len(ratings)


def test_sessions_within_users(dataset: Dataset) -> None:
    ordered = dataset.ratings.sort_values(["user_id", "timestamp"])
    gaps = ordered.groupby("user_id")["timestamp"].diff().dropna()
    assert (gaps >= 0).all()
    assert (gaps < 600).mean() > 0.5  # most ratings follow the last within minutes
    assert (gaps > 86_400).any()  # and some sessions are days apart
    span = ordered.groupby("user_id")["timestamp"].agg(np.ptp)
    assert (span > 365 * 86_400).any()


def test_movies_genres_and_years(dataset: Dataset) -> None:
    movies = clean_movies(dataset.movies)
    counts = movies["genre_list"].map(len)
    assert counts.between(0, 3).all() and (counts >= 1).mean() > 0.9
    assert set().union(*movies["genre_list"]) <= ML_GENRES
    assert movies["year"].notna().all() and movies["year"].between(1920, 2020).all()
    assert movies["year"].median() > 1980  # skewed recent
    assert movies["title"].str.contains(", The (", regex=False).any()


def test_same_seed_same_files_other_seed_differs(tmp_path: Path) -> None:
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        generate(tmp_path / name, 60, 90, 3_000, seed)
    for filename in ("ratings.csv", "movies.csv"):
        assert (tmp_path / "a" / filename).read_bytes() == (tmp_path / "b" / filename).read_bytes()
    assert (tmp_path / "a" / "ratings.csv").read_bytes() != (tmp_path / "c" / "ratings.csv").read_bytes()


def test_parquet_holds_the_same_ratings(tmp_path: Path) -> None:
    generate(tmp_path / "csv", 60, 90, 3_000, 5)
    summary = generate(tmp_path / "pq", 60, 90, 3_000, 5, fmt="parquet")
    assert summary.ratings_path.name == "ratings.parquet"
    from_csv, from_parquet = load_dataset(tmp_path / "csv"), load_dataset(tmp_path / "pq")
    assert from_parquet.layout == "parquet"
    pd.testing.assert_frame_equal(from_csv.ratings, from_parquet.ratings)


def test_heavy_users_exact_total_and_bad_sizes(tmp_path: Path) -> None:
    summary = generate(tmp_path / "dense", 37, 200, 5_001, 2)  # mean 135 a user: heavy path
    ratings = load_dataset(tmp_path / "dense").ratings
    assert len(ratings) == summary.n_ratings == 5_001
    assert not ratings.duplicated(["user_id", "movie_id"]).any()
    with pytest.raises(ValueError, match="cannot place"):
        generate(tmp_path / "bad", 3, 4, 100, 1)
    with pytest.raises(ValueError, match="fmt"):
        generate(tmp_path / "bad", 3, 4, 10, 1, fmt="json")  # type: ignore[arg-type]


def test_low_rank_taste_is_learnable(dataset: Dataset) -> None:
    """Biases beat the global mean; a rank-8 SVD of the residuals beats the biases."""
    ratings = dataset.ratings
    user = np.unique(ratings["user_id"], return_inverse=True)[1]
    movie = np.unique(ratings["movie_id"], return_inverse=True)[1]
    y = ratings["rating"].to_numpy(np.float64)
    test = np.random.default_rng(0).random(len(y)) < 0.1
    train = ~test
    n_users, n_movies = user.max() + 1, movie.max() + 1
    mu = y[train].mean()
    movie_counts = np.bincount(movie[train], minlength=n_movies)
    b_movie = np.bincount(movie[train], y[train] - mu, n_movies) / (movie_counts + 5)
    resid = y[train] - mu - b_movie[movie[train]]
    b_user = np.bincount(user[train], resid, n_users) / (np.bincount(user[train], minlength=n_users) + 5)
    base = mu + b_user[user] + b_movie[movie]
    residuals = np.zeros((n_users, n_movies))
    residuals[user[train], movie[train]] = (y - base)[train]
    u, s, vt = np.linalg.svd(residuals, full_matrices=False)
    low_rank = (u[:, :8] * s[:8]) @ vt[:8]

    def rmse(pred: np.ndarray) -> float:
        return float(np.sqrt(np.mean((y[test] - pred) ** 2)))

    global_rmse, bias_rmse = rmse(np.full(test.sum(), mu)), rmse(base[test])
    svd_rmse = rmse(base[test] + low_rank[user[test], movie[test]])
    assert bias_rmse < global_rmse - 0.05
    assert svd_rmse < bias_rmse - 0.08


def test_cli_synth_writes_and_summarises(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from movierec_cli.data_cmd import app

    sizes = ["--users", "50", "--movies", "80", "--ratings", "2000"]
    args = ["synth", "--out", str(tmp_path), *sizes, "--format", "parquet"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ratings.parquet").is_file() and "2,000" in result.output
    too_many = ["--users", "3", "--movies", "4", "--ratings", "99"]
    result = CliRunner().invoke(app, ["synth", "--out", str(tmp_path), *too_many])
    assert result.exit_code == 2 and "cannot place" in result.stderr
