"""`movierec retrain` (offline.retrain): challenger on data + swipes, LATEST kept, comparison, promotion."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import typer
from typer.testing import CliRunner

from offline.artifacts import latest_version, list_versions, load_version
from offline.config import PipelineConfig
from offline.data.synth import generate
from offline.pipeline import run_pipeline
from offline.registry import load_aliases
from offline.retrain import combine_ratings, compare_versions, evaluate_factors, read_metric, retrain
from stream_app.history_sink import SCHEMA, write_parquet_durably

CONFIG = PipelineConfig.model_validate({"als": {"factors": 16, "iterations": 5, "regularization": 5.0},
                                        "run_svd": False})
NEW_USERS = range(100_001, 100_021)


@pytest.fixture(scope="module")
def synth_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    generate(out, n_users=300, n_movies=400, n_ratings=20_000, seed=3)
    return out


@pytest.fixture
def champion_root(synth_data: Path, tmp_path: Path) -> tuple[Path, str]:
    """An artifacts root whose LATEST (the implicit champion) is trained on the synthetic data alone."""
    root = tmp_path / "artifacts"
    return root, run_pipeline(synth_data, root, CONFIG, show_progress=False).version


@pytest.fixture
def history(synth_data: Path, tmp_path: Path) -> Path:
    """Swipes after the data's end: 20 new users who love the 30 most rated movies (and hate 10 others),
    plus a few swipes by known users; written like the history sink does."""
    ratings = pd.read_csv(synth_data / "ratings.csv")
    popular = ratings["movieId"].value_counts().index.to_numpy()
    t0 = int(ratings["timestamp"].max()) + 1
    rng = np.random.default_rng(0)
    rows = []
    for u in NEW_USERS:
        swipes = [(u, int(m), 5.0, 2) for m in popular[:30]] + [(u, int(m), 1.5, -2) for m in popular[-10:]]
        rows += [swipes[i] for i in rng.permutation(len(swipes))]
    rows += [(1, int(popular[0]), 1.5, -2), (2, int(popular[1]), 4.0, 1)]
    frame = pd.DataFrame(rows, columns=["user_id", "movie_id", "rating", "preference"])
    frame = frame.assign(timestamp=t0 + np.arange(len(frame)) * 60, event_id=[f"e{i}" for i in range(len(frame))])
    out = tmp_path / "history"
    write_parquet_durably(pa.Table.from_pandas(frame, schema=SCHEMA, preserve_index=False),
                          out / "date=2021-01-01" / "part-swipes.v1-0-0-99.parquet")
    return out


def test_combine_keeps_the_latest_row_per_pair_and_the_history_on_a_tie() -> None:
    ratings = pd.DataFrame({"user_id": [1, 1, 2], "movie_id": [10, 11, 10], "rating": [3.0, 4.0, 2.0],
                            "timestamp": [100, 100, 500]})
    history = pd.DataFrame({"user_id": [1, 1, 2, 3], "movie_id": [10, 11, 10, 12], "rating": [5.0, 1.5, 4.0, 2.5],
                            "timestamp": [200, 100, 400, 50], "preference": [2, -2, 1, -1], "event_id": list("abcd")})
    out = combine_ratings(ratings, history)
    assert out.to_dict("list") == {"user_id": [1, 1, 2, 3], "movie_id": [10, 11, 10, 12],
                                   "rating": [5.0, 1.5, 2.0, 2.5], "timestamp": [200, 100, 500, 50]}
    assert out.dtypes.astype(str).tolist() == ["int64", "int64", "float32", "int64"]


def test_evaluate_factors_maps_ids_and_counts_unknown_users() -> None:
    # movie 20 scores best for user 7, then 30, then 10; user 7 has seen 20; user 8 is unknown.
    user_f, item_f = np.array([[1.0, 0.0]], np.float32), np.array([[0.1, 0], [0.9, 0], [0.5, 0]], np.float32)
    seen = pd.DataFrame({"user_id": [7], "movie_id": [20]})
    holdout = pd.DataFrame({"user_id": [7, 7, 8, 8], "movie_id": [10, 99, 30, 10], "preference": [1, 2, 1, -1]})
    miss = evaluate_factors(user_f, item_f, np.array([7]), np.array([10, 20, 30]), seen, holdout, k=2)
    # user 7: list [30, 10]; relevant {10, 99}: DCG = 1/log2(3), IDCG = 1 + 1/log2(3)
    ndcg7 = (1 / np.log2(3)) / (1 + 1 / np.log2(3))
    assert (miss.n_users, miss.n_unknown) == (2, 1) and miss.ndcg == pytest.approx(ndcg7 / 2)
    assert miss.recall == pytest.approx(0.25)
    excluded = evaluate_factors(user_f, item_f, np.array([7]), np.array([10, 20, 30]), seen, holdout, k=2,
                                unknown_users="exclude")
    assert (excluded.n_users, excluded.ndcg) == (1, pytest.approx(ndcg7))


def test_retrain_registers_a_challenger_and_leaves_latest(synth_data: Path, champion_root: tuple[Path, str],
                                                          history: Path) -> None:
    root, champion = champion_root
    result = retrain(synth_data, history, root, CONFIG, by="test")
    assert latest_version(root) == champion and set(list_versions(root)) == {champion, result.challenger}
    aliases = load_aliases(root)
    assert aliases.challenger is not None and aliases.challenger.version == result.challenger
    assert aliases.champion is not None and aliases.champion.version == champion and not result.promoted
    assert result.champion == champion and result.history_rows == 802
    new = load_version(root, result.challenger)
    data = new.info["data"]  # where the data came from, not the temporary folder it was combined in
    assert (data["path"], data["history"], data["history_swipes"]) == (str(synth_data), str(history), 802)
    assert set(NEW_USERS) <= set(new.arrays["user_ids"].tolist())
    swipes_in_test = new.tables["test"]["user_id"].isin(NEW_USERS).sum()
    assert swipes_in_test >= len(NEW_USERS)  # the newest period holds the swipes
    score, old = result.challenger_score, result.champion_score
    assert old is not None and score.n_users == old.n_users and old.n_unknown == len(NEW_USERS)
    assert score.n_unknown == 0 and 0 < old.ndcg < score.ndcg <= 1
    new_common, old_common = compare_versions(root, result.challenger, champion, unknown_users="exclude")
    assert old_common is not None and new_common.n_users == old_common.n_users == score.n_users - len(NEW_USERS)
    assert old_common.n_unknown == 0 and old_common.ndcg > old.ndcg


def test_auto_promote_when_the_challenger_beats_the_champion(synth_data: Path, champion_root: tuple[Path, str],
                                                             history: Path) -> None:
    root, champion = champion_root
    kept = retrain(synth_data, history, root, CONFIG, auto_promote=True, margin=1.0)
    assert not kept.promoted and latest_version(root) == champion
    other_seed = CONFIG.model_copy(update={"als": CONFIG.als.model_copy(update={"seed": 43})})  # a new version name
    promoted = retrain(synth_data, history, root, other_seed, auto_promote=True, margin=0.0)
    assert promoted.champion_score is not None and promoted.challenger_score.ndcg > promoted.champion_score.ndcg
    assert promoted.promoted and latest_version(root) == promoted.challenger
    aliases = load_aliases(root)
    assert aliases.champion is not None and aliases.champion.version == promoted.challenger
    assert aliases.challenger is None and "auto-promoted" in aliases.champion.why


def test_read_metric_follows_dotted_keys(tmp_path: Path) -> None:
    path = tmp_path / "ab.json"
    path.write_text(json.dumps({"overall": {"rate": 0.25}, "variants": {"champion": {"rate": None}}}))
    assert read_metric(path, "overall.rate") == 0.25
    with pytest.raises(KeyError):
        read_metric(path, "overall.missing")
    with pytest.raises(ValueError):
        read_metric(path, "variants.champion.rate")


def test_cli_when_degraded(synth_data: Path, champion_root: tuple[Path, str], history: Path, tmp_path: Path) -> None:
    from movierec_cli.retrain_cmd import retrain as retrain_command

    root, champion = champion_root
    app = typer.Typer()
    app.command()(retrain_command)
    metric = tmp_path / "ab.json"
    metric.write_text(json.dumps({"overall": {"rate": 0.30}}))
    config = tmp_path / "config.json"
    config.write_text(CONFIG.model_dump_json())
    base = ["--data", str(synth_data), "--history", str(history), "--artifacts", str(root), "--config", str(config),
            "--when-degraded", "--online-metric", str(metric)]
    fine = CliRunner().invoke(app, [*base, "--threshold", "0.2"])
    assert fine.exit_code == 0 and "not degraded" in fine.output and list_versions(root) == [champion]
    assert CliRunner().invoke(app, base).exit_code == 2  # no --threshold
    degraded = CliRunner().invoke(app, [*base, "--threshold", "0.5", "--auto-promote"])
    assert degraded.exit_code == 0, degraded.output
    assert "retraining" in degraded.output and "promoted" in degraded.output and len(list_versions(root)) == 2
    assert latest_version(root) != champion
