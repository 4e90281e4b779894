"""A batch is acknowledged only once everything it produced is on the broker.

Faust commits the offsets of acknowledged events on a timer, after ``producer.flush()``.
That flush drains faust's send buffer waiting at most 0.1 s for each message and returns
early when one send is slower (``ProducerBuffer.flush_atmost`` in faust-streaming 0.15):
under load, or when the producer is throttled, offsets are committed while the batch's
changelog writes still sit in the buffer, and a crash then loses that state for good
(the events are never redelivered). So the agent awaits the broker's acknowledgement
(``acks=all``) of its own changelog writes, lists and dead letters before ``take_events``
may ack the batch: a committed offset always implies durable state and published lists.
``AckAfterDelivery`` does that without holding up the next batch.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, NoReturn, Protocol

import faust
from faust.types import TP, FutureMessage


class ChangelogOutput(Protocol):
    """What ``ConfirmedTable`` hands its changelog records to (``stream_app.output``)."""

    def changelog(self, topic: str, partition: int, key: bytes, value: bytes | None) -> None: ...


class DeliveryError(RuntimeError):
    """A batch's output was not acknowledged by the broker in time (the batch is not acked)."""


class ConfirmedTable(faust.Table):
    """A ``faust.Table`` that keeps the futures of its changelog sends until taken.

    Faust sends each ``table[key] = value`` to the changelog with ``send_soon`` and drops
    the future; this table hands them to the agent (``take_in_flight``) to await. With an
    ``output`` set, the records go there instead (one delivery future per batch).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_flight: list[FutureMessage] = []
        self.output: ChangelogOutput | None = None
        """Where changelog records go instead of faust's producer (``stream_app.output``)."""

    def on_key_set(self, key: Any, value: Any) -> None:
        if self.output is None:
            return super().on_key_set(key, value)
        partition = self.partition_for_key(key)
        assert partition is not None  # use_partitioner is off: the current event's partition
        self.output.changelog(self.changelog_topic_name, partition, key, value)
        self._maybe_set_key_ttl(key, partition)
        self._sensor_on_set(self, key, value)

    def on_key_del(self, key: Any) -> None:
        if self.output is None:
            return super().on_key_del(key)
        partition = self.partition_for_key(key)
        assert partition is not None
        self.output.changelog(self.changelog_topic_name, partition, key, None)
        self._maybe_del_key_ttl(key, partition)
        self._sensor_on_del(self, key)

    def record_delivered(self, topic: str, offsets: dict[int, int]) -> None:
        """Keep each partition's highest delivered changelog offset in the store, as faust
        does after each of its own changelog sends (recovery reads on from there)."""
        for partition, offset in offsets.items():
            self.data.set_persisted_offset(TP(topic, partition), offset)

    def send_changelog(self, *args: Any, **kwargs: Any) -> FutureMessage:
        fut = super().send_changelog(*args, **kwargs)
        self._in_flight.append(fut)
        return fut

    def take_in_flight(self) -> list[FutureMessage]:
        """The changelog sends made since the last call (and forget them)."""
        out, self._in_flight = self._in_flight, []
        return out


async def delivered(futures: Iterable[asyncio.Future[Any]], timeout_s: float) -> int:
    """Wait until the broker has acknowledged every message; return how many.

    Raises:
        DeliveryError: a send failed, or was not acknowledged within ``timeout_s``.
    """
    sent = list(futures)
    if not sent:
        return 0
    # asyncio.wait, unlike wait_for(gather), leaves the sends alone when it gives up
    done, pending = await asyncio.wait(sent, timeout=timeout_s, return_when=asyncio.FIRST_EXCEPTION)
    for fut in done:
        if fut.cancelled() or fut.exception() is not None:
            reason = "cancelled" if fut.cancelled() else repr(fut.exception())
            raise DeliveryError(f"a send failed: {reason}")
    if pending:
        raise DeliveryError(f"{len(pending)} of {len(sent)} messages not acknowledged within {timeout_s} s")
    return len(sent)


class AckAfterDelivery:
    """Acks each batch's events once the broker acknowledged the batch's output, in the
    background: the agent goes on to the next batch meanwhile (its state reads come from
    the local store, already written). At most ``max_in_flight`` batches wait at a time.

    Batches are acked in the order they were submitted, even when a later one is delivered
    first: Faust commits a partition up to the end of the first run of consecutive acked
    offsets and does not check that the run starts at the committed offset (not at all
    before a partition's first commit), so acking a later batch first would commit past
    an earlier one that is not yet durable.
    """

    def __init__(self, ack: Callable[[Any], Awaitable[Any]], timeout_s: float, max_in_flight: int,
                 on_failure: Callable[[DeliveryError], NoReturn],
                 observe_seconds: Callable[[float], None] = lambda _: None) -> None:
        self._ack, self._timeout_s, self._max = ack, timeout_s, max_in_flight
        self._on_failure, self._observe = on_failure, observe_seconds
        self._waiting: set[asyncio.Task[None]] = set()
        self._last: asyncio.Task[None] | None = None

    @property
    def in_flight(self) -> int:
        """Batches processed but not yet acked."""
        return len(self._waiting)

    async def submit(self, events: Sequence[Any], sent: list[asyncio.Future[Any]], started: float) -> None:
        """Ack ``events`` once every future of ``sent`` is done and every batch submitted
        before is acked (``started``: perf_counter when the sending began); first waits
        while ``max_in_flight`` batches are waiting."""
        while len(self._waiting) >= self._max:
            await asyncio.wait(self._waiting, return_when=asyncio.FIRST_COMPLETED)
        task = asyncio.ensure_future(self._ack_when_delivered(list(events), sent, started, self._last))
        self._waiting.add(task)
        task.add_done_callback(self._waiting.discard)
        self._last = task

    async def _ack_when_delivered(self, events: list[Any], sent: list[asyncio.Future[Any]], started: float,
                                  previous: asyncio.Task[None] | None) -> None:
        try:
            await delivered(sent, self._timeout_s)
        except DeliveryError as exc:
            self._on_failure(exc)
        self._observe(time.perf_counter() - started)
        if previous is not None:
            await previous  # the batch before is acked first (see the class docstring)
        for event in events:
            await self._ack(event)
