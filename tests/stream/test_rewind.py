"""``rewind_after_recovery``: after faust's own seek, unprocessed swipes are read again."""
from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
from faust.types import TP

from stream_app.rewind import rewind_after_recovery


class FakeConsumer:
    """The few faust ``Consumer`` members the rewind uses, with a record of the seeks."""

    def __init__(self, committed: dict[TP, int | None], earliest: dict[TP, int]) -> None:
        self._committed_offset: dict[TP, int | None] = dict(committed)
        self._earliest = earliest
        self._acked: defaultdict[TP, list[int]] = defaultdict(list)
        self._acked_index: defaultdict[TP, set[int]] = defaultdict(set)
        self.seeks: list[tuple[Any, ...]] = []

    def assignment(self) -> set[TP]:
        return set(self._committed_offset)

    async def perform_seek(self) -> None:  # faust: rewind to committed offsets > 0
        self.seeks.extend(("committed", tp, o) for tp, o in sorted(self._committed_offset.items()) if o)

    async def earliest_offsets(self, *tps: TP) -> dict[TP, int]:
        return {tp: self._earliest[tp] for tp in tps}

    async def seek(self, tp: TP, offset: int) -> None:
        self.seeks.append(("earliest", tp, offset))


@pytest.mark.asyncio
async def test_uncommitted_partitions_are_read_from_the_start_and_skipped_acks_forgotten() -> None:
    never, zero, done, other = TP("swipes", 0), TP("swipes", 1), TP("swipes", 2), TP("changelog", 0)
    consumer = FakeConsumer({never: None, zero: 0, done: 7, other: None}, {never: 3, zero: 0, done: 0, other: 0})
    for tp, offsets in {never: [3, 4], done: [7, 8], other: [1]}.items():  # "acked" while skipped
        consumer._acked[tp].extend(offsets)
        consumer._acked_index[tp].update(offsets)
    rewind_after_recovery(consumer, {"swipes"})
    rewind_after_recovery(consumer, {"swipes"})  # installing twice wraps once
    await consumer.perform_seek()
    assert sorted(consumer.seeks) == [("committed", done, 7), ("earliest", never, 3), ("earliest", zero, 0)]
    assert consumer._acked[never] == consumer._acked[done] == [] and not consumer._acked_index[never]
    assert consumer._acked[other] == [1]  # other topics are left alone
