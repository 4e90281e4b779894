"""Kafka adapter of the A/B report: read lists and swipes from the topics, feed ``offline.ab``.

Both topics are read from their beginning up to the end offsets they had when the read
started (messages produced later are left for the next report), with a throw-away consumer
that joins no group and commits nothing. Events are ordered by each message's timestamp
(the producer's create time, or the broker's log-append time; the event's own time when the
message has none). Malformed messages are counted and skipped.
"""
from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Consumer, KafkaError, KafkaException, Message, TopicPartition
from pydantic import ValidationError

from offline.ab import ABReport, ListShown, Swipe, UserEvent, ab_report, order_events
from schemas.events import RecommendationList, SwipeEvent
from schemas.topics import RECOMMENDATIONS, SWIPES
from stream_app.kafka_config import KafkaConnection

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReadSummary:
    """What was read: lists, swipes, malformed messages; ``complete`` False on a timeout."""

    lists: int
    swipes: int
    malformed: int
    complete: bool


def _end_offsets(consumer: Consumer, topics: list[str], timeout: float) -> dict[tuple[str, int], tuple[int, int]]:
    """(topic, partition) -> (low, high) watermarks of every non-empty partition."""
    out: dict[tuple[str, int], tuple[int, int]] = {}
    for topic in topics:
        meta = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
        if meta is None or meta.error is not None:
            raise KafkaException(meta.error if meta is not None else KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART))
        for p in meta.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
            if high > low:
                out[(topic, p)] = (low, high)
    return out


def read_until_end(bootstrap: str | KafkaConnection, topics: list[str], timeout: float = 30.0,
                   config: dict[str, Any] | None = None) -> tuple[list[Message], bool]:
    """Every message of ``topics`` from the beginning up to the end offsets at the start.

    Returns the messages (in no particular order across partitions) and whether every
    partition was read to its end within ``timeout`` seconds.
    """
    conf = {"group.id": f"movierec-ab-{uuid.uuid4().hex}", "enable.auto.commit": False,
            "enable.partition.eof": True, "logger": log, **(config or {})}
    consumer = Consumer(KafkaConnection.of(bootstrap).client_config(conf))
    messages: list[Message] = []
    try:
        ends = _end_offsets(consumer, topics, timeout)
        consumer.assign([TopicPartition(t, p, low) for (t, p), (low, _) in ends.items()])
        pending = set(ends)
        deadline = time.monotonic() + timeout
        while pending and (left := deadline - time.monotonic()) > 0:
            for msg in consumer.consume(num_messages=1000, timeout=min(left, 0.5)):
                where = (msg.topic(), msg.partition())
                if (err := msg.error()) is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        pending.discard(where)  # transaction markers may hide the last offset
                    elif err.fatal():
                        raise KafkaException(err)
                    else:
                        log.warning("consumer error: %s", err)
                    continue
                if where in ends and msg.offset() < ends[where][1]:
                    messages.append(msg)
                if where in ends and msg.offset() >= ends[where][1] - 1:
                    pending.discard(where)
        if pending:
            log.warning("read timed out after %.0f s; partitions not read to the end: %s", timeout, sorted(pending))
        return messages, not pending
    finally:
        consumer.close()


def _seconds(msg: Message, fallback: float) -> float:
    kind, ms = msg.timestamp()
    return fallback if kind == TIMESTAMP_NOT_AVAILABLE else ms / 1000.0


def collect_events(bootstrap: str | KafkaConnection, recommendations_topic: str = RECOMMENDATIONS, swipes_topic: str = SWIPES,
                   timeout: float = 30.0) -> tuple[dict[int, list[UserEvent]], ReadSummary]:
    """Every user's lists and swipes from the two topics, in time order, and a read summary."""
    messages, complete = read_until_end(bootstrap, [recommendations_topic, swipes_topic], timeout)
    rows: list[tuple[int, UserEvent]] = []
    lists = swipes = malformed = 0
    for msg in sorted(messages, key=lambda m: (m.topic(), m.partition(), m.offset())):
        try:
            if msg.topic() == recommendations_topic:
                rec = RecommendationList.from_bytes(msg.value() or b"")
                at = _seconds(msg, rec.generated_at.timestamp())
                rows.append((rec.user_id, ListShown(rec.variant, tuple(i.movie_id for i in rec.items), at)))
                lists += 1
            else:
                swipe = SwipeEvent.from_bytes(msg.value() or b"")
                at = _seconds(msg, swipe.occurred_at.timestamp())
                rows.append((swipe.user_id, Swipe(swipe.movie_id, swipe.preference, at)))
                swipes += 1
        except (ValidationError, ValueError):
            malformed += 1
    log.info("read %d lists, %d swipes, %d malformed messages", lists, swipes, malformed)
    return order_events(rows), ReadSummary(lists, swipes, malformed, complete)


def kafka_ab_report(bootstrap: str | KafkaConnection, within: int = 5, recommendations_topic: str = RECOMMENDATIONS,
                    swipes_topic: str = SWIPES, control: str | None = None,
                    timeout: float = 30.0) -> tuple[ABReport, ReadSummary]:
    """The A/B report over everything on the two topics so far."""
    events, summary = collect_events(bootstrap, recommendations_topic, swipes_topic, timeout)
    return ab_report(events, within, control), summary
