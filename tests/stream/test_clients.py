"""SwipeProducer and RecommendationConsumer against the session's broker."""
from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable

import pytest
from confluent_kafka import Producer
from pydantic import ValidationError

from schemas.events import RecommendationList, SwipeEvent
from stream_app.admin import ensure_topics
from stream_app.clients import RecommendationConsumer, SwipeProducer
from tests.stream.reading import read_all

pytestmark = pytest.mark.integration


def _produce_raw(bootstrap: str, topic: str, items: list[tuple[bytes, bytes | None]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for key, value in items:
        producer.produce(topic, key=key, value=value)
    assert producer.flush(20) == 0


def _rec_list(user_id: int, movie_ids: list[int], **fields) -> RecommendationList:
    scores = [1.0 - 0.1 * i for i in range(len(movie_ids))]
    return RecommendationList.from_ranked(user_id, movie_ids, scores, model_version="test-1",
                                          strategy="foldin", **fields)


def test_swipes_arrive_keyed_by_user_as_json(kafka_bootstrap: str, topic_factory: Callable[..., str]) -> None:
    topic = topic_factory("swipes", partitions=2)
    given = SwipeEvent(user_id=8, movie_id=50, preference=1)
    with SwipeProducer(kafka_bootstrap, topic) as producer:
        sent = [producer.send(user_id=7, movie_id=318, preference=4), producer.send(given),
                producer.send(user_id=7, movie_id=296, preference=2)]
    assert sent[1] is given
    messages = read_all(kafka_bootstrap, topic, 3)
    assert len(messages) == 3
    by_id = {SwipeEvent.from_bytes(m.value()).event_id: m for m in messages}
    assert set(by_id) == {e.event_id for e in sent}
    for event in sent:
        msg = by_id[event.event_id]
        assert msg.key() == str(event.user_id).encode()
        assert json.loads(msg.value())["preference"] == event.preference
        assert SwipeEvent.from_bytes(msg.value()) == event
    user7 = {by_id[e.event_id].partition() for e in sent if e.user_id == 7}
    assert len(user7) == 1  # one user, one partition


def test_swipes_land_in_the_partition_faust_computes_for_the_key(kafka_bootstrap: str,
                                                                 topic_factory: Callable[..., str]) -> None:
    """The worker's POST /swipes (aiokafka) and table routing hash keys with Java's murmur2:
    the app's producer must too, or one user's swipes and state split across partitions."""
    from aiokafka.partitioner import DefaultPartitioner

    topic = topic_factory("swipes", partitions=4)
    with SwipeProducer(kafka_bootstrap, topic) as producer:
        for user in range(60):
            producer.send(user_id=user, movie_id=1, preference=3)
    got = {int(m.key()): m.partition() for m in read_all(kafka_bootstrap, topic, 60)}
    want = {u: DefaultPartitioner()(str(u).encode(), [0, 1, 2, 3], [0, 1, 2, 3]) for u in range(60)}
    assert len(got) == 60 and got == want


def test_invalid_swipes_are_refused_before_sending(kafka_bootstrap: str) -> None:
    with SwipeProducer(kafka_bootstrap, f"never-{uuid.uuid4().hex[:8]}") as producer:
        with pytest.raises(ValidationError):
            producer.send(user_id=1, movie_id=2, preference=5)
        with pytest.raises(TypeError):
            producer.send(SwipeEvent(user_id=1, movie_id=2, preference=3), preference=4)


def test_consumer_parses_lists_and_skips_malformed(kafka_bootstrap: str, topic_factory: Callable[..., str],
                                                  caplog: pytest.LogCaptureFixture) -> None:
    topic = topic_factory("recs")
    first, second, other = _rec_list(5, [1, 2, 3]), _rec_list(5, [3, 1]), _rec_list(6, [9])
    bad_ranks = json.loads(first.to_bytes())
    bad_ranks["items"][0]["rank"] = 3
    _produce_raw(kafka_bootstrap, topic, [
        (b"5", first.to_bytes()), (b"5", b"not json"), (b"5", b'{"user_id": 5}'),
        (b"5", json.dumps(bad_ranks).encode()), (b"5", None), (b"6", other.to_bytes()), (b"5", second.to_bytes()),
    ])
    with caplog.at_level(logging.WARNING, logger="stream_app.clients"):
        with RecommendationConsumer(kafka_bootstrap, topic) as consumer:
            got = _take(consumer, 3, timeout=20.0)
    assert got == [first, other, second]
    assert sum("malformed" in r.message for r in caplog.records) == 4


def _take(consumer: RecommendationConsumer, n: int, timeout: float) -> list[RecommendationList]:
    out: list[RecommendationList] = []
    for item in consumer.stream(timeout):
        out.append(item)
        if len(out) == n:
            break
    return out


def test_latest_for_returns_the_users_newest_list(kafka_bootstrap: str, topic_factory: Callable[..., str]) -> None:
    topic = topic_factory("recs", partitions=2)
    cause = uuid.uuid4()
    lists = [_rec_list(5, [1, 2]), _rec_list(6, [4]), _rec_list(5, [2, 1], cause_event_id=cause), _rec_list(6, [5])]
    _produce_raw(kafka_bootstrap, topic, [(str(r.user_id).encode(), r.to_bytes()) for r in lists])
    with RecommendationConsumer(kafka_bootstrap, topic) as consumer:
        t0 = time.monotonic()
        assert consumer.latest_for(5, timeout=20.0) == lists[2]
        assert time.monotonic() - t0 < 15  # returns once caught up, not at the timeout
    with RecommendationConsumer(kafka_bootstrap, topic) as consumer:
        assert consumer.latest_for(5, timeout=20.0, cause_event_id=cause) == lists[2]
    with RecommendationConsumer(kafka_bootstrap, topic) as consumer:
        assert consumer.latest_for(99, timeout=3.0) is None


def test_ensure_topics_is_idempotent(kafka_bootstrap: str) -> None:
    name = f"ensure-{uuid.uuid4().hex[:12]}"
    assert ensure_topics(kafka_bootstrap, {name: 3}) == [name]
    assert ensure_topics(kafka_bootstrap, {name: 3}) == []
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    assert len(admin.list_topics(name, timeout=10).topics[name].partitions) == 3
    admin.delete_topics([name], operation_timeout=10, request_timeout=15)[name].result(timeout=30)
