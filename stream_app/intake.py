"""Faust's consumer with a cheaper hand-over of fetched messages to the streams.

Faust's ``Consumer._drain_messages`` hands each fetched message to its stream through
``wait_first(callback(message), suspend_flow.wait())``: four tasks, an ``asyncio.wait`` and
three cancellations per message, 52 µs of the event loop's time per message here (a
micro-benchmark; the bare-faust floor pays it too). It exists so that a rebalance can abandon
a delivery blocked on a full stream queue.

``ChunkedConsumer`` keeps that guard but pays it once per fetched chunk: the messages of one
``getmany`` are delivered by one coroutine under one ``wait_first``. Everything else is
faust's loop as it is (gap tracking, commit every N acks, read offsets, a yield to the loop
every 100 messages). When a rebalance suspends the flow in the middle of a chunk, the rest of
the chunk is dropped, as faust drops it message by message (faust's ``wait_first`` returns at
once for each of them), except that their read offsets are not advanced; the partitions are
sought again on assignment (``Consumer._seek`` resets the read offset), so nothing depends
on them.

``MovieRecApp`` is a ``faust.App`` whose transport creates this consumer.
"""
from __future__ import annotations

import asyncio
from typing import Any, cast

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.transport.consumer import CONSUMER_FETCHING
from faust.types import TP, Message
from mode import Service

_YIELD_EVERY = 100  # faust's: give other tasks the loop every 100 messages


class ChunkedConsumer(faust_aiokafka.Consumer):
    """``faust``'s aiokafka consumer, one ``wait_first`` per fetched chunk (module docstring)."""

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - exercised by the worker tests
        consumer_should_stop = cast(Service, self)._stopped.is_set
        fetcher_should_stop = cast(Service, fetcher)._stopped.is_set
        set_flag, unset_flag = self.diag.set_flag, self.diag.unset_flag
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(CONSUMER_FETCHING)
                chunk: list[tuple[TP, Message]] = [item async for item in self.getmany(timeout=1.0)]
                await self.sleep(0)  # faust's: getmany may return at once, again and again
                if chunk and not self.should_stop:
                    await self.wait_first(self._deliver(chunk), self.suspend_flow.wait())
                unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            unset_flag(CONSUMER_FETCHING)

    async def _deliver(self, chunk: list[tuple[TP, Message]]) -> None:
        """Faust's per-message body of ``_drain_messages`` for each message of ``chunk``."""
        callback = self.callback
        get_read_offset, set_read_offset = self._read_offset.__getitem__, self._read_offset.__setitem__
        acks_enabled_for = self.app.topics.acks_enabled_for
        commit_every = self._commit_every
        for n, (tp, message) in enumerate(chunk, start=1):
            if n % _YIELD_EVERY == 0:
                await asyncio.sleep(0)
            offset = message.offset
            r_offset = get_read_offset(tp)
            if r_offset is not None and offset < r_offset:
                self.log.dev("DROPPED MESSAGE ROFF %r: k=%r v=%r", offset, message.key, message.value)
                continue
            gap = offset - (r_offset or 0)
            if gap > 1 and r_offset and acks_enabled_for(message.topic):
                await self._add_gap(tp, r_offset + 1, offset)
            if commit_every is not None and self._n_acked >= commit_every:
                self._n_acked = 0
                await self.commit()
            await callback(message)
            set_read_offset(tp, offset)


class ChunkedTransport(faust_aiokafka.Transport):
    """faust's aiokafka transport with ``ChunkedConsumer``."""

    Consumer = ChunkedConsumer


class MovieRecApp(faust.App):
    """``faust.App`` consuming through ``ChunkedTransport`` (the broker URL stays ``kafka://``)."""

    def _new_transport(self) -> Any:
        return ChunkedTransport(self.conf.broker_consumer, self)
