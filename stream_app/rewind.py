"""After each rebalance, read the swipes again from the committed offset (or the start).

Two faust-streaming 0.15 behaviours together lose swipes when a worker restarts:

1. While the worker recovers its tables after a rebalance, the messages it already fetched
   are skipped *and acknowledged* (``Stream`` acks a "skipped value"), so a later commit
   moves past them although nothing processed them.
2. Recovery ends with ``perform_seek``, which rewinds each partition to its committed
   offset, but only when that offset is > 0 (aiokafka's ``seek_to_committed``): a partition
   that never committed past 0 is not rewound, and the skipped messages are never read.

The SIGKILL test shows it: a worker killed before its first commit, restarted with state to
recover, skipped the whole backlog. :func:`rewind_after_recovery` wraps ``perform_seek``
so that, for the given topics, it also forgets every acknowledgement not yet committed and
seeks a partition with no committed offset to its earliest one. What is read again is
applied once: user states keep their recent event ids.
"""
from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

log = logging.getLogger(__name__)


def rewind_after_recovery(consumer: Any, topics: Collection[str]) -> None:
    """Wrap ``consumer.perform_seek`` (a faust ``Consumer``) as the module docstring says."""
    original = consumer.perform_seek
    if getattr(original, "_rewinds", False):
        return

    async def perform_seek() -> None:
        await original()
        tps = [tp for tp in consumer.assignment() if tp.topic in topics]
        fresh = [tp for tp in tps if not consumer._committed_offset.get(tp)]  # None or 0
        for tp in tps:  # acks of skipped, unprocessed messages must not reach a commit
            consumer._acked[tp].clear()
            consumer._acked_index[tp].clear()
        if fresh:
            earliest = await consumer.earliest_offsets(*fresh)
            for tp in fresh:
                await consumer.seek(tp, earliest[tp])
            log.info("no committed offset: reading %s from the earliest offsets %s",
                     ", ".join(f"{tp.topic}[{tp.partition}]" for tp in fresh),
                     ", ".join(str(earliest[tp]) for tp in fresh))

    perform_seek._rewinds = True  # type: ignore[attr-defined]
    consumer.perform_seek = perform_seek
