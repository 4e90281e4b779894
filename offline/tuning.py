"""Hyperparameter search for ALS with optuna: val NDCG@10, seeded TPE, study kept in SQLite.

The data is prepared once (``offline.pipeline.prepare``: the pipeline's own load → filter →
split → matrices); each trial rebuilds only the stored confidence values from the train
preferences (α changes them), fits ALS and scores the val split exactly as the pipeline's
``als`` row of ``metrics.json``. Trial 0 of a new study is the default ``ALSConfig``, so the
gain over the default is measured in the same study. The best trial becomes a full
``PipelineConfig`` JSON (``movierec offline run --config FILE``) plus a summary JSON that
also reports test NDCG@10 of the default and of the best, computed once at the end.

Search space: factors ∈ {32, 48, 64, 96, 128}; regularization log-uniform in [0.01, 500];
alpha log-uniform in [1, 60]; iterations uniform integer in [5, 30].
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import scipy.sparse as sp

from offline.als import train_als
from offline.artifacts import write_json_atomic
from offline.config import ALSConfig, EvalConfig, PipelineConfig
from offline.dataset_matrices import SplitMatrices
from offline.evaluate import evaluate_recommender
from offline.model_eval import _evaluated_rows
from offline.pipeline import PreparedData, prepare
from offline.preference import stored_value
from offline.scoring import recommend
from offline.split import TEST, VAL

log = logging.getLogger(__name__)

OBJECTIVE = "ndcg@10"
FACTORS: tuple[int, ...] = (32, 48, 64, 96, 128)
TUNED = ("factors", "regularization", "alpha", "iterations")
"""ALSConfig fields searched; the others (seed, solver, threads) keep the base config's values."""


@dataclass(frozen=True)
class TrialRecord:
    """One finished trial: its number, tuned ALS fields, val NDCG@10 and fit+eval seconds."""

    number: int
    params: dict[str, Any]
    val_ndcg: float
    seconds: float
    is_default: bool


@dataclass(frozen=True)
class TuneResult:
    """What :func:`tune` did and wrote; ``trials`` are every complete trial of the study."""

    study_name: str
    storage: str
    data: Path
    default: ALSConfig
    default_trial: int
    best: ALSConfig
    best_trial: int
    default_val_ndcg: float
    best_val_ndcg: float
    default_test_ndcg: float
    best_test_ndcg: float
    n_new_trials: int
    seconds: float
    config_path: Path
    summary_path: Path
    trials: list[TrialRecord]


def suggest(trial: optuna.Trial) -> dict[str, Any]:
    """The search space (see the module docstring) as optuna suggestions."""
    return {
        "factors": trial.suggest_categorical("factors", FACTORS),
        "regularization": trial.suggest_float("regularization", 0.01, 500.0, log=True),
        "alpha": trial.suggest_float("alpha", 1.0, 60.0, log=True),
        "iterations": trial.suggest_int("iterations", 5, 30),
    }


def confidence_matrix(train: sp.csr_matrix, alpha: float) -> sp.csr_matrix:
    """The train preferences (users, movies) as ALS's stored values, float32 CSR.

    # C_ui = sign(p_ui) · (1 + α |p_ui|)  (same structure as ``train``; values only change)
    """
    return sp.csr_matrix((stored_value(train.data, alpha), train.indices, train.indptr), shape=train.shape)


def als_metrics(mats: SplitMatrices, als: ALSConfig, evaluation: EvalConfig, code: int) -> dict[str, float]:
    """Fit ALS on the train split with ``als`` and score split ``code`` (VAL or TEST) the way
    ``offline.model_eval.evaluate_all`` scores its ``als`` model (same seen movies, same
    user sample, same cut-offs; no genres, so no diversity: the ranking metrics are equal)."""
    factors = train_als(confidence_matrix(mats.train, als.alpha), als, show_progress=False)
    k = max(evaluation.ks)
    seen = mats.seen_before(code)
    holdout = _evaluated_rows(mats.val if code == VAL else mats.test, evaluation.max_users, evaluation.seed)

    def rec(users: np.ndarray) -> np.ndarray:
        return recommend(factors.user_factors[users], factors.item_factors, k, seen[users])[0]

    return evaluate_recommender(rec, seen, holdout, evaluation.ks, batch_size=evaluation.batch_size)


def _trial_record(t: optuna.trial.FrozenTrial) -> TrialRecord:
    start, end = t.datetime_start, t.datetime_complete
    seconds = (end - start).total_seconds() if start and end else 0.0
    return TrialRecord(t.number, dict(t.params), float(t.value or 0.0), seconds, bool(t.user_attrs.get("default")))


def _open_study(storage: Path, study_name: str, seed: int, prep: PreparedData, base: PipelineConfig) -> optuna.Study:
    """Create or resume the study; refuse to resume one made on other data or settings."""
    storage.parent.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(
        storage=f"sqlite:///{storage}",
        study_name=study_name,
        sampler=optuna.samplers.TPESampler(seed=seed),
        direction="maximize",
        load_if_exists=True,
    )
    frame = base.model_dump(mode="json", include={"filter", "split", "evaluation", "als"},
                            exclude={"als": {"num_threads"}})  # what changes the objective
    stamp = {"data_fingerprint": prep.fingerprint, "objective": f"val {OBJECTIVE}", "config": frame}
    found = {k: study.user_attrs[k] for k in stamp if k in study.user_attrs}
    if found and found != stamp:
        raise ValueError(
            f"study {study_name!r} in {storage} was made on other data or settings; choose another study name"
        )
    for key, value in stamp.items():
        study.set_user_attr(key, value)
    usable = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.WAITING)
    if not any(t.user_attrs.get("default") and t.state in usable for t in study.trials):
        defaults = {name: getattr(base.als, name) for name in TUNED}
        study.enqueue_trial(defaults, user_attrs={"default": True})
    return study


def tune(
    data: Path,
    out: Path,
    *,
    base: PipelineConfig | None = None,
    n_trials: int = 30,
    seed: int = 0,
    storage: Path = Path(".movierec/tune.db"),
    study_name: str = "als",
    timeout: float | None = None,
    summary: Path | None = None,
    on_trial: Callable[[TrialRecord], None] | None = None,
) -> TuneResult:
    """Search ALS hyperparameters on val NDCG@10; write the best config and a summary.

    Args:
        data: MovieLens folder (any layout) or ratings file.
        out: the best ``PipelineConfig`` as JSON (``base`` with the tuned ``als`` section).
        base: settings of the data preparation and evaluation, and of the untuned ALS
            fields; its ``als`` section is trial 0. Default ``PipelineConfig()``.
        n_trials: trials run by this call (a new study's first one is the default).
        seed: seed of the TPE sampler (the ALS initialisation seed is ``base.als.seed``).
        storage: SQLite file of the study (created with its folder); an existing study of
            the same name is resumed when it was made on the same data and settings.
        study_name: optuna study name.
        timeout: stop starting trials after this many seconds.
        summary: summary JSON; default ``out`` with suffix ``.summary.json``.
        on_trial: called with each finished trial (progress reporting).
    """
    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}")
    t0 = time.perf_counter()
    base = base or PipelineConfig()
    prep = prepare(Path(data), base)
    mats = prep.mats
    log.info("tuning on %d users x %d movies, %d train ratings", *mats.shape, mats.train.nnz)
    study = _open_study(Path(storage), study_name, seed, prep, base)
    finished: list[int] = []

    def objective(trial: optuna.Trial) -> float:
        als = base.als.model_copy(update=suggest(trial))
        return float(als_metrics(mats, als, base.evaluation, VAL)[OBJECTIVE])

    def callback(_: optuna.Study, frozen: optuna.trial.FrozenTrial) -> None:
        record = _trial_record(frozen)
        finished.append(record.number)
        log.info("trial %d: val %s %.4f %s", record.number, OBJECTIVE, record.val_ndcg, record.params)
        if on_trial is not None:
            on_trial(record)

    study.optimize(objective, n_trials=n_trials, timeout=timeout, callbacks=[callback])
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    default_trial = next((t for t in done if t.user_attrs.get("default")), None)
    if default_trial is None:
        raise RuntimeError(f"study {study_name!r} has no complete default trial")
    best_trial = study.best_trial
    default = base.als.model_copy(update=default_trial.params)
    best = base.als.model_copy(update=best_trial.params)
    default_test = als_metrics(mats, default, base.evaluation, TEST)[OBJECTIVE]
    best_test = als_metrics(mats, best, base.evaluation, TEST)[OBJECTIVE]

    out = Path(out)
    summary = Path(summary) if summary is not None else out.with_suffix(".summary.json")
    write_json_atomic(out, base.model_copy(update={"als": best}).model_dump(mode="json"))
    result = TuneResult(
        study_name, f"sqlite:///{storage}", Path(data), default, default_trial.number, best, best_trial.number,
        float(default_trial.value), float(best_trial.value), float(default_test), float(best_test),
        len(finished), time.perf_counter() - t0, out, summary, [_trial_record(t) for t in done],
    )
    write_json_atomic(summary, summary_payload(result, prep))
    log.info("best val %s %.4f (default %.4f); wrote %s", OBJECTIVE, result.best_val_ndcg, result.default_val_ndcg, out)
    return result


def summary_payload(result: TuneResult, prep: PreparedData) -> dict[str, Any]:
    """The summary JSON: default vs best on val (the objective) and test (measured once)."""
    return {
        "objective": f"val {OBJECTIVE}",
        "study": result.study_name,
        "storage": result.storage,
        "data": {"path": str(result.data), "layout": prep.dataset.layout, "fingerprint_sha256": prep.fingerprint,
                 "users": prep.mats.shape[0], "movies": prep.mats.shape[1], **prep.counts},
        "default": {"als": result.default.model_dump(mode="json"), "trial": result.default_trial,
                    f"val_{OBJECTIVE}": result.default_val_ndcg, f"test_{OBJECTIVE}": result.default_test_ndcg},
        "best": {"als": result.best.model_dump(mode="json"), "trial": result.best_trial,
                 f"val_{OBJECTIVE}": result.best_val_ndcg, f"test_{OBJECTIVE}": result.best_test_ndcg},
        "n_trials": len(result.trials),
        "n_new_trials": result.n_new_trials,
        "seconds": round(result.seconds, 2),
        "config": str(result.config_path),
        "trials": [asdict(t) for t in result.trials],
    }
