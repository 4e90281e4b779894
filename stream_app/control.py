"""The ``models.v1`` control topic: announce a promotion, and watch for announcements.

Every worker must see every announcement, so the watcher uses no consumer group: it assigns
itself all partitions from their current end and polls without blocking.
"""
from __future__ import annotations

import logging

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from schemas.events import ModelAnnouncement
from stream_app.admin import ensure_topics
from stream_app.kafka_config import KafkaConnection

log = logging.getLogger(__name__)


def announce(bootstrap_servers: str | KafkaConnection, topic: str, announcement: ModelAnnouncement,
             timeout: float = 10.0) -> None:
    """Produce one announcement (key = alias) and wait for the broker's acknowledgement."""
    producer = Producer(KafkaConnection.of(bootstrap_servers).client_config({"acks": "all", "logger": log}))
    producer.list_topics(timeout=min(timeout, 3.0))  # fails fast when no broker answers
    producer.produce(topic, key=announcement.alias.encode(), value=announcement.to_bytes())
    if producer.flush(timeout):
        raise KafkaException(f"announcement of {announcement.version} not acknowledged within {timeout}s")


class ModelWatcher:
    """Non-blocking reader of announcements made after it started."""

    def __init__(self, bootstrap_servers: str | KafkaConnection, topic: str) -> None:
        self.topic = topic
        # The topic must exist before its end is read: on a fresh broker an end offset of a
        # missing topic resolves only at the first fetch, after the first announcement.
        ensure_topics(bootstrap_servers, {topic: 1})
        self._consumer = Consumer(KafkaConnection.of(bootstrap_servers).client_config(
            {"group.id": "unused-no-commits", "enable.auto.commit": False, "logger": log}))
        meta = self._consumer.list_topics(topic, timeout=10).topics.get(topic)
        if meta is None or meta.error or not meta.partitions:
            raise KafkaException(f"control topic {topic} is not available: {meta.error if meta else 'missing'}")
        # A concrete start offset (the end now), not OFFSET_END: the latter is resolved at the
        # first fetch and would skip an announcement made in between.
        start = []
        for p in sorted(meta.partitions):
            _, high = self._consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            start.append(TopicPartition(topic, p, high))
        self._consumer.assign(start)

    def poll(self) -> list[ModelAnnouncement]:
        """Announcements that arrived since the last call (invalid ones are logged, skipped)."""
        out: list[ModelAnnouncement] = []
        while (msg := self._consumer.poll(0)) is not None:
            if msg.error():
                continue
            try:
                out.append(ModelAnnouncement.from_bytes(msg.value()))
            except ValueError as exc:
                log.warning("ignoring invalid announcement on %s: %s", self.topic, exc)
        return out

    def close(self) -> None:
        self._consumer.close()
