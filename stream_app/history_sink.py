"""History sink: every valid swipe on ``swipes.v1`` appended to partitioned Parquet, never lost.

The layout, columns and reader are in :mod:`offline.data.history` (retraining reads them
without Kafka): ``OUT/date=YYYY-MM-DD/part-<topic>-<partition>-<first>-<last>.parquet``.

Delivery: at least once. Offsets are committed by hand, only after the files holding every
message up to them are durable (written to a temporary name, fsynced, ``os.replace``d, the
directory fsynced). A crash before the commit replays those messages; the file names are
deterministic in the offsets, so a replayed batch of the same offsets overwrites its file,
and :func:`read_history` drops any remaining duplicate by ``event_id``. Invalid messages are
counted and skipped (the worker dead-letters them).
"""
from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from pydantic import ValidationError

from offline.data.history import RATING_OF_BUCKET, SCHEMA, read_history  # noqa: F401 (the sink's format)
from schemas.events import SwipeEvent
from schemas.topics import SWIPES
from stream_app.kafka_config import KafkaConnection

log = logging.getLogger(__name__)

_SAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass
class SinkStats:
    """Counters of one sink's life: messages read, valid rows and files written, invalid skipped."""

    messages: int = 0
    rows_written: int = 0
    files_written: int = 0
    invalid: int = 0
    commits: int = 0


@dataclass
class _Buffer:
    """Valid swipes read from one partition since its last flush (offsets include invalid ones)."""

    first_offset: int
    last_offset: int
    messages: int = 0
    rows: list[tuple[int, int, float, int, int, str, str]] = field(default_factory=list)


def part_name(topic: str, partition: int, first_offset: int, last_offset: int) -> str:
    """``part-<topic>-<partition>-<first>-<last>.parquet`` (the topic made file-name safe)."""
    return f"part-{_SAFE.sub('_', topic)}-{partition}-{first_offset}-{last_offset}.parquet"


def swipe_row(event: SwipeEvent) -> tuple[int, int, float, int, int, str, str]:
    """(user_id, movie_id, rating, preference, timestamp, event_id, date) of one swipe."""
    at = event.occurred_at
    return (event.user_id, event.movie_id, RATING_OF_BUCKET[event.preference], event.signed_preference,
            int(at.timestamp()), str(event.event_id), at.strftime("%Y-%m-%d"))


def write_parquet_durably(table: pa.Table, path: Path) -> None:
    """Write ``table`` to ``path`` atomically and durably: temp file, fsync, replace, fsync dir."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        pq.write_table(table, f, compression="snappy")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class HistorySink:
    """Consume swipes and append them to ``out_dir`` as date-partitioned Parquet.

    A partition's buffer is written when it holds ``flush_events`` messages (valid or not),
    so count-triggered files cover the same offsets on every run that starts from the same
    committed offset; every buffer is also written ``flush_seconds`` after the oldest
    buffered message arrived, on a partition revocation and when :meth:`run` ends. Each
    write makes one file per (partition, date) and then commits the partition's offset;
    nothing is committed any other way (``enable.auto.commit`` is off). Memory: at most
    ``flush_events`` buffered messages per assigned partition.
    """

    def __init__(self, bootstrap: str | KafkaConnection, topic: str = SWIPES, out_dir: Path = Path(".movierec/history"),
                 group_id: str = "movierec-history-sink", flush_events: int = 10_000,
                 flush_seconds: float = 30.0, *, config: Mapping[str, Any] | None = None) -> None:
        if flush_events < 1 or flush_seconds <= 0:
            raise ValueError("flush_events must be >= 1 and flush_seconds > 0")
        self.topic, self.out_dir = topic, Path(out_dir)
        self.flush_events, self.flush_seconds = flush_events, flush_seconds
        self.stats = SinkStats()
        conf: dict[str, Any] = {"group.id": group_id,
                                "enable.auto.commit": False, "auto.offset.reset": "earliest",
                                "client.id": "movierec-history-sink", "logger": log}
        self._consumer = Consumer(KafkaConnection.of(bootstrap).client_config({**conf, **(config or {})}))
        self._buffers: dict[int, _Buffer] = {}
        self._oldest: float | None = None  # monotonic time the oldest buffered message arrived

    def run(self, max_seconds: float | None = None, stop_event: threading.Event | None = None) -> SinkStats:
        """Consume until ``max_seconds`` pass or ``stop_event`` is set (None/None: forever);
        then flush what is buffered, commit and close the consumer. Returns the counters."""
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        self._consumer.subscribe([self.topic], on_revoke=self._on_revoke, on_lost=self._on_lost)
        log.info("history sink: %s -> %s", self.topic, self.out_dir)
        try:
            while not (stop_event is not None and stop_event.is_set()):
                if deadline is not None and time.monotonic() >= deadline:
                    break
                for msg in self._consumer.consume(num_messages=1000, timeout=0.2):
                    if (full := self._add(msg)) is not None:
                        self.flush([full])
                if self._oldest is not None and time.monotonic() - self._oldest >= self.flush_seconds:
                    self.flush()
            self.flush()
        finally:
            self._consumer.close()
        log.info("history sink stopped: %s", self.stats)
        return self.stats

    def flush(self, partitions: list[int] | None = None) -> None:
        """Write the buffered swipes of ``partitions`` (default: all) and commit their offsets."""
        chosen = sorted(self._buffers) if partitions is None else [p for p in partitions if p in self._buffers]
        offsets = []
        for p in chosen:
            buf = self._buffers.pop(p)
            self._write(p, buf)
            offsets.append(TopicPartition(self.topic, p, buf.last_offset + 1))
        if offsets:
            self._consumer.commit(offsets=offsets, asynchronous=False)
            self.stats.commits += 1
        if not self._buffers:
            self._oldest = None

    def _write(self, partition: int, buf: _Buffer) -> None:
        if not buf.rows:
            return
        frame = pd.DataFrame.from_records(
            buf.rows, columns=["user_id", "movie_id", "rating", "preference", "timestamp", "event_id", "date"])
        name = part_name(self.topic, partition, buf.first_offset, buf.last_offset)
        for date, rows in frame.groupby("date", sort=True):
            table = pa.Table.from_pandas(rows.drop(columns="date"), schema=SCHEMA, preserve_index=False)
            write_parquet_durably(table, self.out_dir / f"date={date}" / name)
            self.stats.files_written += 1
        self.stats.rows_written += len(frame)
        log.debug("wrote %d swipes of %s[%d]@%d-%d", len(frame), self.topic, partition,
                  buf.first_offset, buf.last_offset)

    def _add(self, msg: Message) -> int | None:
        """Buffer one message; returns its partition when that buffer is full."""
        if (err := msg.error()) is not None:
            if err.fatal():
                raise KafkaException(err)
            if err.code() != KafkaError._PARTITION_EOF:
                log.warning("consumer error on %s: %s", self.topic, err)
            return None
        self.stats.messages += 1
        p, offset = msg.partition(), msg.offset()
        buf = self._buffers.get(p)
        if buf is None:
            buf = self._buffers[p] = _Buffer(offset, offset)
            self._oldest = self._oldest or time.monotonic()
        buf.last_offset = offset
        buf.messages += 1
        try:
            buf.rows.append(swipe_row(SwipeEvent.from_bytes(msg.value() or b"")))
        except (ValidationError, ValueError) as exc:
            self.stats.invalid += 1
            log.debug("skipping invalid swipe at %s[%d]@%d: %s", self.topic, p, offset, str(exc).splitlines()[0])
        return p if buf.messages >= self.flush_events else None

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.flush([tp.partition for tp in partitions])

    def _on_lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:  # their offsets are another member's now: drop, the new owner re-reads
            self._buffers.pop(tp.partition, None)
        if not self._buffers:
            self._oldest = None
