"""ALS hyperparameter search (optuna) on a tiny synthetic MovieLens, and `movierec tune`."""
from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
import typer
from typer.testing import CliRunner

from offline.config import FilterConfig, PipelineConfig
from offline.data.synth import generate
from offline.pipeline import prepare
from offline.tuning import TUNED, TuneResult, confidence_matrix, tune

BASE = PipelineConfig(run_svd=False)


@pytest.fixture(scope="module")
def synth_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    generate(out, n_users=120, n_movies=150, n_ratings=6000, seed=5)
    return out


@pytest.fixture(scope="module")
def tuned(synth_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[TuneResult, Path]:
    work = tmp_path_factory.mktemp("tune")
    result = tune(synth_data, work / "best.json", base=BASE, n_trials=3, seed=11,
                  storage=work / "db" / "tune.db", study_name="tiny")
    return result, work


def test_confidence_values_match_the_pipeline_matrix(synth_data: Path) -> None:
    mats = prepare(synth_data, BASE).mats
    rebuilt = confidence_matrix(mats.train, BASE.als.alpha)
    assert rebuilt.dtype == mats.confidence.dtype and (rebuilt != mats.confidence).nnz == 0


def test_study_is_stored_with_the_default_as_trial_zero(tuned: tuple[TuneResult, Path]) -> None:
    result, work = tuned
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{work / 'db' / 'tune.db'}")
    trials = study.get_trials(states=[optuna.trial.TrialState.COMPLETE])
    assert len(trials) == 3 and result.n_new_trials == 3
    assert trials[0].number == 0 and trials[0].user_attrs == {"default": True}
    assert trials[0].params == {name: getattr(BASE.als, name) for name in TUNED}
    assert result.default_trial == 0 and result.default_val_ndcg == pytest.approx(trials[0].value)
    assert all(0 <= t.value <= 1 for t in trials)


def test_written_config_is_the_best_trial(tuned: tuple[TuneResult, Path]) -> None:
    result, work = tuned
    config = PipelineConfig.from_file(work / "best.json")
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{work / 'db' / 'tune.db'}")
    assert {name: getattr(config.als, name) for name in TUNED} == study.best_trial.params
    assert config.als.seed == BASE.als.seed and config.filter == BASE.filter and config.run_svd is False
    assert result.best_val_ndcg == pytest.approx(study.best_value) and result.best_val_ndcg >= result.default_val_ndcg
    summary = json.loads((work / "best.summary.json").read_text())
    assert summary["n_trials"] == 3 and summary["default"]["trial"] == 0
    assert summary["best"]["trial"] == study.best_trial.number
    for side in ("default", "best"):
        assert 0 <= summary[side]["test_ndcg@10"] <= 1 and 0 <= summary[side]["val_ndcg@10"] <= 1


def test_resume_adds_trials_and_refuses_other_settings(synth_data: Path, tmp_path: Path) -> None:
    db = tmp_path / "tune.db"
    tune(synth_data, tmp_path / "a.json", base=BASE, n_trials=1, seed=1, storage=db, study_name="s")
    again = tune(synth_data, tmp_path / "b.json", base=BASE, n_trials=1, seed=1, storage=db, study_name="s")
    assert again.n_new_trials == 1 and [t.is_default for t in again.trials] == [True, False]
    other = BASE.model_copy(update={"filter": FilterConfig(min_user_ratings=12)})
    with pytest.raises(ValueError, match="other data or settings"):
        tune(synth_data, tmp_path / "c.json", base=other, n_trials=1, storage=db, study_name="s")
    with pytest.raises(ValueError, match="n_trials"):
        tune(synth_data, tmp_path / "d.json", base=BASE, n_trials=0, storage=db, study_name="s")


def test_tune_command(synth_data: Path, tmp_path: Path) -> None:
    from movierec_cli.tune_cmd import tune as tune_command

    app = typer.Typer()
    app.command()(tune_command)
    base = tmp_path / "base.json"
    base.write_text(json.dumps({"run_svd": False}))
    out = CliRunner().invoke(app, ["--data", str(synth_data), "--out", str(tmp_path / "best.json"), "--trials", "2",
                                   "--storage", str(tmp_path / "t.db"), "--study", "cli", "--config", str(base),
                                   "--no-progress"])
    assert out.exit_code == 0, out.output
    assert "Default vs best" in out.output and "default" in out.output
    assert PipelineConfig.from_file(tmp_path / "best.json").run_svd is False
