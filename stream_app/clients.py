"""Thin confluent-kafka clients for the event contracts: send swipes, read recommendation lists.

Both key messages by ``str(user_id)`` (UTF-8), so a user's swipes and lists share a partition,
both route librdkafka's own logging into :mod:`logging`, and both connect as a
:class:`~stream_app.kafka_config.KafkaConnection` says (a string: PLAINTEXT to those servers).
A broker that refuses the login fails the next ``flush``/``poll`` at once instead of after
the timeout.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from typing import Any, Self
from uuid import UUID, uuid4

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from pydantic import ValidationError

from schemas.events import RecommendationList, SwipeEvent
from schemas.topics import RECOMMENDATIONS, SWIPES
from stream_app.kafka_config import KafkaConnection, RefusedLogin

log = logging.getLogger(__name__)


class DeliveryError(KafkaException):
    """Some messages were not acknowledged by the broker."""


class SwipeProducer:
    """Validated, idempotent producer of :class:`SwipeEvent` (``acks=all``, key ``str(user_id)``).

    Example::

        with SwipeProducer("127.0.0.1:9092") as producer:
            producer.send(user_id=1, movie_id=318, preference=4)
    """

    def __init__(self, bootstrap_servers: str | KafkaConnection, topic: str = SWIPES, *,
                 config: Mapping[str, Any] | None = None) -> None:
        self.topic = topic
        self._refused = RefusedLogin()
        # murmur2_random: the Java client's key hash, as faust/aiokafka use for POST /swipes
        # and table routing (librdkafka's default, CRC32, would put a user elsewhere)
        conf: dict[str, Any] = {"enable.idempotence": True, "acks": "all", "linger.ms": 5,
                                "client.id": "movierec-swipes", "logger": log, "partitioner": "murmur2_random",
                                "error_cb": self._refused}
        self._producer = Producer(KafkaConnection.of(bootstrap_servers).client_config({**conf, **(config or {})}))
        self._failed: list[str] = []

    def send(self, event: SwipeEvent | None = None, /, **fields: Any) -> SwipeEvent:
        """Queue one swipe, given as a ``SwipeEvent`` or as its fields; returns the event sent.

        Raises ``pydantic.ValidationError`` for invalid fields. Delivery is confirmed by ``flush()``.
        """
        if event is None:
            event = SwipeEvent(**fields)
        elif fields:
            raise TypeError("pass a SwipeEvent or its fields, not both")
        elif not isinstance(event, SwipeEvent):
            raise TypeError(f"expected a SwipeEvent, got {type(event).__name__}")
        key, value = str(event.user_id).encode(), event.to_bytes()
        while True:
            try:
                self._producer.produce(self.topic, value=value, key=key, on_delivery=self._on_delivery)
                break
            except BufferError:  # local queue full: serve delivery reports, then retry
                self._producer.poll(0.1)
        self._producer.poll(0)
        return event

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every queued swipe is acknowledged; raises :class:`DeliveryError` otherwise
        (at once when the broker refused the login)."""
        deadline = time.monotonic() + timeout
        remaining = self._producer.flush(min(timeout, 0.5))
        while remaining and self._refused.error is None and (left := deadline - time.monotonic()) > 0:
            remaining = self._producer.flush(min(left, 0.5))
        if self._refused.error is not None:
            raise DeliveryError(f"{remaining} swipes not sent: the broker refused the login ({self._refused.error})")
        failed, self._failed = self._failed, []
        if remaining or failed:
            raise DeliveryError(f"{remaining} swipes unacknowledged after {timeout} s, "
                                f"{len(failed)} failed: {failed[:5]}")

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            log.error("swipe to %s not delivered: %s", msg.topic(), err)
            self._failed.append(str(err))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            self.flush()
        else:  # don't mask the exception; still try to deliver what was queued
            self._producer.flush(5.0)


class RecommendationConsumer:
    """Reads :class:`RecommendationList` messages; malformed ones are logged and skipped.

    With ``group_id=None`` each instance gets its own consumer group (and commits nothing), so it
    sees the whole topic when ``from_beginning`` is true, or only new lists otherwise.
    """

    def __init__(self, bootstrap_servers: str | KafkaConnection, topic: str = RECOMMENDATIONS,
                 group_id: str | None = None, from_beginning: bool = True, *,
                 config: Mapping[str, Any] | None = None) -> None:
        self.topic = topic
        self._refused = RefusedLogin()
        conf: dict[str, Any] = {
            "group.id": group_id or f"movierec-recs-{uuid4().hex}",
            "enable.auto.commit": group_id is not None,
            "auto.offset.reset": "earliest" if from_beginning else "latest",
            "enable.partition.eof": True,
            "logger": log,
            "error_cb": self._refused,
        }
        self._consumer = Consumer(KafkaConnection.of(bootstrap_servers).client_config({**conf, **(config or {})}))
        self._assigned: set[tuple[str, int]] = set()
        self._at_end: set[tuple[str, int]] = set()
        self._consumer.subscribe([topic], on_assign=self._on_assign, on_revoke=self._on_revoke)

    @property
    def caught_up(self) -> bool:
        """True once partitions are assigned and every one has been read to its end."""
        return bool(self._assigned) and self._assigned <= self._at_end

    def poll(self, timeout: float = 1.0) -> RecommendationList | None:
        """The next valid list, or None if none arrives within ``timeout`` seconds; raises
        ``LoginRefused`` when the broker refused the login."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            msg = self._consumer.poll(min(left, 0.5))
            self._refused.check()
            if msg is None:
                continue
            if (parsed := self._parse(msg)) is not None:
                return parsed
        return None

    def stream(self, timeout: float | None = None) -> Iterator[RecommendationList]:
        """Yield lists as they arrive, until ``timeout`` seconds have passed (None: forever)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while deadline is None or (left := deadline - time.monotonic()) > 0:
            if (item := self.poll(1.0 if deadline is None else min(left, 1.0))) is not None:
                yield item

    __iter__ = stream

    def latest_for(self, user_id: int, timeout: float = 10.0, *,
                   cause_event_id: UUID | None = None) -> RecommendationList | None:
        """The newest list for ``user_id`` seen within ``timeout`` seconds, or None.

        Returns early once the topic has been read to its end and a list was found. With
        ``cause_event_id`` only the list caused by that swipe counts, returned as soon as seen.
        """
        newest = None
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            item = self.poll(min(left, 0.2))
            if item is not None and item.user_id == user_id:
                if cause_event_id is None:
                    newest = item  # a user's lists share a partition: arrival order is production order
                elif item.cause_event_id == cause_event_id:
                    return item
            if newest is not None and self.caught_up:
                break
        return newest

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _parse(self, msg: Message) -> RecommendationList | None:
        where = (msg.topic(), msg.partition())
        if (err := msg.error()) is not None:
            if err.code() == KafkaError._PARTITION_EOF:
                self._at_end.add(where)
            elif err.fatal():
                raise KafkaException(err)
            else:
                log.warning("consumer error on %s: %s", self.topic, err)
            return None
        self._at_end.discard(where)
        try:
            return RecommendationList.from_bytes(msg.value() or b"")
        except (ValidationError, ValueError) as exc:
            log.warning("skipping malformed recommendation list at %s[%d]@%d: %s",
                        msg.topic(), msg.partition(), msg.offset(), str(exc).splitlines()[0])
            return None

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._assigned |= {(p.topic, p.partition) for p in partitions}

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        gone = {(p.topic, p.partition) for p in partitions}
        self._assigned -= gone
        self._at_end -= gone
