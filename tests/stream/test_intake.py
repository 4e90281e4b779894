"""``stream_app.intake``: fetched messages handed to the streams one chunk at a time, with the
rebalance guard of faust's per-message hand-over (no broker: the consumer is never started)."""
from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from faust.types import TP

from stream_app.intake import ChunkedConsumer, MovieRecApp

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def make_consumer(tmp_path: Path):
    """Factory: a ``ChunkedConsumer`` of a fresh app whose callback records what it is given."""
    made = itertools.count()

    def make(on_message=None) -> tuple[ChunkedConsumer, list[tuple[TP, int]]]:
        n = next(made)
        app = MovieRecApp(f"intake-{n}", broker="kafka://127.0.0.1:1", store="memory://",
                          datadir=str(tmp_path / f"app-{n}"))
        consumer = app.consumer
        delivered: list[tuple[TP, int]] = []

        async def callback(message) -> None:
            delivered.append((message.tp, message.offset))
            if on_message is not None:
                await on_message(consumer, message)

        consumer.callback = callback
        return consumer, delivered

    return make


def message(tp: TP, offset: int) -> SimpleNamespace:
    return SimpleNamespace(tp=tp, topic=tp.topic, partition=tp.partition, offset=offset, key=b"k", value=b"v")


A, B = TP("swipes", 0), TP("swipes", 1)


def test_the_app_consumes_through_the_chunked_consumer(make_consumer) -> None:
    consumer, _ = make_consumer()
    assert type(consumer) is ChunkedConsumer
    assert type(consumer)._drain_messages is not type(consumer).__mro__[1]._drain_messages


def test_the_worker_app_is_a_movierec_app(tmp_path: Path) -> None:
    code = "import stream_app.app as w; print(type(w.app).__name__, type(w.app.consumer).__name__)"
    data_dir = tmp_path / "not" / "yet"
    env = {**os.environ, "MOVIEREC_DATA_DIR": str(data_dir), "MOVIEREC_STORE": "memory://"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["MovieRecApp", "ChunkedConsumer"]
    assert not data_dir.parent.exists(), "importing the app created its data directory (the worker's start does)"


@pytest.mark.asyncio
async def test_a_chunk_is_delivered_in_order_with_read_offsets(make_consumer) -> None:
    consumer, delivered = make_consumer()
    chunk = [(A, 0), (B, 5), (A, 1), (B, 6)] + [(A, i) for i in range(2, 250)]  # > 100: yields on the way
    await consumer._deliver([(tp, message(tp, off)) for tp, off in chunk])
    assert delivered == chunk
    assert consumer._read_offset[A] == 249 and consumer._read_offset[B] == 6


@pytest.mark.asyncio
async def test_a_message_behind_the_read_offset_is_dropped(make_consumer) -> None:
    consumer, delivered = make_consumer()
    consumer._read_offset[A] = 10
    await consumer._deliver([(A, message(A, 9)), (A, message(A, 11))])
    assert delivered == [(A, 11)]


@pytest.mark.asyncio
async def test_a_suspended_flow_abandons_the_rest_of_the_chunk(make_consumer) -> None:
    async def block_on_third(consumer: ChunkedConsumer, msg) -> None:
        if msg.offset == 2:  # a rebalance starts while this delivery waits on a full stream queue
            consumer.suspend_flow.set()
            await asyncio.sleep(30)

    consumer, delivered = make_consumer(block_on_third)
    chunk = [(A, message(A, i)) for i in range(6)]
    await asyncio.wait_for(consumer.wait_first(consumer._deliver(chunk), consumer.suspend_flow.wait()), 5)
    await asyncio.sleep(0)
    assert delivered == [(A, 0), (A, 1), (A, 2)]  # the rest are fetched again after the rebalance
    assert consumer._read_offset[A] == 1
