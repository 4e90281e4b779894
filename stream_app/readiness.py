"""What ``/health`` reports: the worker's state, from facts the worker records as it goes.

Pure: the web handler gathers the facts (broker reachable, model loaded, rebalancing) and
this module turns them into one status and an HTTP code.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

HealthStatus = Literal["ok", "recovering", "unhealthy"]
READY_MARK = "movierec worker ready"
"""Logged once models are loaded, the model watcher reads and the partitions are recovered."""


@dataclass
class WorkerHealth:
    """Facts recorded by the worker process (mutable: one instance per process)."""

    model_loaded: bool = False
    watcher_started: bool = False
    agent_error: str | None = None
    """Set when the swipes agent stopped on an error: the worker no longer processes swipes."""

    @property
    def started(self) -> bool:
        """Models loaded and the ``models.v1`` watcher reading: promotions are not missed."""
        return self.model_loaded and self.watcher_started


def health_status(health: WorkerHealth, *, broker_reachable: bool, partitions_ready: bool,
                  model_error: str | None = None) -> tuple[HealthStatus, int]:
    """``(status, http_code)``: ``unhealthy`` (503) when the agent died, the model could not be
    loaded (``model_error``) or no broker answers, ``recovering`` (503) until models are loaded
    and the partitions are assigned and their tables recovered, else ``ok`` (200)."""
    if health.agent_error is not None or model_error is not None or not broker_reachable:
        return "unhealthy", 503
    if not (health.started and partitions_ready):
        return "recovering", 503
    return "ok", 200
