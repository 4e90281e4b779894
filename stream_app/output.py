"""How the agent sends a batch's output (lists, state changelog, dead letters, reroutes) and
learns that the broker has it: one future per batch.

Two interchangeable clients (``StreamSettings.output_client``):

- ``LibrdkafkaOutput`` (default): confluent-kafka's ``Producer``. ``produce`` queues a message
  in C (a few µs); librdkafka batches, sends and retries on its own threads; a thread of ours
  serves the delivery reports and resolves a batch's future on the event loop once every
  message of the batch is acknowledged. Faust's own producer (aiokafka) runs all of that in
  Python on the worker's one event loop, which bounded the worker's rate (BENCHMARKS.md
  section 4, issue 11). Idempotent, ``acks=all``: a partition's messages stay in order
  across retries. Keys are hashed with murmur2, as faust and Java clients do, so a user's
  list lands where faust would have put it.
- ``FaustOutput``: each message through the faust topic's ``send_soon`` (what the
  ``test_context()`` unit tests patch, and the choice without confluent-kafka's threads).

Either way the table's changelog writes belong to the batch that made them (``ConfirmedTable``
routes them here), and the batch is acked only once its future is done (``AckAfterDelivery``).
"""
from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from confluent_kafka import KafkaError, Message, Producer

from stream_app.delivery import DeliveryError
from stream_app.kafka_config import KafkaConnection

log = logging.getLogger(__name__)

OnChangelog = Callable[[str, dict[int, int]], None]
"""(changelog topic, {partition: highest acknowledged offset}) of a delivered batch."""


class BatchOutput(Protocol):
    """Sends of one batch after another; ``seal`` closes a batch and gives what to await."""

    def send(self, topic: str, key: bytes | None, value: bytes | None, partition: int | None = None) -> None:
        """Queue one message (``partition`` None: the key's murmur2 partition)."""

    def seal(self) -> list[asyncio.Future[Any]]:
        """The futures of everything queued since the last ``seal``: done once it is acknowledged."""


class _Batch:
    """Delivery reports of one batch, counted on the poll thread; its future resolves on the loop."""

    __slots__ = ("_loop", "future", "_lock", "_queued", "_reported", "_sealed", "_error", "offsets", "_changelog")

    def __init__(self, loop: asyncio.AbstractEventLoop, changelog_done: OnChangelog) -> None:
        self._loop = loop
        self.future: asyncio.Future[int] = loop.create_future()
        self._lock = threading.Lock()
        self._queued = self._reported = 0
        self._sealed = False
        self._error: KafkaError | None = None
        self.offsets: dict[str, dict[int, int]] = {}
        self._changelog = changelog_done

    def queued(self) -> None:
        self._queued += 1  # loop thread, before produce: never below the reports

    def report(self, err: KafkaError | None, msg: Message) -> None:
        """Delivery report of a list, dead letter or reroute (poll thread)."""
        with self._lock:
            if err is not None and self._error is None:
                self._error = err
            self._reported += 1
            done = self._sealed and self._reported == self._queued
        if done:
            try:
                self._loop.call_soon_threadsafe(self._resolve)
            except RuntimeError:  # the loop closed (worker stopping): the batch was never acked
                pass

    def report_changelog(self, err: KafkaError | None, msg: Message) -> None:
        """Delivery report of a changelog record: also keeps its offset (poll thread)."""
        if err is None:
            parts = self.offsets.setdefault(msg.topic(), {})
            p, off = msg.partition(), msg.offset()
            if off > parts.get(p, -1):
                parts[p] = off
        self.report(err, msg)

    def seal(self) -> asyncio.Future[int]:
        with self._lock:
            self._sealed = True
            done = self._reported == self._queued
        if done:
            self._resolve()
        return self.future

    def _resolve(self) -> None:
        if self.future.done():
            return
        if self._error is not None:
            self.future.set_exception(DeliveryError(f"a send failed: {self._error}"))
            return
        for topic, offsets in self.offsets.items():
            self._changelog(topic, offsets)
        self.future.set_result(self._queued)


class LibrdkafkaOutput:
    """A batch's output through one confluent-kafka producer; see the module docstring.

    ``on_changelog`` is called on the loop with each delivered batch's highest changelog
    offset per partition (the table records it, as faust does after each changelog send, so
    recovery reads the changelog only from there).
    """

    def __init__(self, connection: KafkaConnection, *, linger_s: float, max_batch_bytes: int,
                 timeout_s: float, client_id: str, on_changelog: OnChangelog,
                 config: Mapping[str, Any] | None = None) -> None:
        conf = {"enable.idempotence": True, "acks": "all", "partitioner": "murmur2_random",
                "linger.ms": linger_s * 1000.0, "batch.size": max_batch_bytes,
                "message.timeout.ms": int(timeout_s * 1000), "client.id": client_id, "logger": log,
                "error_cb": self._on_error}
        self._producer = Producer(connection.client_config({**conf, **(config or {})}))
        self._on_changelog = on_changelog
        self._loop: asyncio.AbstractEventLoop | None = None
        self._batch: _Batch | None = None
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="output-delivery-reports", daemon=True)
        self._poller.start()

    def _current(self) -> _Batch:
        if self._batch is None:
            if self._loop is None:
                self._loop = asyncio.get_running_loop()
            self._batch = _Batch(self._loop, self._on_changelog)
        return self._batch

    def send(self, topic: str, key: bytes | None, value: bytes | None, partition: int | None = None) -> None:
        batch = self._current()
        batch.queued()
        if partition is None:
            self._produce(topic, value, key, batch.report)
        else:
            self._produce(topic, value, key, batch.report, partition)

    def changelog(self, topic: str, partition: int, key: bytes, value: bytes | None) -> None:
        """Queue one table changelog record (value None: a deletion); ``ConfirmedTable.output``."""
        batch = self._current()
        batch.queued()
        self._produce(topic, value, key, batch.report_changelog, partition)

    def _produce(self, topic: str, value: bytes | None, key: bytes | None,
                 report: Callable[[KafkaError | None, Message], None], partition: int | None = None) -> None:
        while True:
            try:
                if partition is None:
                    self._producer.produce(topic, value, key, on_delivery=report)
                else:
                    self._producer.produce(topic, value, key, partition, on_delivery=report)
                return
            except BufferError:  # librdkafka's queue is full: the poll thread drains it
                self._stop.wait(0.005)

    def seal(self) -> list[asyncio.Future[Any]]:
        batch, self._batch = self._batch, None
        return [] if batch is None else [batch.seal()]

    def _poll(self) -> None:
        """Serve delivery reports (only this thread polls: each batch's counts have one writer)."""
        while not self._stop.is_set():
            self._producer.poll(0.1)

    def close(self, timeout_s: float) -> int:
        """Stop the poll thread, wait up to ``timeout_s`` for what is queued; return how many
        messages are left unacknowledged (their batches were never acked: processed again)."""
        self._stop.set()
        self._poller.join(timeout=1.0)
        return self._producer.flush(timeout_s)

    @staticmethod
    def _on_error(err: KafkaError) -> None:
        log.warning("output producer: %s", err)


class FaustOutput:
    """A batch's output through faust topics' ``send_soon`` (the changelog through the table's
    own faust sends, which ``ConfirmedTable`` keeps until ``seal``)."""

    def __init__(self, topics: Mapping[str, Any], take_changelog: Callable[[], list[asyncio.Future[Any]]]) -> None:
        self._topics, self._take_changelog = topics, take_changelog
        self._sent: list[asyncio.Future[Any]] = []

    def send(self, topic: str, key: bytes | None, value: bytes | None, partition: int | None = None) -> None:
        self._sent.append(self._topics[topic].send_soon(key=key, value=value, partition=partition))

    def seal(self) -> list[asyncio.Future[Any]]:
        sent, self._sent = self._take_changelog() + self._sent, []
        return sent
