"""Live lists: one consumer of ``recommendations.v1`` fanned out to the page streams of each user.

The consumer reads every partition (no consumer group, nothing committed; partitions added
later are picked up from the topic's metadata) from the end it found at start, so each app
server sees every list produced while it runs; a page that subscribes to a user gets each
later list of that user, in order.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from aiokafka import AIOKafkaConsumer
from pydantic import ValidationError

from schemas.events import RecommendationList
from stream_app.kafka_config import KafkaConnection
from stream_app.webapp.kafka_clients import list_consumer

log = logging.getLogger(__name__)

CLOSED = None
"""Put on every subscriber's queue when the hub stops: the stream ends."""


class ListHub:
    """Subscribe to a user's lists; ``start()`` before use, ``stop()`` at shutdown."""

    def __init__(self, conn: KafkaConnection, topic: str, queue_size: int = 16) -> None:
        self.conn, self.topic, self.queue_size = conn, topic, queue_size
        self._subscribers: dict[int, set[asyncio.Queue[RecommendationList | None]]] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, timeout: float = 30.0) -> None:
        """Take every partition of the topic and find its end; lists after that are delivered."""
        consumer = list_consumer(self.conn)
        await consumer.start()
        try:
            consumer.subscribe([self.topic])  # no group: every partition, as the metadata lists them
            async with asyncio.timeout(timeout):
                while not (tps := consumer.assignment()):
                    await asyncio.sleep(0.05)
                await consumer.seek_to_end(*tps)
                for tp in tps:  # resolve the end offsets now, not at the first fetch
                    await consumer.position(tp)
        except BaseException:
            await consumer.stop()
            raise
        self._consumer = consumer
        self._task = asyncio.create_task(self._run(), name="list-hub")

    def end_streams(self) -> None:
        """Tell every subscriber that its stream ends (``CLOSED``)."""
        for queues in self._subscribers.values():
            for q in queues:
                self._put(q, CLOSED)

    async def stop(self) -> None:
        """End every subscriber's stream and close the consumer."""
        self.end_streams()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._consumer is not None:
            await self._consumer.stop()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @contextmanager
    def subscribe(self, user_id: int) -> Iterator[asyncio.Queue[RecommendationList | None]]:
        """A queue that receives each new list of ``user_id`` (then ``CLOSED`` at shutdown)."""
        queue: asyncio.Queue[RecommendationList | None] = asyncio.Queue(self.queue_size)
        self._subscribers.setdefault(user_id, set()).add(queue)
        try:
            yield queue
        finally:
            queues = self._subscribers.get(user_id, set())
            queues.discard(queue)
            if not queues:
                self._subscribers.pop(user_id, None)

    def publish(self, rl: RecommendationList) -> None:
        """Hand ``rl`` to its user's subscribers (the consumer loop calls this)."""
        for q in self._subscribers.get(rl.user_id, ()):
            self._put(q, rl)

    @staticmethod
    def _put(queue: asyncio.Queue[RecommendationList | None], item: RecommendationList | None) -> None:
        """Enqueue; a slow page loses its oldest list, never the newest."""
        if queue.full():
            queue.get_nowait()
        queue.put_nowait(item)

    async def _run(self) -> None:
        assert self._consumer is not None
        async for msg in self._consumer:
            try:
                rl = RecommendationList.from_bytes(msg.value or b"")
            except (ValidationError, ValueError) as exc:
                log.warning("skipping malformed list at %s[%d]@%d: %s", msg.topic, msg.partition, msg.offset,
                            str(exc).splitlines()[0])
                continue
            self.publish(rl)
