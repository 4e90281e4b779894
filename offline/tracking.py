"""Optional MLflow tracking: pipeline runs and champion/challenger aliases mirrored to MLflow.

Off unless ``MOVIEREC_MLFLOW_TRACKING_URI`` is set (e.g. ``sqlite:///.movierec/mlflow.db``)
and ``mlflow`` is importable (``pip install 'movierec[mlflow]'``); then each pipeline run
becomes an MLflow run (config as params, metrics, stage seconds, the version's small JSON
files as artifacts) and a version of the registered model ``MOVIEREC_MLFLOW_MODEL_NAME``
tagged ``artifact_version=<version>``. ``aliases.json`` stays the source of truth; MLflow's
aliases only mirror it. Every call goes through one ``MlflowClient`` (no global MLflow
state) and never raises: tracking must not break training or a promotion.
"""
from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic_settings import BaseSettings, SettingsConfigDict

from offline.artifacts import INFO, METRICS
from offline.registry import ALIAS_NAMES, load_aliases

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from offline.pipeline import PipelineResult

log = logging.getLogger(__name__)

VERSION_TAG = "artifact_version"
FINGERPRINT_TAG = "data_fingerprint"
ARTIFACT_DIR = "movierec"  # the run's artifact folder the registered model version points at
_BATCH = 100  # MLflow's log_batch takes at most 100 params (1000 metrics) per call
_UNSAFE = re.compile(r"[^0-9A-Za-z_\-. /]")  # MLflow key names: alphanumerics and _-. /


class TrackingSettings(BaseSettings):
    """Where MLflow tracking goes; unset ``mlflow_tracking_uri`` turns tracking off."""

    model_config = SettingsConfigDict(env_prefix="MOVIEREC_", extra="ignore", use_attribute_docstrings=True)

    mlflow_tracking_uri: str | None = None
    """MLflow tracking (and registry) URI, e.g. ``sqlite:///.movierec/mlflow.db``; None: no tracking."""
    mlflow_experiment: str = "movierec"
    """Experiment the pipeline runs go to (created on first use)."""
    mlflow_model_name: str = "movierec-als"
    """Registered model whose versions mirror the artifact versions."""
    mlflow_artifact_location: str | None = None
    """Artifact root of a new experiment; None: ``mlartifacts/`` beside a SQLite file (else the server's)."""


def _mlflow() -> Any:
    """Import MLflow (seconds of import time, so only when tracking is configured)."""
    import mlflow

    return mlflow


def tracking_enabled(settings: TrackingSettings | None = None) -> bool:
    """True when a tracking URI is set and ``mlflow`` imports (a warning when it does not)."""
    settings = settings or TrackingSettings()
    if not settings.mlflow_tracking_uri:
        return False
    try:
        _mlflow()
    except ImportError as exc:
        log.warning("MOVIEREC_MLFLOW_TRACKING_URI is set but mlflow is not importable (%s): "
                    "install movierec[mlflow]; tracking is off", exc)
        return False
    return True


def default_artifact_location(tracking_uri: str) -> str | None:
    """``file://`` URI of ``mlartifacts/`` beside a ``sqlite:///`` database, else None.

    Without it MLflow would put artifacts in ``./mlruns`` of whatever the working directory is.
    """
    if not tracking_uri.startswith("sqlite:///"):
        return None
    db = Path(tracking_uri.removeprefix("sqlite:///").split("?", 1)[0])
    return (db.resolve().parent / "mlartifacts").as_uri()


def _client(settings: TrackingSettings) -> MlflowClient:
    uri = settings.mlflow_tracking_uri
    if uri and uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///").split("?", 1)[0]).parent.mkdir(parents=True, exist_ok=True)
    return _mlflow().MlflowClient(tracking_uri=uri, registry_uri=uri)


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``{"als": {"factors": 64}}`` → ``("als.factors", 64)``; non-mapping values are leaves."""
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _flatten(value, name + ".")
        else:
            yield name, value


def metric_key(name: str) -> str:
    """An MLflow-safe metric name: ``test.als.ndcg@10`` → ``test.als.ndcg_at_10``."""
    return _UNSAFE.sub("_", name.replace("@", "_at_"))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def run_params(result: PipelineResult) -> dict[str, str]:
    """The pipeline config flattened to dotted keys; values as text (JSON for lists and None)."""
    return {metric_key(k): v if isinstance(v, str) else json.dumps(v)
            for k, v in _flatten(result.info.get("config", {}))}


def run_metrics(result: PipelineResult) -> dict[str, float]:
    """Every numeric metric as ``<split>.<model>.<metric>``, stage seconds as
    ``stage.<name>.seconds`` and the scalar row counts as ``counts.<name>``."""
    out = {metric_key(k): float(v) for k, v in _flatten(result.metrics) if _is_number(v)}
    out.update({metric_key(f"stage.{s['name']}.seconds"): float(s["seconds"])
                for s in result.stages if _is_number(s.get("seconds"))})
    out.update({metric_key(f"counts.{k}"): float(v)
                for k, v in result.info.get("counts", {}).items() if _is_number(v)})
    return out


def _experiment_id(client: MlflowClient, settings: TrackingSettings) -> str:
    experiment = client.get_experiment_by_name(settings.mlflow_experiment)
    if experiment is not None:
        return str(experiment.experiment_id)
    location = settings.mlflow_artifact_location or default_artifact_location(settings.mlflow_tracking_uri or "")
    return str(client.create_experiment(settings.mlflow_experiment, artifact_location=location))


def _ensure_registered_model(client: MlflowClient, name: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description="Offline ALS artifact versions (movierec).")


def log_pipeline_run(result: PipelineResult, settings: TrackingSettings | None = None) -> str | None:
    """Log one pipeline run to MLflow and register it as a model version.

    The run (named after the artifact version, in ``mlflow_experiment``) gets the config as
    params (:func:`run_params`), :func:`run_metrics` as metrics, tags ``artifact_version``,
    ``data_fingerprint`` and ``cold_start``, and the version's ``model_info.json`` and
    ``metrics.json`` under ``movierec/`` (never the arrays). A new version of
    ``mlflow_model_name`` points at that folder, tagged ``artifact_version`` and
    ``artifact_path`` (the version's directory on disk).

    Returns:
        The MLflow run id, or None when tracking is off or MLflow failed (logged as a warning).
    """
    settings = settings or TrackingSettings()
    if not tracking_enabled(settings):
        return None
    client, run_id = None, None
    try:
        from mlflow.entities import Metric, Param

        client = _client(settings)
        fingerprint = str(result.info.get("data", {}).get("fingerprint_sha256", ""))
        tags = {VERSION_TAG: result.version, FINGERPRINT_TAG: fingerprint,
                "cold_start": str(result.info.get("cold_start", ""))}
        run = client.create_run(_experiment_id(client, settings), run_name=result.version, tags=tags)
        run_id = run.info.run_id
        stamp = int(time.time() * 1000)
        params = [Param(k, v) for k, v in run_params(result).items()]
        metrics = [Metric(k, v, stamp, 0) for k, v in run_metrics(result).items()]
        for i in range(0, max(len(params), len(metrics)), _BATCH):
            client.log_batch(run_id, metrics=metrics[i:i + _BATCH], params=params[i:i + _BATCH])
        for name in (INFO, METRICS):
            if (Path(result.path) / name).is_file():
                client.log_artifact(run_id, str(Path(result.path) / name), ARTIFACT_DIR)
        _ensure_registered_model(client, settings.mlflow_model_name)
        model_version = client.create_model_version(
            settings.mlflow_model_name, f"{run.info.artifact_uri}/{ARTIFACT_DIR}", run_id=run_id,
            tags={VERSION_TAG: result.version, "artifact_path": str(result.path)},
            description=f"movierec artifact version {result.version}",
        )
        client.set_terminated(run_id, "FINISHED")
        log.info("MLflow run %s; %s version %s = %s", run_id, settings.mlflow_model_name,
                 model_version.version, result.version)
        return str(run_id)
    except Exception as exc:  # noqa: BLE001 - tracking must never break training
        log.warning("MLflow tracking of %s failed: %s", result.version, exc)
        if client is not None and run_id is not None:
            try:
                client.set_terminated(run_id, "FAILED")
            except Exception:  # noqa: BLE001
                pass
        return None


def model_version_of(client: MlflowClient, model_name: str, version: str) -> str | None:
    """The newest MLflow model version tagged ``artifact_version=version``, or None."""
    found = client.search_model_versions(f"name='{model_name}' and tags.{VERSION_TAG}='{version}'")
    return str(max(int(mv.version) for mv in found)) if found else None


def mirror_aliases(root: Path, settings: TrackingSettings | None = None) -> None:
    """Point MLflow's ``champion`` / ``challenger`` aliases where ``ROOT/aliases.json`` does.

    An alias that is unset here, or names a version MLflow never saw, is deleted there.
    No-op when tracking is off; failures are logged as warnings.
    """
    settings = settings or TrackingSettings()
    if not tracking_enabled(settings):
        return None
    try:
        from mlflow.exceptions import MlflowException

        aliases = load_aliases(Path(root))
        client = _client(settings)
        name = settings.mlflow_model_name
        try:
            current = {a: str(v) for a, v in client.get_registered_model(name).aliases.items()}
        except MlflowException:
            log.info("no registered model %s in MLflow yet: no aliases to mirror", name)
            return None
        for alias in ALIAS_NAMES:
            entry = getattr(aliases, alias)
            target = model_version_of(client, name, entry.version) if entry is not None else None
            if entry is not None and target is None:
                log.warning("%s %s was never logged to MLflow: removing the MLflow alias", alias, entry.version)
            if target is not None and current.get(alias) != target:
                client.set_registered_model_alias(name, alias, target)
            elif target is None and alias in current:
                client.delete_registered_model_alias(name, alias)
    except Exception as exc:  # noqa: BLE001 - mirroring must never break a promotion
        log.warning("mirroring the aliases of %s to MLflow failed: %s", root, exc)
    return None
