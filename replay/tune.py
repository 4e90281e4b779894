"""Tune the online update rules on the val replay; save the winners where the worker reads them.

Objective: prequential ndcg@10 of the val replay (history = train), played in-process
(``DirectStep``, the two calls ``process_batch`` makes). Searched:

* ``additive``: step (η as a fraction of a typical user norm), half-life in days and the
  norm clip factor: the defaults plus a seeded random search (log-uniform ranges);
* ``foldin``: the regularization λ, a grid of multiples of the artifact's λ;
* ``recency``: λ, anchor, boost and decay of the recency-weighted fold-in: the defaults
  plus seeded draws (``RuleSpace``);
* ``neighbours``: the overlay's beta, decay and seeds over the static vector: the defaults
  plus seeded draws;
* ``recency_neighbours``: the best recency knobs with the best overlay knobs, the study's
  point (``PROTOTYPE``), seeded draws of the overlay and of both rules at once around them,
  then the history tail length (``recent_history``) and the fold-in window.

The best online strategy on val becomes the file's ``strategy``: the worker serves it.

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
from online.settings import OnlineSettings
from replay.events import HISTORY_BEFORE, ReplayEvents, split_events
from replay.local import DirectStep, initial_lists, play_local
from replay.params import build_recommender, with_knobs
from replay.prequential import prequential_metrics, ranks_in_lists
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
class RuleSpace:
    """Ranges of the recency fold-in's and the overlay's knobs (log-uniform where marked) and
    the draws per stage."""

    regularization: tuple[float, float] = (3.0, 300.0)  # log
    anchor: tuple[float, float] = (0.0, 1.0)
    boost: tuple[float, float] = (1.0, 10.0)  # log
    decay: tuple[float, float] = (0.5, 0.97)
    beta: tuple[float, float] = (0.3, 30.0)  # log
    overlay_decay: tuple[float, float] = (0.5, 0.97)
    seeds: tuple[int, ...] = (5, 10, 20, 50)
    recent_history: tuple[int, ...] = (0, 10, 20, 50)
    windows: tuple[int, ...] = (20, 30, 50)
    trials: int = 16
    seed: int = 0

    def _rng(self, salt: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, salt])

    def recency(self) -> list[dict[str, float]]:
        """``trials`` draws of the recency knobs (``recency__*`` names)."""
        return self.recency_draws(salt=1)

    def recency_draws(self, salt: int) -> list[dict[str, float]]:
        rng = self._rng(salt)
        return [{"recency__regularization": _log_draw(rng, *self.regularization),
                 "recency__anchor": round(float(rng.uniform(*self.anchor)), 3),
                 "recency__boost": _log_draw(rng, *self.boost),
                 "recency__decay": round(float(rng.uniform(*self.decay)), 3)} for _ in range(self.trials)]

    def overlay(self, salt: int = 2) -> list[dict[str, float]]:
        """``trials`` draws of the overlay knobs (``overlay__*`` names)."""
        rng = self._rng(salt)
        return [{"overlay__beta": _log_draw(rng, *self.beta),
                 "overlay__decay": round(float(rng.uniform(*self.overlay_decay)), 3),
                 "overlay__seeds": int(rng.choice(self.seeds))} for _ in range(self.trials)]


PROTOTYPE: dict[str, float] = {"recency__regularization": 30.0, "recency__anchor": 0.3333, "recency__boost": 3.0,
                               "recency__decay": 0.8, "overlay__beta": 3.0, "overlay__decay": 0.8}
"""One more recency_neighbours candidate: the point the issue's study reported (lambda 30, boost 3,
decay 0.8) with the anchor and overlay weights of this project's prototype reproduction."""


def _log_draw(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(f"{math.exp(rng.uniform(math.log(lo), math.log(hi))):.4g}")


def _knobs(params: OnlineSettings, group: str) -> dict[str, Any]:
    """``params``' knobs of one settings group as ``group__knob`` names."""
    return {f"{group}__{k}": v for k, v in getattr(params, group).model_dump().items()}


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
         on_trial: Callable[[Trial], None] | None = None, rules: RuleSpace | None = RuleSpace()) -> list[Trial]:
    """Every trial on the val replay: static once, additive (base + random draws), the foldin
    grid, then (unless ``rules`` is None) recency, neighbours and recency_neighbours."""
    events = split_events(art, "val", limit)
    history = HISTORY_BEFORE["val"]
    trials: list[Trial] = []

    def run(strategy: str, params: OnlineSettings) -> Trial:
        trial = Trial(strategy, params, evaluate(art, events, strategy, params, history=history))
        log.info("%s %s: %s=%.4f", strategy, params.model_dump(), OBJECTIVE, trial.metrics[OBJECTIVE])
        trials.append(trial)
        if on_trial is not None:
            on_trial(trial)
        return trial

    run("static", base)
    for p in [base.additive.model_dump(), *space.sample()]:
        run("additive", with_knobs(base, **{f"additive__{k}": v for k, v in p.items()}))
    reg = float(art.info["config"]["als"]["regularization"])
    for m in foldin_multiples:
        run("foldin", with_knobs(base, foldin_regularization=float(f"{reg * m:.6g}")))
    if rules is None:
        return trials
    for p in [{}, *rules.recency()]:
        run("recency", with_knobs(base, **p))
    for p in [{}, *rules.overlay()]:
        run("neighbours", with_knobs(base, **p))
    combined = with_knobs(base, **_knobs(best(trials, "recency").params, "recency"),
                          **_knobs(best(trials, "neighbours").params, "overlay"))
    run("recency_neighbours", combined)
    run("recency_neighbours", with_knobs(combined, **PROTOTYPE))
    half = max(rules.trials // 2, 1)
    for p in rules.overlay(salt=3)[:half]:
        run("recency_neighbours", with_knobs(combined, **p))
    for r, o in list(zip(rules.recency_draws(salt=4), rules.overlay(salt=5)))[:half]:  # both at once
        run("recency_neighbours", with_knobs(combined, **r, **o))
    top = best(trials, "recency_neighbours").params
    for r in rules.recent_history:
        if r != top.recent_history:
            run("recency_neighbours", with_knobs(top, recent_history=r))
    top = best(trials, "recency_neighbours").params
    for w in rules.windows:
        if w != top.recency.window:
            run("recency_neighbours", with_knobs(top, recency__window=w))
    return trials


def best(trials: Sequence[Trial], strategy: str) -> Trial:
    return max((t for t in trials if t.strategy == strategy), key=lambda t: t.metrics[OBJECTIVE])


def tuned_params(trials: Sequence[Trial], base: OnlineSettings) -> OnlineSettings:
    """``base`` with each tuned strategy's best knobs and, as ``strategy``, the best online
    strategy (static never: it does not learn online)."""
    strategies = {t.strategy for t in trials} - {"static"}
    winner = max(strategies, key=lambda s: best(trials, s).metrics[OBJECTIVE])
    update: dict[str, Any] = {"strategy": winner}
    if "additive" in strategies:
        update["additive"] = best(trials, "additive").params.additive
    if "foldin" in strategies:
        update["foldin_regularization"] = best(trials, "foldin").params.foldin_regularization
    overlay_from = "recency_neighbours" if "recency_neighbours" in strategies else "neighbours"
    for field, source in (("recency", "recency_neighbours" if winner == "recency_neighbours" else "recency"),
                          ("overlay", overlay_from), ("recent_history", overlay_from)):
        if source in strategies:
            update[field] = getattr(best(trials, source).params, field)
    return OnlineSettings.model_validate({**base.online().model_dump(), **{
        k: (v.model_dump() if hasattr(v, "model_dump") else v) for k, v in update.items()}})


def save_tuning(art: ArtifactVersion, trials: Sequence[Trial], base: OnlineSettings) -> dict[str, Any]:
    """Write ``<version>/online_tuning.json``; returns its content."""
    params = tuned_params(trials, base)
    names = list(dict.fromkeys(t.strategy for t in trials))
    scores = {s: best(trials, s).metrics[OBJECTIVE] for s in names}
    settings = params.model_dump(include={"strategy", "additive", "foldin_regularization", "recency", "overlay",
                                          "recent_history"})
    payload = {
        "version": art.version, "tuned_on": "val", "objective": f"prequential {OBJECTIVE}",
        "created_at": datetime.now(timezone.utc).isoformat(),
        "settings": settings, "best_strategy": params.strategy, "best_scores": scores,
        "trials": sorted((t.as_dict() for t in trials), key=lambda d: -d[OBJECTIVE]),
    }
    write_json_atomic(art.path / ONLINE_TUNING_FILE, payload)
    log.info("wrote %s", art.path / ONLINE_TUNING_FILE)
    return payload
