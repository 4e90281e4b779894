"""The worker's heap freeze: what it keeps, what it still reclaims, what it measures."""
from __future__ import annotations

import gc
import weakref

import pytest

from stream_app import gc_pauses, metrics


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


@pytest.fixture
def unfrozen():
    yield
    gc.unfreeze()


def _cycle() -> weakref.ref:
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    return weakref.ref(a)


def test_freeze_keeps_full_collections_off_frozen_objects_and_reclaims_at_the_next_freeze(unfrozen) -> None:
    alive = _cycle()  # unreachable but uncollected: a full collection would reclaim it
    gc.disable()
    try:
        frozen = gc_pauses.freeze()
        assert frozen == gc.get_freeze_count() > 0
        assert metrics.GC_FROZEN._value.get() == frozen
        assert alive() is None, "freeze collects first"
        dropped = _cycle()
        gc.freeze()  # as if frozen with the worker's objects (a model later replaced)
        gc.collect()
        assert dropped() is not None, "a full collection skips frozen objects"
        gc_pauses.freeze()  # the next model load: unfreezes, collects, freezes again
        assert dropped() is None, "a replaced model's cycles are reclaimed at the next freeze"
    finally:
        gc.enable()


def test_every_collection_is_timed_by_generation() -> None:
    gc_pauses.observe()
    gc_pauses.observe()  # once per process
    assert gc.callbacks.count(gc_pauses._on_collection) == 1
    before = metrics.GC_PAUSE.labels("2")._sum.get(), _count("2")
    gc.collect()
    assert _count("2") == before[1] + 1
    assert metrics.GC_PAUSE.labels("2")._sum.get() > before[0]


def _count(generation: str) -> float:
    return next(s.value for m in metrics.REGISTRY.collect() if m.name == "movierec_gc_pause_seconds"
                for s in m.samples if s.name.endswith("_count") and s.labels == {"generation": generation})
