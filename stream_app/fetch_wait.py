"""How long the broker may hold the worker's fetch request when its partitions have no new data.

faust builds its aiokafka consumer with ``fetch_max_wait_ms=1500`` (not a faust setting).
aiokafka keeps one fetch in flight per broker, for the partitions whose fetched records the
app has already taken. Under load every swipes partition often still holds records when the
next fetch is built, so that fetch asks only for partitions that never get data (faust's
leader-election topic ``<app id>-__assignor-__leader``): the broker holds it the full 1.5 s,
and no swipe partition can be fetched meanwhile. Measured through ``bench/stream.py`` at
1,000 swipes/s: the worker's input stalled for ~1.5 s in 12 of 17 runs, and the
latency stayed ~1.5 s for the rest of the run (BENCHMARKS.md section 4). A short cap bounds
such a stall; an idle worker then sends one small fetch per cap instead of per 1.5 s.
"""
from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def cap_fetch_wait(consumer: Any, seconds: float) -> float | None:
    """Set the fetch wait of faust's aiokafka ``consumer`` (``app.consumer``) to ``seconds``;
    return the wait the consumer now uses, read back (None, and a warning, when this faust
    or aiokafka has no such attribute: fetches may then wait 1.5 s)."""
    fetcher = getattr(getattr(getattr(consumer, "_thread", None), "_consumer", None), "_fetcher", None)
    if fetcher is None or not isinstance(getattr(fetcher, "_fetch_max_wait_ms", None), int):
        log.warning("cannot set the consumer's fetch wait (faust or aiokafka changed): fetches may wait 1.5 s")
        return None
    fetcher._fetch_max_wait_ms = max(1, int(seconds * 1000))  # read when the next fetch request is built
    return fetcher._fetch_max_wait_ms / 1000
