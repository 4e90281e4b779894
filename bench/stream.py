"""Stream benchmark through the real broker: sustained swipes/s and end-to-end latency.

    .venv/bin/python bench/stream.py --artifacts bench/out/artifacts-small
    .venv/bin/python bench/stream.py --artifacts bench/out/artifacts-ml20m --events 20000

Phase 1 (throughput): N swipes produced as fast as possible; the rate is N over the time until
the worker's own counter (/metrics) shows all of them applied.
Phase 2 (latency): an open-loop load at a fixed rate; latency = time a downstream consumer
receives the list caused by a swipe − the swipe's ``occurred_at`` (set when it is sent).
A swipe whose list was merged into a later one of the same user in one batch has no list of
its own; those are counted, not timed.
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import urllib.request
import uuid
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

# bench/offline.py would shadow the `offline` package when this folder is sys.path[0]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from offline.artifacts import load_version  # noqa: E402
from schemas.events import RecommendationList, SwipeEvent  # noqa: E402
from stream_app import local_kafka  # noqa: E402
from stream_app.clients import SwipeProducer  # noqa: E402
from stream_app.runner import WorkerProcess  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"


def scrape(port: int) -> dict[str, float]:
    """The worker's Prometheus samples (name{labels} -> value)."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30).read().decode()
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line and not line.startswith("#")}


def applied(port: int) -> float:
    return scrape(port).get('movierec_swipes_total{outcome="applied"}', 0.0)


def make_events(art, n: int, rng: np.random.Generator, new_user_share: float = 0.1) -> list[tuple[int, int, int]]:
    users = art.arrays["user_ids"]
    pop = art.tables["popularity"]["count"].to_numpy(np.float64) + 1.0
    movies = rng.choice(art.arrays["movie_ids"], size=n, p=pop / pop.sum())
    u = rng.choice(users, size=n)
    new = rng.random(n) < new_user_share
    u = np.where(new, 50_000_000 + rng.integers(0, 5000, n), u)
    prefs = rng.choice([1, 2, 3, 4], size=n, p=[0.1, 0.2, 0.4, 0.3])
    return list(zip(u.tolist(), movies.tolist(), prefs.tolist()))


class ListListener(threading.Thread):
    """Consumes the recommendations topic and records receive times by cause event id."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        super().__init__(daemon=True)
        from confluent_kafka import Consumer

        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex[:8]}",
                                  "auto.offset.reset": "latest", "enable.auto.commit": False})
        self.consumer.subscribe([topic])
        self.received: dict[uuid.UUID, float] = {}
        self.stop_flag = threading.Event()
        self.assigned = threading.Event()

    def run(self) -> None:
        while not self.stop_flag.is_set():
            msg = self.consumer.poll(0.1)
            if self.consumer.assignment():
                self.assigned.set()
            if msg is None or msg.error():
                continue
            now = time.time()
            rl = RecommendationList.from_bytes(msg.value())
            if rl.cause_event_id is not None:
                self.received[rl.cause_event_id] = now
        self.consumer.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--artifacts", type=Path, required=True)
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--rate", type=float, default=200.0, help="swipes/s of the latency phase")
    ap.add_argument("--seconds", type=float, default=20.0, help="length of the latency phase")
    ap.add_argument("--strategy", default="foldin")
    ap.add_argument("--port", type=int, default=19192)
    ap.add_argument("--batch-size", type=int, default=128, help="worker MOVIEREC_BATCH_SIZE")
    ap.add_argument("--batch-within", type=float, default=0.01, help="worker MOVIEREC_BATCH_WITHIN (s)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    art = load_version(args.artifacts)
    rng = np.random.default_rng(0)
    state = OUT / "bench-kafka"
    broker = local_kafka.start(port=args.port, state_dir=state)
    bootstrap = f"127.0.0.1:{args.port}"
    run = uuid.uuid4().hex[:8]
    web_port = args.port + 10
    env = {"BOOTSTRAP_SERVERS": bootstrap, "ARTIFACTS": str(args.artifacts), "STRATEGY": args.strategy,
           "SWIPES_TOPIC": f"swipes-{run}", "RECOMMENDATIONS_TOPIC": f"recs-{run}", "DLQ_TOPIC": f"dlq-{run}",
           "APP_ID": f"bench-{run}", "DATA_DIR": str(OUT / f"faust-{run}"), "WEB_PORT": str(web_port),
           "LOG_FORMAT": "text", "BATCH_SIZE": str(args.batch_size), "BATCH_WITHIN": str(args.batch_within)}
    worker = WorkerProcess(env, OUT / f"worker-{run}.log")
    t_start_worker = time.perf_counter()
    worker.start(timeout_s=300)
    result: dict[str, object] = {"movies": len(art.arrays["movie_ids"]), "users": len(art.arrays["user_ids"]),
                                 "factors": int(art.arrays["item_factors"].shape[1]), "strategy": args.strategy,
                                 "batch_size": args.batch_size, "batch_within_s": args.batch_within,
                                 "worker_start_s": round(time.perf_counter() - t_start_worker, 1)}
    try:
        listener = ListListener(bootstrap, env["RECOMMENDATIONS_TOPIC"])
        listener.start()
        listener.assigned.wait(30)
        with SwipeProducer(bootstrap, env["SWIPES_TOPIC"]) as producer:
            # warm-up
            for u, m, p in make_events(art, 500, rng):
                producer.send(SwipeEvent(user_id=u, movie_id=m, preference=p))
            producer.flush()
            while applied(web_port) < 500:
                time.sleep(0.2)
            # phase 1: throughput
            events = [SwipeEvent(user_id=u, movie_id=m, preference=p) for u, m, p in make_events(art, args.events, rng)]
            before = scrape(web_port)
            base = before.get('movierec_swipes_total{outcome="applied"}', 0.0)
            t0 = time.perf_counter()
            for e in events:
                producer.send(e)
            producer.flush()
            t_sent = time.perf_counter() - t0
            while applied(web_port) < base + len(events):
                time.sleep(0.05)
            elapsed = time.perf_counter() - t0
            after = scrape(web_port)
            delta = {k: after[k] - before.get(k, 0.0) for k in after if k.endswith(("_sum", "_count"))}
            result["throughput"] = {
                "events": len(events), "produce_s": round(t_sent, 2), "seconds": round(elapsed, 2),
                "swipes_per_s": round(len(events) / elapsed, 1),
                "batches": int(delta["movierec_batch_size_count"]),
                "mean_batch": round(delta["movierec_batch_size_sum"] / max(delta["movierec_batch_size_count"], 1), 1),
                "update_s_total": round(delta["movierec_update_seconds_sum"], 2),
                "publish_s_total": round(delta["movierec_publish_seconds_sum"], 2),
            }
            time.sleep(2)
            # phase 2: latency at a fixed rate
            n = int(args.rate * args.seconds)
            plan = make_events(art, n, rng)
            sent: dict[uuid.UUID, float] = {}
            t0 = time.perf_counter()
            for i, (u, m, p) in enumerate(plan):
                wait = t0 + i / args.rate - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                now = datetime.now(timezone.utc)
                e = producer.send(SwipeEvent(user_id=u, movie_id=m, preference=p, occurred_at=now))
                sent[e.event_id] = now.timestamp()
            producer.flush()
            time.sleep(3)
        listener.stop_flag.set()
        listener.join(5)
        lat = np.array([listener.received[k] - t for k, t in sent.items() if k in listener.received]) * 1000
        result["latency_ms"] = {"rate_per_s": args.rate, "sent": len(sent), "timed": int(len(lat)),
                                "merged_into_later_list": len(sent) - int(len(lat)),
                                "p50": round(float(np.percentile(lat, 50)), 1),
                                "p95": round(float(np.percentile(lat, 95)), 1),
                                "p99": round(float(np.percentile(lat, 99)), 1),
                                "max": round(float(lat.max()), 1)}
    finally:
        worker.stop()
        if not broker.already_running:
            local_kafka.stop(state)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
