"""``stream_app.output``: one delivery future per batch, against the real broker."""
from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from stream_app.delivery import DeliveryError
from stream_app.kafka_config import KafkaConnection
from stream_app.output import LibrdkafkaOutput
from stream_app.routing import key_partition
from tests.stream.reading import read_all


def output_for(bootstrap: str, on_changelog: Callable[[str, dict[int, int]], None], timeout_s: float = 30.0,
               ) -> LibrdkafkaOutput:
    return LibrdkafkaOutput(KafkaConnection.of(bootstrap), linger_s=0.005, max_batch_bytes=16384,
                            timeout_s=timeout_s, client_id="test-output", on_changelog=on_changelog)


@pytest.mark.asyncio
async def test_a_batch_resolves_once_the_broker_has_all_of_it(kafka_bootstrap, topic_factory) -> None:
    lists, changelog = topic_factory("lists", partitions=4), topic_factory("changelog", partitions=4)
    recorded: list[tuple[str, dict[int, int]]] = []
    out = output_for(kafka_bootstrap, lambda topic, offsets: recorded.append((topic, dict(offsets))))
    try:
        for uid in range(1, 41):
            out.send(lists, str(uid).encode(), b"list-%d" % uid)
        for i in range(12):
            out.changelog(changelog, i % 3, b"%d" % i, b"state-%d" % i)
        first = out.seal()
        out.send(lists, b"99", b"second batch")
        second = out.seal()
        assert out.seal() == []  # nothing queued since: nothing to await
        assert len(first) == 1 and len(second) == 1
        assert await asyncio.wait_for(first[0], 30) == 52
        assert await asyncio.wait_for(second[0], 30) == 1
    finally:
        assert out.close(5.0) == 0

    got = read_all(kafka_bootstrap, lists, 41)
    assert sorted(m.value() for m in got) == sorted([b"list-%d" % u for u in range(1, 41)] + [b"second batch"])
    for m in got:  # the Java/faust murmur2 partition of the key, as faust's producer chose before
        assert m.partition() == key_partition(m.key(), 4), m.key()
    states = read_all(kafka_bootstrap, changelog, 12)
    assert {(m.key(), m.partition()) for m in states} == {(b"%d" % i, i % 3) for i in range(12)}
    # the table hears each partition's highest delivered offset, once, when the batch is done
    assert recorded == [(changelog, {p: max(m.offset() for m in states if m.partition() == p) for p in range(3)})]


@pytest.mark.asyncio
async def test_a_batch_the_broker_never_acknowledges_fails() -> None:
    recorded: list = []
    out = output_for("127.0.0.1:1", lambda *a: recorded.append(a), timeout_s=1.0)  # nobody listens there
    try:
        out.send("lists", b"1", b"x")
        out.changelog("changelog", 0, b"1", b"state")
        (fut,) = out.seal()
        with pytest.raises(DeliveryError, match="timed out"):
            await asyncio.wait_for(fut, 20)
    finally:
        out.close(0.1)
    assert recorded == []  # no offset of an undelivered batch reaches the table
