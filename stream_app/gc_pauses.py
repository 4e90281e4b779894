"""Keep the worker's garbage-collection pauses short, and measure them.

A full (generation 2) collection walks every container object the process holds: faust's
machinery, the served models' id maps and caches, the web app. In the worker at 1,000
swipes/s each took 16-111 ms (BENCHMARKS.md section 4, issue 11 fifth session), a stall of
every swipe in flight (0.3-5 ms once frozen). None of those objects ever becomes
garbage while it serves, so ``freeze`` moves all of them into the permanent generation
(``gc.freeze``), which collections skip: a full collection then walks only what the stream
made since. It runs after start-up and after each model load; it first unfreezes and
collects, so that a replaced model's reference cycles are still reclaimed (one pause per
model change, not per swipe). ``observe`` times every collection into
``movierec_gc_pause_seconds`` by generation.
"""
from __future__ import annotations

import gc
import logging
import time

from stream_app import metrics

log = logging.getLogger(__name__)
_started: list[float] = []


def freeze() -> int:
    """Collect, then move every object alive now into the permanent generation; returns how
    many are frozen (also ``movierec_gc_frozen_objects``)."""
    gc.unfreeze()  # what the last freeze kept may be garbage now (a replaced model)
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    metrics.GC_FROZEN.set(frozen)
    log.info("gc: %d objects frozen (full collections skip them)", frozen)
    return frozen


def _on_collection(phase: str, info: dict[str, int]) -> None:
    if phase == "start":
        _started.append(time.perf_counter())
    elif _started:
        metrics.GC_PAUSE.labels(str(info["generation"])).observe(time.perf_counter() - _started.pop())


def observe() -> None:
    """Time every collection from now on (once per process)."""
    if _on_collection not in gc.callbacks:
        gc.callbacks.append(_on_collection)
