"""Optional MLflow tracking: off (and import-free) by default; with MLflow, runs, the model
registry and the champion/challenger aliases on a SQLite backend in ``tmp_path``."""
from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from offline import tracking
from offline.artifacts import write_version
from offline.config import ALSConfig, PipelineConfig
from offline.data.synth import generate
from offline.pipeline import PipelineResult, run_pipeline
from offline.registry import clear_challenger, promote, rollback
from offline.tracking import TrackingSettings, log_pipeline_run, metric_key, mirror_aliases, tracking_enabled

URI_ENV = "MOVIEREC_MLFLOW_TRACKING_URI"
# MLflow's SQLAlchemy store on SQLAlchemy 2.1 (not ours to fix)
pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")


def _fake_result(tmp_path: Path) -> PipelineResult:
    return PipelineResult("v1", tmp_path, {"test": {"als": {"ndcg@10": 0.5}}}, [], [], {"config": {}})


def test_off_without_the_uri_and_never_imports_mlflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(URI_ENV, raising=False)
    imports: list[str] = []
    monkeypatch.setattr(tracking, "_mlflow", lambda: imports.append("mlflow"))
    assert TrackingSettings().mlflow_tracking_uri is None and not tracking_enabled()
    assert log_pipeline_run(_fake_result(tmp_path)) is None
    assert mirror_aliases(tmp_path) is None
    assert imports == []


def test_off_with_a_warning_when_the_uri_is_set_but_mlflow_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(URI_ENV, f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setitem(sys.modules, "mlflow", None)  # `import mlflow` raises ImportError
    with caplog.at_level(logging.WARNING, logger="offline.tracking"):
        assert not tracking_enabled()
        assert log_pipeline_run(_fake_result(tmp_path)) is None
    assert "movierec[mlflow]" in caplog.text and not (tmp_path / "mlflow.db").exists()


def test_metric_keys_are_mlflow_safe() -> None:
    assert metric_key("test.als.ndcg@10") == "test.als.ndcg_at_10"
    assert metric_key("stage.train als.seconds") == "stage.train als.seconds"
    assert metric_key("val.x:y(1)") == "val.x_y_1_"
    assert tracking.default_artifact_location("sqlite:////srv/ml/mlflow.db") == "file:///srv/ml/mlartifacts"
    assert tracking.default_artifact_location("http://mlflow:5000") is None


# --- with MLflow installed: one SQLite backend, two real pipeline runs, for the module ---


@dataclass(frozen=True)
class Tracked:
    root: Path
    settings: TrackingSettings
    results: tuple[PipelineResult, PipelineResult]
    run_ids: tuple[str, str]


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tracked]:
    pytest.importorskip("mlflow")
    work = tmp_path_factory.mktemp("tracking")
    generate(work / "data", n_users=120, n_movies=150, n_ratings=6000, seed=5)
    root = work / "artifacts"
    results, run_ids = [], []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(URI_ENV, f"sqlite:///{work / 'mlflow' / 'mlflow.db'}")  # the environment turns it on
        for seed in (1, 2):
            config = PipelineConfig(run_svd=False, als=ALSConfig(factors=8, iterations=3, seed=seed))
            result = run_pipeline(work / "data", root, config, show_progress=False)
            run_id = log_pipeline_run(result)
            assert run_id is not None
            results.append(result)
            run_ids.append(run_id)
        settings = TrackingSettings()
    yield Tracked(root, settings, (results[0], results[1]), (run_ids[0], run_ids[1]))


def _client(t: Tracked):  # noqa: ANN202 - mlflow is optional
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=t.settings.mlflow_tracking_uri, registry_uri=t.settings.mlflow_tracking_uri)


def _alias_targets(t: Tracked) -> dict[str, str]:
    """MLflow alias → the artifact version its model version is tagged with."""
    client = _client(t)
    model = client.get_registered_model(t.settings.mlflow_model_name)
    return {alias: client.get_model_version(model.name, str(v)).tags[tracking.VERSION_TAG]
            for alias, v in model.aliases.items()}


def test_run_logs_params_metrics_tags_and_small_artifacts(tracked: Tracked) -> None:
    client = _client(tracked)
    result = tracked.results[0]
    run = client.get_run(tracked.run_ids[0])
    assert run.info.status == "FINISHED" and run.info.run_name == result.version
    assert run.data.params["als.factors"] == "8" and run.data.params["als.seed"] == "1"
    assert run.data.params["evaluation.ks"] == "[10, 20]" and run.data.params["run_svd"] == "false"
    metrics = run.data.metrics
    assert metrics["test.als.ndcg_at_10"] == pytest.approx(result.metrics["test"]["als"]["ndcg@10"], rel=1e-12)
    assert metrics["val.popularity_count.recall_at_20"] == pytest.approx(
        result.metrics["val"]["popularity_count"]["recall@20"], rel=1e-12)
    assert metrics["stage.train_als.seconds"] >= 0 and metrics["counts.users"] == result.info["counts"]["users"]
    assert not any("@" in k for k in metrics)
    assert run.data.tags[tracking.VERSION_TAG] == result.version
    assert run.data.tags[tracking.FINGERPRINT_TAG] == result.info["data"]["fingerprint_sha256"]
    files = {f.path for f in client.list_artifacts(run.info.run_id, tracking.ARTIFACT_DIR)}
    assert files == {f"{tracking.ARTIFACT_DIR}/model_info.json", f"{tracking.ARTIFACT_DIR}/metrics.json"}
    mlflow_dir = Path(tracked.settings.mlflow_tracking_uri.removeprefix("sqlite:///")).parent  # type: ignore[union-attr]
    assert run.info.artifact_uri.startswith((mlflow_dir / "mlartifacts").as_uri()), "artifacts stay beside the db"


def test_each_run_is_a_registered_model_version_tagged_with_its_artifact_version(tracked: Tracked) -> None:
    client = _client(tracked)
    versions = client.search_model_versions(f"name='{tracked.settings.mlflow_model_name}'")
    by_tag = {mv.tags[tracking.VERSION_TAG]: mv for mv in versions}
    assert set(by_tag) == {r.version for r in tracked.results}
    for result, run_id in zip(tracked.results, tracked.run_ids):
        mv = by_tag[result.version]
        assert mv.run_id == run_id and mv.source.endswith(f"/{tracking.ARTIFACT_DIR}")
        assert mv.tags["artifact_path"] == str(result.path)


def test_aliases_are_mirrored_through_promote_clear_and_rollback(tracked: Tracked) -> None:
    root, settings = tracked.root, tracked.settings
    v1, v2 = (r.version for r in tracked.results)
    mirror_aliases(root, settings)  # no aliases.json yet: the champion is LATEST (the second run)
    assert _alias_targets(tracked) == {"champion": v2}
    promote(root, v1, by="test")
    promote(root, v2, as_="challenger", by="test")
    mirror_aliases(root, settings)
    assert _alias_targets(tracked) == {"champion": v1, "challenger": v2}
    clear_challenger(root, by="test")
    mirror_aliases(root, settings)
    assert _alias_targets(tracked) == {"champion": v1}
    promote(root, v2, by="test")
    rollback(root, by="test")
    mirror_aliases(root, settings)
    assert _alias_targets(tracked) == {"champion": v1}


def test_a_version_mlflow_never_saw_removes_the_alias(
    tracked: Tracked, caplog: pytest.LogCaptureFixture
) -> None:
    write_version(tracked.root, "untracked", {"item_factors": np.ones((2, 4), np.float32)},
                  {"movies": pd.DataFrame({"movie_id": [1, 2]})}, {"counts": {}}, {}, update_pointer=False)
    promote(tracked.root, "untracked", as_="challenger", by="test")
    with caplog.at_level(logging.WARNING, logger="offline.tracking"):
        mirror_aliases(tracked.root, tracked.settings)
    assert "never logged to MLflow" in caplog.text
    assert "challenger" not in _alias_targets(tracked)
    clear_challenger(tracked.root, by="test")


def test_mlflow_failures_are_warnings_not_errors(
    tracked: Tracked, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from mlflow import MlflowClient

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("backend down")

    monkeypatch.setattr(MlflowClient, "log_batch", broken)
    monkeypatch.setattr(MlflowClient, "get_registered_model", broken)
    with caplog.at_level(logging.WARNING, logger="offline.tracking"):
        assert log_pipeline_run(tracked.results[0], tracked.settings) is None
        assert mirror_aliases(tracked.root, tracked.settings) is None
    assert caplog.text.count("backend down") == 2
    monkeypatch.undo()
    client = _client(tracked)
    failed = client.search_runs([client.get_run(tracked.run_ids[0]).info.experiment_id], "attributes.status = 'FAILED'")
    assert len(failed) == 1, "the half-logged run is marked FAILED"
