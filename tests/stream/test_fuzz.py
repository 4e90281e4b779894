"""Fuzzing the swipe door: 5,000 byte- and token-mutated swipes (seeded), each one accounted
for as applied, duplicate or dead-lettered; nothing lax gets through (no coerced ids or
preferences, no future dates, no ids past 64 bits) and nothing stops the stream.

``test_process_batch_survives_and_accounts_for_every_mutation`` runs ``process_batch`` directly
(fast); ``test_worker_survives_the_fuzz`` sends the same kind of messages through the broker
to a real worker and reads its metrics and dead letter topic.
"""
from __future__ import annotations

import json
import random
import re
import time
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer

from offline.artifacts import load_version
from offline.recommender import Recommender
from schemas.events import MAX_ID, DeadLetter, SwipeEvent
from stream_app.processing import Incoming, process_batch
from stream_app.user_state import UserState

SEED = 20240906
N = 5000
SKEW = 300.0
MOVIES = (1, 2, 260, 296, 318, 356, 480, 527, 589, 593, 1196, 2571, 2959)
USERS = (1, 2, 3, 4, 5, 40_000_001, 40_000_002, 40_000_003)
NASTY_NUMBERS = (b'"7"', b'"4"', b"true", b"false", b"null", b"7.0", b"4.0", b"7e0", b"4.5", b"-1", b"0", b"-0",
                 b"1e400", b"NaN", b"Infinity", b"9223372036854775807", b"9223372036854775808",
                 b"99999999999999999999999", b"[]", b"{}", b'""', b"0x7", b"+4", b"07")
NASTY_TIMES = (b'"9999-12-31T23:59:59Z"', b'"2999-01-01T00:00:00+00:00"', b'"1994-12-31T23:59:59Z"',
               b'"1996-03-29T18:36:55Z"', b'"1970-01-01T00:00:00Z"', b'"2024-01-01T00:00:00"', b"1700000000",
               b'"1700000000"', b'"not a date"', b"null", b"true")
FIELD = re.compile(rb'"(user_id|movie_id|preference|occurred_at|schema_version|event_id)":("[^"]*"|[^,}]*)')


def base_swipes(rng: random.Random, now: datetime) -> list[SwipeEvent]:
    """Valid swipes of a few known and new users, dated a day ago, with seeded event ids."""
    return [SwipeEvent(event_id=uuid.UUID(int=rng.getrandbits(128), version=4), user_id=rng.choice(USERS),
                       movie_id=rng.choice(MOVIES), preference=rng.randint(1, 4),
                       occurred_at=now - timedelta(days=1, seconds=rng.uniform(0, 3600)))
            for _ in range(40)]


def mutate(rng: random.Random, raw: bytes, now: datetime) -> bytes:
    """1-3 mutations: a bit flip, byte replace/insert/delete, truncation, a repeated chunk, a
    digit change, a field's value swapped for a nasty token, or none at all (a redelivery)."""
    data = bytearray(raw)
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(10)
        i = rng.randrange(len(data)) if data else 0
        if not data or op == 0:  # unchanged: the event id repeats, so a duplicate
            continue
        if op == 1:
            data[i] ^= 1 << rng.randrange(8)
        elif op == 2:
            data[i] = rng.randrange(256)
        elif op == 3:
            data.insert(i, rng.randrange(256))
        elif op == 4:
            del data[i]
        elif op == 5:
            del data[rng.randrange(len(data)):]
        elif op == 6:
            j = min(len(data), i + rng.randint(1, 12))
            data[j:j] = data[i:j]
        elif op == 7:
            digits = [k for k, b in enumerate(data) if chr(b).isdigit()]
            if digits:
                data[rng.choice(digits)] = ord(str(rng.randrange(10)))
        else:
            fields = list(FIELD.finditer(bytes(data)))
            if fields:
                m = rng.choice(fields)
                if m.group(1) == b"occurred_at" and rng.random() < 0.5:  # near the skew bound, either side
                    ahead = rng.choice((-SKEW * 2, SKEW / 3, SKEW * 3, 86400.0))
                    value = json.dumps((now + timedelta(seconds=ahead)).isoformat()).encode()
                else:
                    value = rng.choice(NASTY_TIMES if m.group(1) == b"occurred_at" else NASTY_NUMBERS)
                data[m.start(2):m.end(2)] = value
    return bytes(data)


def fuzz_messages(seed: int, n: int, now: datetime) -> Iterator[tuple[bytes, bytes]]:
    """``n`` (key, value) pairs: the base swipe's key, a mutated value."""
    rng = random.Random(seed)
    bases = base_swipes(rng, now)
    for _ in range(n):
        base = rng.choice(bases)
        yield str(base.user_id).encode(), mutate(rng, base.to_bytes(), now)


def strictly_valid(key: bytes | None, value: bytes, now: datetime) -> str | None:
    """None when an accepted swipe is plausible; otherwise what a lax door let through."""
    try:
        d = json.loads(value)
    except ValueError:
        return "not JSON"
    if not isinstance(d, dict):
        return "not an object"
    for name, lo, hi in (("user_id", 0, MAX_ID), ("movie_id", 1, MAX_ID), ("preference", 1, 4)):
        v = d.get(name)
        if type(v) is not int or not lo <= v <= hi:
            return f"{name}={v!r}"
    if type(d.get("schema_version", 1)) is not int:
        return f"schema_version={d['schema_version']!r}"
    if key is not None and key != str(d["user_id"]).encode():
        return f"key {key!r} for user {d['user_id']}"
    at = d.get("occurred_at")
    if not isinstance(at, str):
        return f"occurred_at={at!r}"
    t = datetime.fromisoformat(at)
    if t.tzinfo is None or t < datetime(1995, 1, 1, tzinfo=timezone.utc) or (t - now).total_seconds() > SKEW:
        return f"occurred_at={at}"
    return None


@pytest.fixture(scope="module")
def recommender(small_artifacts: Path) -> Recommender:
    return Recommender.from_artifact(load_version(small_artifacts), strategy="foldin")


def test_process_batch_survives_and_accounts_for_every_mutation(recommender: Recommender) -> None:
    now = datetime.now(timezone.utc)
    pairs = list(fuzz_messages(SEED, N, now))
    rng = random.Random(SEED + 1)  # one message in ten without a key: the contract alone guards the id
    pairs = [(None if rng.random() < 0.1 else k, v) for k, v in pairs]
    table: dict[int, bytes] = {}  # the user-states table, as bytes like the real one
    applied = duplicates = 0
    dead: dict[int, DeadLetter] = {}
    for start in range(0, N, 128):
        batch = [Incoming(v, "swipes", 0, start + j, k) for j, (k, v) in enumerate(pairs[start:start + 128])]
        result = process_batch(recommender, batch, lambda uid: UserState.from_bytes(table[uid]) if uid in table
                               else None, 10, SKEW)
        for uid, state in result.states.items():
            table[uid] = state.to_bytes()
        for rl in result.lists:
            rl.to_bytes()  # what the worker publishes must serialise
        for i, letter in result.dead_letters:
            assert start + i not in dead and letter.raw == batch[i].value and letter.error
            letter.to_bytes()
            dead[start + i] = letter
        applied, duplicates = applied + result.applied, duplicates + result.duplicates
    assert applied + duplicates + len(dead) == N
    assert applied and duplicates and len(dead) > N / 4, (applied, duplicates, len(dead))
    let_through = {i: why for i, (k, v) in enumerate(pairs) if i not in dead
                   and (why := strictly_valid(k, v, now)) is not None}
    assert not let_through, f"{len(let_through)} lax acceptances, e.g. " + "; ".join(
        f"{pairs[i][1][:120]!r}: {why}" for i, why in list(let_through.items())[:5])
    reasons = " ".join(d.error for d in dead.values())
    assert "ahead of this clock" in reasons and "valid integer" in reasons and "1995" in reasons


def _metrics(port: str) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    return {m[1]: float(m[2]) for m in re.finditer(r'^movierec_swipes_total\{outcome="(\w+)"\} (\S+)$', text, re.M)
}


@pytest.mark.integration
def test_worker_survives_the_fuzz(worker_factory, kafka_bootstrap: str) -> None:
    """5,000 mutated swipes through the broker: applied + duplicate + dead-lettered == sent, the
    dead letter topic holds exactly the dead-lettered ones, and the worker still serves. Two
    canaries check that the worker honours ``MAX_CLOCK_SKEW`` (2 h here): a swipe 1 h ahead is
    applied, one 3 h ahead is dead-lettered."""
    worker = worker_factory(max_clock_skew=7200)
    now = datetime.now(timezone.utc)
    pairs = list(fuzz_messages(SEED + 2, N, now))
    soon, late = (SwipeEvent(user_id=40_000_009, movie_id=260, preference=4, occurred_at=now + timedelta(hours=h))
                  for h in (1, 3))
    pairs += [(b"40000009", soon.to_bytes()), (b"40000009", late.to_bytes())]
    # murmur2: the partition of the key, as faust picks it (no message needs forwarding)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "linger.ms": 20, "partitioner": "murmur2_random"})
    for key, value in pairs:
        producer.produce(worker.env["SWIPES_TOPIC"], key=key, value=value)
    assert producer.flush(30) == 0
    deadline, counts, outcomes = time.monotonic() + 180, {}, ("applied", "duplicate", "dead_lettered")
    while time.monotonic() < deadline:
        counts = _metrics(worker.env["WEB_PORT"])
        if sum(counts.get(k, 0) for k in outcomes) >= len(pairs):
            break
        time.sleep(1)
    assert sum(counts.get(k, 0) for k in outcomes) == len(pairs) and worker.running, counts
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": uuid.uuid4().hex,
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([worker.env["DLQ_TOPIC"]])
    letters: list[DeadLetter] = []
    deadline = time.monotonic() + 60
    while len(letters) < counts["dead_lettered"] and time.monotonic() < deadline:
        for msg in consumer.consume(500, 0.5):
            if msg.error() is None:
                letters.append(DeadLetter.from_bytes(msg.value()))
    consumer.close()
    assert len(letters) == counts["dead_lettered"] and counts["applied"] and counts["duplicate"], counts
    sent = {value for _, value in pairs}
    assert all(d.raw in sent and d.error for d in letters)
    by_raw = {d.raw: d.error for d in letters}
    assert soon.to_bytes() not in by_raw and "ahead of this clock" in by_raw[late.to_bytes()]
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.env['WEB_PORT']}/users/1/recommendations",
                                timeout=10) as resp:
        assert resp.status == 200 and json.loads(resp.read())["items"]
