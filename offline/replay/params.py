"""The online knobs a replay shares with the worker, and the Recommender built from them.

Both replay paths must serve exactly what the worker serves: ``build_recommender`` does what
``stream_app.model_holder.ModelHolder.build`` does (same ``Recommender.from_artifact`` arguments, same
days-to-seconds conversion, same fold-in regularization override), and ``worker_env`` turns
the same values into the worker's ``MOVIEREC_*`` settings.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from offline.artifacts import ArtifactVersion
from offline.recommender import History, Recommender, Strategy
from stream_app.settings import AdditiveSettings, StreamSettings
from stream_app.updates import AdditiveParams, FoldIn

WorkerStrategy = Literal["static", "additive", "foldin"]
WORKER_STRATEGIES: tuple[WorkerStrategy, ...] = ("static", "additive", "foldin")
ALL_STRATEGIES: tuple[str, ...] = ("static", "additive", "foldin", "popularity", "retrain")
"""``popularity`` and ``retrain`` are references played locally (the worker serves neither)."""


@dataclass(frozen=True)
class OnlineParams:
    """Update-rule settings, in the worker's units.

    Attributes:
        additive: step, half-life in days, norm clip factor (``AdditiveSettings``).
        foldin_regularization: fold-in lambda; None = the artifact's ALS regularization.
        cold_start_swipes: swipes before an unknown user gets a vector.
    """

    additive: AdditiveSettings = AdditiveSettings()
    foldin_regularization: float | None = None
    cold_start_swipes: int = 3

    @classmethod
    def from_settings(cls, settings: StreamSettings) -> OnlineParams:
        return cls(settings.additive, settings.foldin_regularization, settings.cold_start_swipes)

    @classmethod
    def worker_defaults(cls, version_dir: Path) -> OnlineParams:
        """What a worker serving ``version_dir`` would use: env, then online_tuning.json, then defaults."""
        return cls.from_settings(StreamSettings().with_online_tuning(version_dir))

    def with_additive(self, **fields: float) -> OnlineParams:
        return replace(self, additive=AdditiveSettings(**{**self.additive.model_dump(), **fields}))

    def additive_params(self) -> AdditiveParams:
        """The rule's parameters exactly as ModelHolder converts them (days * 86400.0)."""
        a = self.additive
        return AdditiveParams(a.step, a.half_life_days * 86400.0, a.max_norm_factor)

    def worker_env(self) -> dict[str, str]:
        """``MOVIEREC_*`` names (without the prefix) carrying these values to a worker."""
        env = {"COLD_START_SWIPES": str(self.cold_start_swipes),
               "ADDITIVE__STEP": repr(self.additive.step),
               "ADDITIVE__HALF_LIFE_DAYS": repr(self.additive.half_life_days),
               "ADDITIVE__MAX_NORM_FACTOR": repr(self.additive.max_norm_factor)}
        if self.foldin_regularization is not None:
            env["FOLDIN_REGULARIZATION"] = repr(self.foldin_regularization)
        return env

    def as_dict(self) -> dict[str, Any]:
        return {"additive": self.additive.model_dump(), "foldin_regularization": self.foldin_regularization,
                "cold_start_swipes": self.cold_start_swipes}


def build_recommender(art: ArtifactVersion, strategy: Strategy, history: History, params: OnlineParams) -> Recommender:
    """The Recommender a worker with these settings serves (see ``ModelHolder.build``)."""
    rec = Recommender.from_artifact(art, strategy=strategy, history=history, additive=params.additive_params(),
                                    cold_start_swipes=params.cold_start_swipes)
    if params.foldin_regularization is not None:
        rec.foldin = FoldIn.from_factors(rec.item_factors, params.foldin_regularization)
    return rec
