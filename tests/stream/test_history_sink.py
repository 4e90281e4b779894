"""The history sink against the session's broker: durable Parquet, manual commits, dedup on read."""
from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from confluent_kafka import Producer
from typer.testing import CliRunner

from offline.preference import bucket_to_preference, rating_to_bucket
from schemas.events import SwipeEvent
from stream_app.clients import SwipeProducer
from offline.data.history import RATING_OF_BUCKET, SCHEMA, read_history
from stream_app.history_sink import HistorySink, SinkStats, part_name
from tests.ranking import wait_until


def _run_until(sink: HistorySink, messages: int, timeout: float = 20.0) -> SinkStats:
    """Run ``sink`` until it has read ``messages`` messages (or ``timeout`` s), then stop it."""
    stop = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + timeout
        while sink.stats.messages < messages and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()

    threading.Thread(target=watch, daemon=True).start()
    return sink.run(max_seconds=timeout, stop_event=stop)


def test_representative_rating_maps_back_to_the_same_bucket() -> None:
    buckets = np.array(sorted(RATING_OF_BUCKET))
    ratings = np.array([RATING_OF_BUCKET[b] for b in buckets], dtype=np.float32)
    assert rating_to_bucket(ratings).tolist() == buckets.tolist() == [1, 2, 3, 4]
    assert bucket_to_preference(rating_to_bucket(ratings)).tolist() == [-2, -1, 1, 2]


def test_read_history_of_an_empty_folder_has_the_schema(tmp_path: Path) -> None:
    frame = read_history(tmp_path / "nothing")
    assert frame.empty and list(frame.columns) == SCHEMA.names


def _swipes(n: int, day: int) -> list[SwipeEvent]:
    at = datetime(2024, 3, day, 12, 0, tzinfo=timezone.utc)
    return [SwipeEvent(user_id=i % 3, movie_id=10 + i, preference=1 + i % 4, occurred_at=at) for i in range(n)]


@pytest.mark.integration
def test_sink_writes_valid_swipes_commits_and_dedups(kafka_bootstrap: str, topic_factory: Callable[..., str],
                                                    tmp_path: Path) -> None:
    topic = topic_factory("swipes", partitions=2)
    sent = _swipes(5, day=1) + _swipes(4, day=2)
    with SwipeProducer(kafka_bootstrap, topic) as producer:
        for event in sent:
            producer.send(event)
    raw = Producer({"bootstrap.servers": kafka_bootstrap})
    raw.produce(topic, key=b"1", value=b"not json")
    raw.produce(topic, key=b"1", value=b'{"user_id": -5, "movie_id": 1, "preference": 9}')
    assert raw.flush(10) == 0
    group, out = f"sink-{uuid.uuid4().hex[:8]}", tmp_path / "history"

    stats = _run_until(HistorySink(kafka_bootstrap, topic, out, group_id=group, flush_events=4), 11)
    assert stats.files_written >= 3  # 2 dates and 2 partitions, with flushes every 4 messages
    assert (stats.messages, stats.rows_written, stats.invalid) == (11, 9, 2)
    files = sorted(out.glob("date=*/part-*.parquet"))
    assert {f.parent.name for f in files} == {"date=2024-03-01", "date=2024-03-02"}
    assert not list(out.rglob(".*.tmp"))
    assert all(pq.read_schema(f).equals(SCHEMA, check_metadata=False) for f in files)

    history = read_history(out)
    assert sorted(history["event_id"]) == sorted(str(e.event_id) for e in sent)
    row = history.set_index("event_id").loc[str(sent[3].event_id)]
    assert (row["user_id"], row["movie_id"], row["preference"]) == (sent[3].user_id, sent[3].movie_id, 2)
    assert row["rating"] == pytest.approx(5.0) and row["timestamp"] == int(sent[3].occurred_at.timestamp())
    numeric = history.drop(columns="event_id").dtypes.astype(str).to_dict()
    assert numeric == {"user_id": "int64", "movie_id": "int64", "rating": "float32", "preference": "int8",
                       "timestamp": "int64"}

    # A replay after a "crash" (a new group re-reads everything) rewrites the same files.
    replay = _run_until(HistorySink(kafka_bootstrap, topic, out, group_id=group + "-replay", flush_events=4), 11)
    assert replay.rows_written == 9 and sorted(out.glob("date=*/part-*.parquet")) == files
    assert len(read_history(out)) == len(sent)

    # Committed: the same group reads only what is new, into a new file.
    with SwipeProducer(kafka_bootstrap, topic) as producer:
        extra = producer.send(user_id=1, movie_id=99, preference=3)
    again = _run_until(HistorySink(kafka_bootstrap, topic, out, group_id=group), 1)
    assert (again.messages, again.rows_written, again.files_written) == (1, 1, 1)
    history = read_history(out)
    assert len(history) == len(sent) + 1 and str(extra.event_id) in set(history["event_id"])

def test_part_name_is_deterministic_and_file_safe() -> None:
    assert part_name("swipes.v1", 3, 10, 42) == "part-swipes.v1-3-10-42.parquet"
    assert part_name("a/b c", 0, 0, 0) == "part-a_b_c-0-0-0.parquet"


@pytest.mark.integration
def test_sink_cli_writes_then_stops_and_flushes(kafka_bootstrap: str, topic_factory: Callable[..., str],
                                                tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI writes the swipe, and on a stop (what SIGINT/SIGTERM set) flushes, commits and
    reports; then ``--seconds`` alone ends a run. Stopped on a condition, not after a fixed
    time that a slow machine may need all of for joining the group."""
    import typer

    from movierec_cli.sink_cmd import sink

    topic, group = topic_factory("swipes"), f"cli-{uuid.uuid4().hex[:8]}"
    with SwipeProducer(kafka_bootstrap, topic) as producer:
        producer.send(user_id=4, movie_id=7, preference=4)
    monkeypatch.setenv("MOVIEREC_SWIPES_TOPIC", topic)
    running: list[tuple[HistorySink, threading.Event | None]] = []  # the CLI's sink and its stop event
    real_run = HistorySink.run

    def run(self: HistorySink, max_seconds: float | None = None,
            stop_event: threading.Event | None = None) -> SinkStats:
        running.append((self, stop_event))
        return real_run(self, max_seconds, stop_event)

    monkeypatch.setattr(HistorySink, "run", run)

    def stop_once_written() -> None:
        try:
            wait_until(lambda: running and running[0][0].stats.rows_written >= 1, timeout=60, interval=0.05,
                       message="the swipe written")
        except AssertionError:
            return  # the CLI's --seconds ends it; the asserts below fail
        stop = running[0][1]
        assert stop is not None
        stop.set()

    watcher = threading.Thread(target=stop_once_written, daemon=True)
    watcher.start()
    app = typer.Typer()
    app.command()(sink)
    args = ["--bootstrap", kafka_bootstrap, "--out", str(tmp_path), "--group", group, "--flush-seconds", "1"]
    t0 = time.monotonic()
    result = CliRunner().invoke(app, [*args, "--seconds", "120"])
    watcher.join(5)
    assert result.exit_code == 0, result.output
    assert time.monotonic() - t0 < 100, "the sink was not stopped once it had written the swipe"
    assert len(read_history(tmp_path)) == 1 and "rows written" in result.output

    # nothing new for the committed group: a short --seconds run ends by itself and adds nothing
    again = CliRunner().invoke(app, [*args, "--seconds", "0.5"])
    assert again.exit_code == 0, again.output
    assert running[-1][0].stats.rows_written == 0
    assert len(read_history(tmp_path)) == 1
