"""Play events through the real broker and a real worker; score what the worker published.

The worker applies a batch and publishes one list per user per batch, so to see a list
after every event a user's next swipe is sent only once the list caused by their previous
swipe (``cause_event_id``) has arrived, or the previous swipe came back on the DLQ. Users
are pipelined: every user has one swipe in flight. The list before a user's first swipe is
their initial list, computed locally from the same artifact and settings
(``local.initial_lists``: what the worker serves a user without table state).
"""
from __future__ import annotations

import logging
import re
import socket
import time
import urllib.request
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from confluent_kafka import Consumer

from replay.events import ReplayEvents
from replay.local import IdList, PlayResult, pad
from schemas.events import DeadLetter, SwipeEvent
from stream_app.clients import RecommendationConsumer, SwipeProducer
from stream_app.kafka_config import KafkaConnection
from stream_app.runner import WorkerProcess

log = logging.getLogger(__name__)
_COUNTER = re.compile(r'^movierec_swipes_total\{outcome="(\w+)"\}\s+([0-9.eE+]+)$', re.M)


class ReplayStalled(RuntimeError):
    """No list or dead letter arrived for too long."""


@dataclass(frozen=True)
class KafkaOptions:
    """Where and how the worker runs.

    Attributes:
        bootstrap: the broker's host:port, or a KafkaConnection (TLS/SASL) the worker uses too.
        work_dir: worker log and RocksDB data directory (a fresh one per run is best).
        partitions: of the run's topics (created fresh, uuid-named).
        batch_size: the worker's ``batch_size``.
        stall_s: abort when nothing arrives for this long.
        drain_s: after the last list, keep reading this long to catch duplicates.
    """

    bootstrap: str | KafkaConnection
    work_dir: Path
    partitions: int = 4
    batch_size: int = 64
    stall_s: float = 90.0
    drain_s: float = 2.0

    @property
    def connection(self) -> KafkaConnection:
        return KafkaConnection.of(self.bootstrap)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the worker's web port)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def worker_env(opts: KafkaOptions, artifacts: Path, version: str, strategy: str, history: str,
               settings_env: dict[str, str], top_n: int) -> dict[str, str]:
    """A worker's settings on fresh topics, app id, data dir and web port."""
    run = uuid.uuid4().hex[:10]
    return {**opts.connection.worker_env(), "ARTIFACTS": str(artifacts), "ARTIFACT_VERSION": version,
            "STRATEGY": strategy, "HISTORY": history, "TOP_N": str(top_n), "BATCH_SIZE": str(opts.batch_size),
            "SWIPES_TOPIC": f"replay-swipes-{run}", "RECOMMENDATIONS_TOPIC": f"replay-recs-{run}",
            "DLQ_TOPIC": f"replay-dlq-{run}", "APP_ID": f"movierec-replay-{run}",
            "DATA_DIR": str(opts.work_dir / f"faust-{run}"), "WEB_PORT": str(free_port()),
            "PARTITIONS": str(opts.partitions), "STORE": "rocksdb://", **settings_env}


def worker_counters(port: int) -> dict[str, float]:
    """The worker's own ``movierec_swipes_total`` by outcome, from its /metrics page."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError as exc:
        log.warning("could not read the worker's metrics: %s", exc)
        return {}
    return {name: float(v) for name, v in _COUNTER.findall(text)}


def play_kafka(strategy: str, events: ReplayEvents, initial: dict[int, IdList], n: int, env: dict[str, str],
               opts: KafkaOptions, progress: Callable[[int], None] | None = None) -> PlayResult:
    """Start a worker with ``env``, play ``events`` through it, stop it.

    Returns a PlayResult whose ``extra`` holds the accounting: sent, lists (distinct events
    that caused a list), dead_lettered, duplicates (lists or letters beyond the first per
    event), unknown (lists for no replayed event), missing, events_per_second and the
    worker's own counters (``worker_applied`` ...).
    """
    Path(env["DATA_DIR"]).mkdir(parents=True, exist_ok=True)
    worker = WorkerProcess(env, opts.work_dir / f"worker-{env['APP_ID']}.log")
    worker.start()
    try:
        return _play(strategy, events, initial, n, worker, opts, progress)
    finally:
        worker.stop()


def _play(strategy: str, events: ReplayEvents, initial: dict[int, IdList], n: int, worker: WorkerProcess,
          opts: KafkaOptions, progress: Callable[[int], None] | None) -> PlayResult:
    env = worker.env
    index = {eid: i for i, eid in enumerate(events.event_ids)}
    queues: dict[int, deque[int]] = {}
    for i, u in enumerate(events.user_ids.tolist()):
        queues.setdefault(u, deque()).append(i)
    before = np.full((len(events), n), -1, dtype=np.int64)
    current = {u: initial[u] for u in queues}
    done = np.zeros(len(events), dtype=np.int8)  # 0 pending, 1 list, 2 dead letter
    counts = {"duplicates": 0, "unknown": 0}
    dlq = Consumer(opts.connection.client_config({"group.id": f"replay-dlq-{uuid.uuid4().hex}",
                                                  "auto.offset.reset": "earliest", "enable.auto.commit": False}))
    dlq.subscribe([env["DLQ_TOPIC"]])
    with SwipeProducer(opts.connection, env["SWIPES_TOPIC"], config={"linger.ms": 1}) as producer, \
            RecommendationConsumer(opts.connection, env["RECOMMENDATIONS_TOPIC"]) as consumer:

        def send_next(user: int) -> None:
            if queues[user]:
                i = queues[user].popleft()
                before[i] = current[user]
                producer.send(events.swipe(i))

        def finish(i: int, outcome: int, ids: IdList | None) -> None:
            if done[i]:
                counts["duplicates"] += 1
                return
            done[i] = outcome
            user = int(events.user_ids[i])
            if ids is not None:
                current[user] = ids
            if progress is not None:
                progress(1)
            send_next(user)

        t0 = time.perf_counter()
        for user in queues:
            send_next(user)
        last = time.monotonic()
        remaining = len(events)
        while remaining:
            rl = consumer.poll(0.05)
            if rl is not None:
                i = index.get(rl.cause_event_id) if rl.cause_event_id is not None else None
                if i is None:
                    counts["unknown"] += 1
                else:
                    remaining -= not done[i]
                    finish(i, 1, pad((it.movie_id for it in rl.items), n))
                    last = time.monotonic()
            for msg in dlq.consume(100, 0):
                if msg.error() is None:
                    i = index.get(_dead_event_id(msg.value()))
                    if i is None:
                        counts["unknown"] += 1
                    else:
                        remaining -= not done[i]
                        finish(i, 2, None)
                        last = time.monotonic()
            if time.monotonic() - last > opts.stall_s:
                log.error("replay stalled: %d events without a list or dead letter", remaining)
                break
        seconds = time.perf_counter() - t0
        drain_until = time.monotonic() + opts.drain_s
        while time.monotonic() < drain_until:
            if (rl := consumer.poll(0.1)) is not None:
                i = index.get(rl.cause_event_id) if rl.cause_event_id is not None else None
                counts["duplicates" if i is not None and done[i] else "unknown"] += 1
    dlq.close()
    counters = worker_counters(int(env["WEB_PORT"]))
    sent = int(len(events) - sum(len(q) for q in queues.values()))
    extra = {"sent": float(sent), "lists": float((done == 1).sum()), "dead_lettered": float((done == 2).sum()),
             "duplicates": float(counts["duplicates"]), "unknown": float(counts["unknown"]),
             "missing": float((done == 0).sum()), "events_per_second": len(events) / seconds if seconds else 0.0,
             **{f"worker_{k}": v for k, v in counters.items()}}
    log.info("%s via kafka: %d events in %.1fs (%.0f/s), %s", strategy, len(events), seconds,
             extra["events_per_second"], extra)
    if extra["missing"]:
        raise ReplayStalled(f"{int(extra['missing'])} of {len(events)} events got neither a list nor a dead "
                            f"letter within {opts.stall_s:.0f}s of the last one: {extra}; worker log {worker.log_path}")
    return PlayResult(strategy, before, current, int(counters.get("applied", extra["lists"])),
                      int(counters.get("duplicate", 0)), int(extra["dead_lettered"]), seconds, "kafka", extra)


def _dead_event_id(raw: bytes | None) -> uuid.UUID | None:
    """The event id inside a dead letter's original message, if it parses."""
    try:
        return SwipeEvent.from_bytes(DeadLetter.from_bytes(raw or b"").raw).event_id
    except ValueError:
        return None
