"""Stream benchmark through the real broker: sustained swipes/s and end-to-end latency.

    .venv/bin/python bench/stream.py --artifacts bench/out/artifacts-small
    .venv/bin/python bench/stream.py --artifacts bench/out/artifacts-ml20m --events 20000

Phase 1 (throughput): N swipes produced as fast as possible; the rate is N over the time until
the worker's own counter (/metrics) shows all of them applied.
Phase 2 (latency): an open-loop load at a fixed rate; latency = time a downstream consumer
receives the list caused by a swipe − the swipe's ``occurred_at`` (set when it is sent).
A swipe whose list was merged into a later one of the same user in one batch has no list of
its own; those are counted, not timed. The latency phase also reports the median per second of
sending (a rising line: the worker falls behind) and the worker's mean batch, update and
publish (send to broker acknowledgement) times in that phase, from its /metrics.
A broker the run starts is still compiling (its JIT) for a minute or more: ``--broker-warmup N``
sends N swipes through the worker before any timed phase, ``--rate-warmup S`` runs the latency
phase's rate for S seconds before timing it. A broker already running on ``--port`` is used
and left running: start one with ``movierec kafka start --port 19192 --state-dir
bench/out/bench-kafka`` and discard the first run after it to measure a warm broker, as a
deployment has (BENCHMARKS.md, section 4, eighth session). The latency phase also reports the CPU the
broker, the workers and the bench used while it sent (``cpu_percent``, % of one core): on two
cores they compete. Each run deletes its topics and stores at the end.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

# bench/offline.py would shadow the `offline` package when this folder is sys.path[0]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from offline.artifacts import load_version  # noqa: E402
from online.settings import DEFAULT_STRATEGY  # noqa: E402
from schemas.events import RecommendationList, SwipeEvent  # noqa: E402
from stream_app import local_kafka  # noqa: E402
from stream_app.clients import SwipeProducer  # noqa: E402
from stream_app.runner import WorkerProcess  # noqa: E402
from stream_app.settings import StreamSettings  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"


def scrape(ports: list[int]) -> dict[str, float]:
    """The workers' Prometheus samples (name{labels} -> value), summed over the workers."""
    out: dict[str, float] = {}
    for port in ports:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30).read().decode()
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = out.get(name, 0.0) + float(value)
    return out


def applied(ports: list[int]) -> float:
    return scrape(ports).get('movierec_swipes_total{outcome="applied"}', 0.0)


class GcPauses:
    """This process's own collections (the load generator and the list listener share its
    GIL: a long one delays the receive times it records), as (perf_counter start, seconds)."""

    def __init__(self) -> None:
        self.pauses: list[tuple[float, float]] = []
        self._started = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif info["generation"] == 2:
            self.pauses.append((self._started, time.perf_counter() - self._started))

    def stop(self) -> None:
        gc.callbacks.remove(self._on_gc)


class CpuShares:
    """CPU used by the broker, the workers and this process (load generator and listener), and
    by the whole machine, in % of one core, from construction to ``percent()`` (psutil: /proc).
    On these two cores all four compete: the total says how close the machine ran to 200 %."""

    def __init__(self, pids: dict[str, list[int]]) -> None:
        import psutil

        self._procs = {name: [psutil.Process(p) for p in ps] for name, ps in pids.items()}
        self._start = self._read()

    def _read(self) -> tuple[float, dict[str, float], float]:
        import psutil

        used = {name: sum(sum(p.cpu_times()[:2]) for p in ps) for name, ps in self._procs.items()}  # user + system
        machine = psutil.cpu_times()
        return time.perf_counter(), used, sum(machine) - machine.idle - getattr(machine, "iowait", 0.0)

    def percent(self) -> dict[str, float]:
        (t0, used0, busy0), (t1, used1, busy1) = self._start, self._read()
        out = {name: round(100 * (used1[name] - used0[name]) / (t1 - t0), 1) for name in used1}
        return {**out, "machine": round(100 * (busy1 - busy0) / (t1 - t0), 1)}


def over_100ms(metrics: dict[str, float], name: str) -> float:
    """Observations of histogram ``name`` above 0.1 s, summed over its label sets."""
    total = sum(v for k, v in metrics.items() if k.startswith(name + "_count"))
    within = sum(v for k, v in metrics.items() if k.startswith(name + "_bucket") and 'le="0.1"' in k)
    return total - within


def wait_for_count(count: Callable[[], float], target: float, t0: float) -> float:
    """Seconds from ``t0`` (perf_counter) until ``count()`` reaches ``target``. Polls sparingly
    (the worker serves each poll on its event loop: every 50 ms cost it ~3 % of its loop) and
    finely only near the end: each wait is half the time left at the rate so far, 20 ms to 1 s."""
    while (done := count()) < target:
        rate = done / max(time.perf_counter() - t0, 1e-3)
        time.sleep(min(1.0, max(0.02, (target - done) / max(rate, 1.0) / 2)))
    return time.perf_counter() - t0


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


def forget_run(bootstrap: str, run: str) -> None:
    """Delete this run's topics and the workers' local stores: a broker kept between runs
    otherwise piles up their partitions (1,638 after a few sessions, 7.5 GB)."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    mine = [t for t in admin.list_topics(timeout=10).topics if run in t]
    for topic, done in (admin.delete_topics(mine, operation_timeout=30).items() if mine else ()):
        try:
            done.result()
        except Exception as exc:  # noqa: BLE001 - a leftover topic is not worth failing the run
            print(f"could not delete {topic}: {exc}", file=sys.stderr)
    for path in OUT.glob(f"*-{run}*"):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)


def compute_floor(artifacts: Path, strategy: str, events: list[tuple[int, int, int]], batch_size: int,
                  top_n: int = 20, repeats: int = 1) -> dict[str, float]:
    """The worker's batch core alone (``process_batch``, no Kafka, states in a dict, state and
    list bytes written as the worker does): swipes/s and µs per swipe, with the worker's
    settings (BLAS on one thread, as the worker pins it). With ``repeats`` > 1 the same swipes
    run again from empty states and the best and median CPU time (``process_time``) count too."""
    from threadpoolctl import threadpool_limits

    from stream_app.model_holder import ModelHolder
    from stream_app.processing import Incoming, process_batch
    from stream_app.settings import StreamSettings
    from stream_app.user_state import UserState

    holder = ModelHolder(StreamSettings(artifacts=artifacts, strategy=strategy))
    holder.load()
    msgs = [Incoming(SwipeEvent(user_id=u, movie_id=m, preference=p).to_bytes(), "swipes", 0, i, str(u).encode())
            for i, (u, m, p) in enumerate(events)]

    def one_pass() -> tuple[float, float]:
        store: dict[int, bytes] = {}
        t0, c0 = time.perf_counter(), time.process_time()
        for start in range(0, len(msgs), batch_size):
            res = process_batch(holder.for_user, msgs[start:start + batch_size],
                                lambda uid: UserState.from_bytes(store[uid]) if uid in store else None, top_n)
            for uid, state in res.states.items():
                store[uid] = state.to_bytes()
            for rl in res.lists:
                rl.to_bytes()
        return time.perf_counter() - t0, time.process_time() - c0

    with threadpool_limits(1, "blas"):
        runs = [one_pass() for _ in range(max(1, repeats))]
    elapsed = runs[0][0]
    out = {"events": len(msgs), "batch_size": batch_size, "seconds": round(elapsed, 2),
           "swipes_per_s": round(len(msgs) / elapsed, 1), "us_per_swipe": round(1e6 * elapsed / len(msgs), 1)}
    if repeats > 1:
        cpu = sorted(c for _, c in runs)
        out.update({"repeats": len(runs), "cpu_us_per_swipe_best": round(1e6 * cpu[0] / len(msgs), 1),
                    "cpu_us_per_swipe_median": round(1e6 * cpu[len(cpu) // 2] / len(msgs), 1)})
    return out


def table_floor(bootstrap: str, events: list[tuple[int, int, int]], linger: float, partitions: int,
                run: str) -> dict[str, float]:
    """The bare-faust floor: ``bench/faust_floor.py`` (one RocksDB table write per swipe, no
    model) on the same broker; swipes/s from the first send until its counter shows all."""
    import subprocess

    from stream_app.admin import ensure_topics

    topic, web_port = f"floor-{run}", 19290
    ensure_topics(bootstrap, {topic: partitions})
    env = {**os.environ, "FLOOR_BOOTSTRAP": bootstrap, "FLOOR_TOPIC": topic, "FLOOR_APP_ID": f"floor-{run}",
           "FLOOR_DATA_DIR": str(OUT / f"floor-{run}"), "FLOOR_WEB_PORT": str(web_port),
           "FLOOR_LINGER": str(linger), "FLOOR_PARTITIONS": str(partitions)}
    log = open(OUT / f"floor-{run}.log", "ab")
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve().parent / "faust_floor.py"), "worker",
                             "-l", "info"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def count() -> int:
        try:
            return int(json.loads(urllib.request.urlopen(f"http://127.0.0.1:{web_port}/count", timeout=10).read())["count"])
        except OSError:
            return -1

    try:
        deadline = time.monotonic() + 120
        while count() < 0 and time.monotonic() < deadline:
            time.sleep(0.5)
        with SwipeProducer(bootstrap, topic) as producer:
            for u, m, p in events[:500]:  # warm-up: partitions assigned, tables open
                producer.send(SwipeEvent(user_id=u, movie_id=m, preference=p))
            producer.flush()
            while count() < 500 and time.monotonic() < deadline:
                time.sleep(0.2)
            payloads = [SwipeEvent(user_id=u, movie_id=m, preference=p) for u, m, p in events[500:]]
            t0 = time.perf_counter()
            for e in payloads:
                producer.send(e)
            producer.flush()
            elapsed = wait_for_count(lambda: count() - 500, len(payloads), t0)
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(30)
        log.close()
    return {"events": len(payloads), "linger_s": linger, "seconds": round(elapsed, 2),
            "swipes_per_s": round(len(payloads) / elapsed, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--artifacts", type=Path, required=True)
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--rate", type=float, default=200.0, help="swipes/s of the latency phase")
    ap.add_argument("--seconds", type=float, default=20.0, help="length of the latency phase")
    ap.add_argument("--broker-warmup", type=int, default=0,
                    help="swipes through the worker before the floor and the timed phases (broker JIT warm-up)")
    ap.add_argument("--rate-warmup", type=float, default=0.0,
                    help="seconds at --rate before the latency phase is timed (the broker's JIT warms up)")
    ap.add_argument("--strategy", default=DEFAULT_STRATEGY, help="default: the worker's own")
    ap.add_argument("--port", type=int, default=19192)
    ap.add_argument("--batch-size", type=int, help="worker MOVIEREC_BATCH_SIZE (default: the worker's)")
    ap.add_argument("--batch-within", type=float, help="worker MOVIEREC_BATCH_WITHIN in s (default: the worker's)")
    ap.add_argument("--linger", type=float, help="worker MOVIEREC_PRODUCER_LINGER in s (default: the worker's)")
    ap.add_argument("--output-client", choices=["librdkafka", "faust"],
                    help="worker MOVIEREC_OUTPUT_CLIENT (default: the worker's)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--workers", type=int, default=1, help="worker processes (one consumer group)")
    ap.add_argument("--partitions", type=int, default=4, help="partitions of the topics")
    ap.add_argument("--compute-only", action="store_true", help="only the batch core floor (no broker)")
    ap.add_argument("--compute-events", type=int, default=5000, help="swipes of the compute-only floor")
    ap.add_argument("--compute-repeats", type=int, default=1, help="passes of the compute-only floor (best, median)")
    ap.add_argument("--floor", action=argparse.BooleanOptionalAction, default=True,
                    help="also run the bare-faust table floor (bench/faust_floor.py) in this session")
    args = ap.parse_args()

    art = load_version(args.artifacts)
    rng = np.random.default_rng(0)
    floor = compute_floor(args.artifacts, args.strategy, make_events(art, args.compute_events, np.random.default_rng(1)),
                          args.batch_size or StreamSettings.model_fields["batch_size"].default,
                          repeats=args.compute_repeats)
    if args.compute_only:
        print(json.dumps({"compute_only": floor}, indent=2))
        return
    state = OUT / "bench-kafka"
    broker = local_kafka.start(port=args.port, state_dir=state)
    bootstrap = f"127.0.0.1:{args.port}"
    run = uuid.uuid4().hex[:8]
    web_ports = [args.port + 10 + i for i in range(args.workers)]
    env = {"BOOTSTRAP_SERVERS": bootstrap, "ARTIFACTS": str(args.artifacts), "STRATEGY": args.strategy,
           "SWIPES_TOPIC": f"swipes-{run}", "RECOMMENDATIONS_TOPIC": f"recs-{run}", "DLQ_TOPIC": f"dlq-{run}",
           "APP_ID": f"bench-{run}", "PARTITIONS": str(args.partitions),
           "LOG_FORMAT": "text"}
    for name, value in (("BATCH_SIZE", args.batch_size), ("BATCH_WITHIN", args.batch_within),
                        ("PRODUCER_LINGER", args.linger), ("OUTPUT_CLIENT", args.output_client)):
        if value is not None:
            env[name] = str(value)
    workers = [WorkerProcess({**env, "WEB_PORT": str(port), "DATA_DIR": str(OUT / f"faust-{run}-{i}")},
                             OUT / f"worker-{run}-{i}.log") for i, port in enumerate(web_ports)]
    worker = workers[0]
    t_start_worker = time.perf_counter()
    for w in workers:
        w.start(timeout_s=300)
    result: dict[str, object] = {"movies": len(art.arrays["movie_ids"]), "users": len(art.arrays["user_ids"]),
                                 "factors": int(art.arrays["item_factors"].shape[1]), "strategy": args.strategy,
                                 "batch_size": args.batch_size, "batch_within_s": args.batch_within,
                                 "producer_linger_s": args.linger, "output_client": args.output_client,
                                 "workers": args.workers,
                                 "partitions": args.partitions,
                                 "worker_start_s": round(time.perf_counter() - t_start_worker, 1),
                                 "compute_only": floor}
    try:
        if args.broker_warmup:  # the broker's JIT compiles for a minute or more after a start
            t_warm = time.perf_counter()
            with SwipeProducer(bootstrap, env["SWIPES_TOPIC"]) as producer:
                for u, m, p in make_events(art, args.broker_warmup, np.random.default_rng(2)):
                    producer.send(SwipeEvent(user_id=u, movie_id=m, preference=p))
                producer.flush()
            wait_for_count(lambda: applied(web_ports), args.broker_warmup, t_warm)
            result["broker_warmup_s"] = round(time.perf_counter() - t_warm, 1)
        if args.floor:
            worker_linger = args.linger if args.linger is not None else getattr(worker.settings(), "producer_linger", 0.0)
            for w in workers:
                w.stop()  # one process at a time on these cores
            result["faust_table_floor"] = table_floor(bootstrap, make_events(art, args.events + 500, rng),
                                                      worker_linger, worker.settings().partitions, run)
            for w in workers:
                w.start(timeout_s=300)
        listener = ListListener(bootstrap, env["RECOMMENDATIONS_TOPIC"])
        listener.start()
        listener.assigned.wait(30)
        with SwipeProducer(bootstrap, env["SWIPES_TOPIC"]) as producer:
            # warm-up
            warm_base = applied(web_ports)
            for u, m, p in make_events(art, 500, rng):
                producer.send(SwipeEvent(user_id=u, movie_id=m, preference=p))
            producer.flush()
            while applied(web_ports) - warm_base < 500:
                time.sleep(0.2)
            # phase 1: throughput
            events = [SwipeEvent(user_id=u, movie_id=m, preference=p) for u, m, p in make_events(art, args.events, rng)]
            before = scrape(web_ports)
            base = before.get('movierec_swipes_total{outcome="applied"}', 0.0)
            t0 = time.perf_counter()
            for e in events:
                producer.send(e)
            producer.flush()
            t_sent = time.perf_counter() - t0
            elapsed = wait_for_count(lambda: applied(web_ports) - base, len(events), t0)
            after = scrape(web_ports)
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
            # phase 2: latency at a fixed rate, timed after ``--rate-warmup`` s at that rate
            n, n_warm = int(args.rate * args.seconds), int(args.rate * args.rate_warmup)
            plan = make_events(art, n_warm + n, rng)
            sent: dict[uuid.UUID, float] = {}
            pids = {"broker": [broker.status.pid] if broker.status.pid else [],
                    "workers": [w.proc.pid for w in workers if w.proc is not None], "bench": [os.getpid()]}
            before, own_gc, cpu = scrape(web_ports), GcPauses(), CpuShares(pids)
            t0 = t_timed = time.perf_counter()
            for i, (u, m, p) in enumerate(plan):
                wait = t0 + i / args.rate - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                if i == n_warm and n_warm:  # the timed part starts: counters and pauses from here
                    own_gc.stop()
                    before, own_gc, cpu = scrape(web_ports), GcPauses(), CpuShares(pids)
                    t_timed = time.perf_counter()
                now = datetime.now(timezone.utc)
                e = producer.send(SwipeEvent(user_id=u, movie_id=m, preference=p, occurred_at=now))
                if i >= n_warm:
                    sent[e.event_id] = now.timestamp()
            cpu_percent = cpu.percent()
            producer.flush()
            time.sleep(3)
            after = scrape(web_ports)
            delta = {k: after[k] - before.get(k, 0.0) for k in after if k.endswith(("_sum", "_count"))}
        listener.stop_flag.set()
        listener.join(5)
        timed = [(t, listener.received[k] - t) for k, t in sent.items() if k in listener.received]
        lat = np.array([d for _, d in timed]) * 1000
        # p50 per second of sending: a backlog that builds shows as a rising line
        start = min(sent.values())
        p99 = float(np.percentile(lat, 99))
        per_second = [[d * 1000 for t, d in timed if s <= t - start < s + 1] for s in range(int(args.seconds))]
        result["latency_ms"] = {"rate_per_s": args.rate, "warmup_s": args.rate_warmup, "sent": len(sent),
                                "timed": int(len(lat)),
                                # wall clock of the first send: lines slowest_at_s up with other logs
                                "started_at": datetime.fromtimestamp(start, timezone.utc).isoformat(),
                                "merged_into_later_list": len(sent) - int(len(lat)),
                                "p50": round(float(np.percentile(lat, 50)), 1),
                                "p95": round(float(np.percentile(lat, 95)), 1),
                                "p99": round(p99, 1),
                                "max": round(float(lat.max()), 1),
                                # the 1 % slowest: when in the phase (s after the first send) and how slow (ms)
                                "slowest_at_s": sorted((round(t - start, 2), round(1000 * d, 1))
                                                       for t, d in timed if 1000 * d >= p99),
                                # % of one core over the timed sends; the machine has 200 %
                                "cpu_percent": cpu_percent,
                                # this process's full collections in the phase: (s after the timed part began, ms)
                                "bench_gc2_pauses": [(round(t - t_timed, 2), round(1000 * d, 1)) for t, d in own_gc.pauses],
                                "p50_by_second": [round(float(np.percentile(x, 50)), 1) if x else None
                                                  for x in per_second],
                                "batches": int(delta["movierec_batch_size_count"]),
                                "mean_batch": round(delta["movierec_batch_size_sum"]
                                                    / max(delta["movierec_batch_size_count"], 1), 1),
                                "mean_publish_ms": round(1000 * delta["movierec_publish_seconds_sum"]
                                                         / max(delta["movierec_publish_seconds_count"], 1), 1),
                                "mean_update_ms": round(1000 * delta["movierec_update_seconds_sum"]
                                                        / max(delta["movierec_update_seconds_count"], 1), 1),
                                # the same in µs: at a low rate (batches of one) the per-event cost
                                "mean_update_us": round(1e6 * delta["movierec_update_seconds_sum"]
                                                        / max(delta["movierec_update_seconds_count"], 1), 1),
                                # batches slower than 0.1 s in the phase: applying and ranking them, their
                                # broker acknowledgement, and the worker's full collections (a stall's side)
                                "batches_over_100ms": {name: round(over_100ms(after, name) - over_100ms(before, name))
                                                       for name in ("movierec_update_seconds",
                                                                    "movierec_publish_seconds",
                                                                    "movierec_gc_pause_seconds")}}
    finally:
        for w in workers:
            w.stop()
        forget_run(bootstrap, run)
        if not broker.already_running:
            local_kafka.stop(state)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
