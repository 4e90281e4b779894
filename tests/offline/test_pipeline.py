"""The whole offline pipeline on real MovieLens (ml-latest-small) and on bad input."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from offline.artifacts import latest_version, list_versions, load_version
from offline.data.errors import DataError
from offline.pipeline import run_pipeline
from offline.split import SPLIT_NAMES

ML_SMALL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ml-latest-small"


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    if not (ML_SMALL / "ratings.csv").exists():
        pytest.fail(f"{ML_SMALL} is missing: tests read MovieLens from ../shared/data")
    root = tmp_path_factory.mktemp("artifacts")
    return root, run_pipeline(ML_SMALL, root, show_progress=False)


@pytest.mark.slow
def test_als_beats_count_popularity_on_test_ndcg(small_run) -> None:
    _, result = small_run
    test = result.metrics["test"]
    assert test["als"]["ndcg@10"] > test["popularity_count"]["ndcg@10"]
    assert result.metrics["val"]["als"]["ndcg@10"] > result.metrics["val"]["popularity_count"]["ndcg@10"]


@pytest.mark.slow
def test_metrics_json_shape(small_run) -> None:
    root, result = small_run
    metrics = json.loads((result.path / "metrics.json").read_text())
    for split in ("val", "test"):
        for model in ("als", "popularity_count", "popularity_bayes", "content"):
            for k in (10, 20):
                for m in ("recall", "precision", "ndcg", "map", "hit", "coverage", "gini", "diversity", "novelty"):
                    assert 0 <= metrics[split][model][f"{m}@{k}"] < 20
        assert set(metrics[split]["svd"]) == {"rmse", "mae"}
        assert metrics[split]["svd"]["rmse"] < metrics[split]["bias"]["rmse"] + 0.05


@pytest.mark.slow
def test_artifact_contents_verify_and_have_no_leakage(small_run) -> None:
    root, result = small_run
    assert latest_version(root) == result.version
    art = load_version(root)
    n_users, n_movies = art.info["counts"]["users"], art.info["counts"]["movies"]
    assert art.arrays["user_factors"].shape == (n_users, 64)
    assert art.arrays["item_factors"].shape == (n_movies, 64) and art.arrays["item_factors"].dtype == np.float32
    assert art.arrays["movie_ids"].shape == (n_movies,) and np.all(np.diff(art.arrays["movie_ids"]) > 0)
    assert len(art.tables["movies"]) == n_movies and len(art.tables["popularity"]) == n_movies
    assert set(art.info["stages"][0]) >= {"name", "seconds", "rows_in", "rows_out"}
    assert art.info["data"]["ratings_report"]["rows_read"] == 100_836
    splits = {name: art.tables[name] for name in SPLIT_NAMES}
    assert sum(len(s) for s in splits.values()) == art.info["counts"]["filter_rounds"][-1]["ratings"]
    both = pd.concat([splits["train"].groupby("user_id").timestamp.max().rename("train_max"),
                      splits["val"].groupby("user_id").timestamp.min().rename("val_min"),
                      splits["test"].groupby("user_id").timestamp.min().rename("test_min")], axis=1)
    assert both.val_min.notna().sum() > 500
    assert ((both.train_max < both.val_min) | both.val_min.isna()).all()
    assert ((both.train_max < both.test_min) | both.test_min.isna()).all()


def test_empty_after_filtering_is_a_clear_error_and_writes_nothing(tmp_path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.0,100\n2,2,3.0,200\n")
    (data / "movies.csv").write_text("movieId,title,genres\n1,A (1990),Drama\n2,B (1991),Comedy\n")
    root = tmp_path / "artifacts"
    with pytest.raises(DataError, match="no ratings left after core filtering"):
        run_pipeline(data, root, show_progress=False)
    assert list_versions(root) == []


@pytest.mark.slow
def test_fits_without_factors_run_before_als_and_split_tables_hold_the_split(small_run) -> None:
    root, result = small_run
    names = [s["name"] for s in result.stages]
    assert names == ["load", "preferences", "filter", "split", "matrices", "movies", "baselines", "neighbours",
                     "train_als", "evaluate", "write"]
    art = load_version(root, result.version)
    counts = result.info["counts"]
    tables = {name: art.tables[name] for name in SPLIT_NAMES}
    assert {name: len(t) for name, t in tables.items()} == {name: counts[name] for name in SPLIT_NAMES}
    for name, table in tables.items():
        assert list(table.columns) == ["user_id", "movie_id", "rating", "preference", "timestamp"]
    # the rows of a user's time line: every train timestamp before that user's val and test ones
    last_train = tables["train"].groupby("user_id")["timestamp"].max()
    first_later = pd.concat([tables["val"], tables["test"]]).groupby("user_id")["timestamp"].min()
    assert (last_train.reindex(first_later.index).fillna(-1) < first_later).all()
