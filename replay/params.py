"""The online settings a replay shares with the worker, and the Recommender built from them.

Both replay paths must serve exactly what the worker serves: ``build_recommender`` does what
``stream_app.model_holder.ModelHolder.build`` does (``Recommender.from_artifact`` with one
``OnlineSettings``), and ``OnlineSettings.as_env`` turns the same values into the worker's
``MOVIEREC_*`` settings. The strategies are the registry's (``online.rules.STRATEGIES``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from offline.artifacts import ArtifactVersion
from offline.recommender import History, Recommender
from online.rules import STRATEGIES
from online.settings import OnlineSettings

WORKER_STRATEGIES: tuple[str, ...] = tuple(STRATEGIES)
"""Every registered strategy: the worker serves each of them."""
REFERENCES: tuple[str, ...] = ("popularity", "retrain")
"""Played locally only (the worker serves neither)."""
ALL_STRATEGIES: tuple[str, ...] = WORKER_STRATEGIES + REFERENCES


def worker_defaults(version_dir: Path) -> OnlineSettings:
    """What a worker serving ``version_dir`` would use: env, then online_tuning.json, then defaults."""
    from stream_app.settings import StreamSettings  # the worker's settings read the environment

    return StreamSettings().with_online_tuning(version_dir).online()


def with_knobs(params: OnlineSettings, **changes: Any) -> OnlineSettings:
    """``params`` with top-level fields and ``group__knob`` nested fields replaced, validated."""
    data = params.online().model_dump()
    for name, value in changes.items():
        group, _, knob = name.partition("__")
        if knob:
            data[group] = {**data[group], knob: value}
        else:
            data[name] = value
    return OnlineSettings.model_validate(data)


def build_recommender(art: ArtifactVersion, strategy: str, history: History, params: OnlineSettings) -> Recommender:
    """The Recommender a worker with these settings and ``strategy`` serves (see ``ModelHolder.build``)."""
    return Recommender.from_artifact(art, history=history, online=with_knobs(params, strategy=strategy))
