"""Tune the online update rules on the val replay; save the winners where the worker reads them.

Objective: prequential ndcg@10 of the val replay (history = train), played in-process
(``DirectStep``, the two calls ``process_batch`` makes). Searched:

* ``additive``: step (η as a fraction of a typical user norm), half-life in days and the
  norm clip factor: the defaults plus a seeded random search (log-uniform ranges);
* ``foldin``: the regularization λ, a grid of multiples of the artifact's λ.

The result goes to ``ARTIFACTS/<version>/online_tuning.json`` (``ONLINE_TUNING_FILE``); a
worker serving that version reads its ``settings`` unless the environment sets them
(``StreamSettings.with_online_tuning``). The file sits beside the version's checksummed
files, outside the manifest: it is a serving default, not part of the trained model.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np

from offline.artifacts import ArtifactVersion, write_json_atomic
from offline.replay.events import HISTORY_BEFORE, ReplayEvents, split_events
from offline.replay.local import DirectStep, initial_lists, play_local
from offline.replay.params import build_recommender, with_knobs
from online.settings import OnlineSettings
from offline.replay.prequential import prequential_metrics, ranks_in_lists
from stream_app.settings import ONLINE_TUNING_FILE

log = logging.getLogger(__name__)
OBJECTIVE = "ndcg@10"
FOLDIN_MULTIPLES: tuple[float, ...] = (0.3, 1.0, 3.0, 10.0)


@dataclass(frozen=True)
class SearchSpace:
    """Log-uniform ranges of the additive rule's knobs (worker units) and the trial count."""

    step: tuple[float, float] = (0.02, 2.0)
    half_life_days: tuple[float, float] = (0.001, 3650.0)
    max_norm_factor: tuple[float, float] = (0.5, 5.0)
    trials: int = 40
    seed: int = 0

    def sample(self) -> list[dict[str, float]]:
        """``trials`` seeded draws of {step, half_life_days, max_norm_factor}."""
        rng = np.random.default_rng(self.seed)

        def draw(lo: float, hi: float) -> float:
            return float(f"{math.exp(rng.uniform(math.log(lo), math.log(hi))):.4g}")

        return [{"step": draw(*self.step), "half_life_days": draw(*self.half_life_days),
                 "max_norm_factor": draw(*self.max_norm_factor)} for _ in range(self.trials)]


@dataclass(frozen=True)
class Trial:
    strategy: str
    params: OnlineSettings
    metrics: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return {**self.params.online().model_dump(exclude={"strategy"}), "strategy": self.strategy, **self.metrics}


def evaluate(art: ArtifactVersion, events: ReplayEvents, strategy: str, params: OnlineSettings, n: int = 20,
             history: str = "train") -> dict[str, float]:
    """Prequential metrics of one strategy and setting over ``events`` (in-process)."""
    rec = build_recommender(art, strategy, history, params)  # type: ignore[arg-type]
    initial = initial_lists(rec, np.unique(events.user_ids).tolist(), n)
    play = play_local(strategy, events, DirectStep(rec, n), initial, n)
    return prequential_metrics(ranks_in_lists(play.before, events.movie_ids), events.positive)


def tune(art: ArtifactVersion, base: OnlineSettings, space: SearchSpace = SearchSpace(),
         foldin_multiples: Sequence[float] = FOLDIN_MULTIPLES, limit: int | None = None,
         on_trial: Callable[[Trial], None] | None = None) -> list[Trial]:
    """Every trial on the val replay: static once, additive (base + random draws), foldin grid."""
    events = split_events(art, "val", limit)
    history = HISTORY_BEFORE["val"]
    trials: list[Trial] = []

    def run(strategy: str, params: OnlineSettings) -> None:
        trial = Trial(strategy, params, evaluate(art, events, strategy, params, history=history))
        log.info("%s %s: %s=%.4f", strategy, params.model_dump(), OBJECTIVE, trial.metrics[OBJECTIVE])
        trials.append(trial)
        if on_trial is not None:
            on_trial(trial)

    run("static", base)
    for p in [base.additive.model_dump(), *space.sample()]:
        run("additive", with_knobs(base, **{f"additive__{k}": v for k, v in p.items()}))
    reg = float(art.info["config"]["als"]["regularization"])
    for m in foldin_multiples:
        run("foldin", with_knobs(base, foldin_regularization=float(f"{reg * m:.6g}")))
    return trials


def best(trials: Sequence[Trial], strategy: str) -> Trial:
    return max((t for t in trials if t.strategy == strategy), key=lambda t: t.metrics[OBJECTIVE])


def tuned_params(trials: Sequence[Trial], base: OnlineSettings) -> OnlineSettings:
    """``base`` with the best additive knobs and the best fold-in λ."""
    a, f = best(trials, "additive"), best(trials, "foldin")
    return base.model_copy(update={"additive": a.params.additive, "foldin_regularization": f.params.foldin_regularization})


def save_tuning(art: ArtifactVersion, trials: Sequence[Trial], base: OnlineSettings) -> dict[str, Any]:
    """Write ``<version>/online_tuning.json``; returns its content."""
    params = tuned_params(trials, base)
    scores = {s: best(trials, s).metrics[OBJECTIVE] for s in ("static", "additive", "foldin")}
    payload = {
        "version": art.version, "tuned_on": "val", "objective": f"prequential {OBJECTIVE}",
        "created_at": datetime.now(timezone.utc).isoformat(),
        "settings": {"additive": params.additive.model_dump(),
                     "foldin_regularization": params.foldin_regularization},
        "best_strategy": max(scores, key=lambda s: scores[s]), "best_scores": scores,
        "trials": sorted((t.as_dict() for t in trials), key=lambda d: -d[OBJECTIVE]),
    }
    write_json_atomic(art.path / ONLINE_TUNING_FILE, payload)
    log.info("wrote %s", art.path / ONLINE_TUNING_FILE)
    return payload
