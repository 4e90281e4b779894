"""The worker's core on lone events: ``process_batch`` of one swipe at a time on a real artifact,
two strategies side by side, in turn.

    .venv/bin/python bench/lone_events.py --artifacts bench/out/artifacts-ml20m [--events 3000] \
        [--strategies static,recency_neighbours] [--pollute-mb 16] [--seed 5] [--block 100]

Swipes of the artifact's own users on movies drawn by popularity, ratings 1-4 at random, each
applied through ``stream_app.processing.process_batch`` alone (a batch of one, as the worker
runs at a low rate: parse, state, apply, rank, list bytes; no Kafka, no RocksDB). Each
strategy keeps its own states. Both strategies serve every event, in alternating order (the
first of two that share code runs colder: a fixed order biases the difference by ~10 µs).
``--block N`` runs N events of one strategy, then the same N of the other (first in turn),
as a worker runs one strategy: each event then follows one of its own strategy, not of the
other (which evicts that one's tables and code from the caches too). CPU time
(``time.process_time``) per event; the extra is the median of the per-event differences,
the first 200 events not counted. ``--pollute-mb`` sums that many MB between
events, as the worker's other code (Kafka client, faust, JSON) evicts the caches.
BLAS on one thread, as the worker pins it.
"""
from __future__ import annotations

import argparse
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

# bench/offline.py would shadow the `offline` package when this folder is sys.path[0]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from offline.artifacts import load_version  # noqa: E402
from schemas.events import SwipeEvent  # noqa: E402
from stream_app.model_holder import ModelHolder  # noqa: E402
from stream_app.processing import Incoming, process_batch  # noqa: E402
from stream_app.settings import StreamSettings  # noqa: E402
from stream_app.user_state import UserState  # noqa: E402

WARM = 200


def swipes(arts: Path, n: int, seed: int) -> list[Incoming]:
    """``n`` swipe messages of the artifact's users, movies by popularity, an hour ago onwards."""
    art = load_version(arts)
    rng = np.random.default_rng(seed)
    pop = art.tables["popularity"]["count"].to_numpy(np.float64) + 1.0
    movies = rng.choice(art.arrays["movie_ids"], size=n, p=pop / pop.sum())
    users = rng.choice(art.arrays["user_ids"], size=n)
    prefs = rng.choice([1, 2, 3, 4], size=n)
    t0 = datetime.now(timezone.utc) - timedelta(hours=1)
    return [Incoming(SwipeEvent(event_id=uuid.UUID(int=i + 1), user_id=int(u), movie_id=int(m), preference=int(p),
                                occurred_at=t0 + timedelta(seconds=i)).to_bytes(), "swipes", 0, i, str(int(u)).encode())
            for i, (u, m, p) in enumerate(zip(users, movies, prefs))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--artifacts", type=Path, required=True)
    ap.add_argument("--events", type=int, default=3000)
    ap.add_argument("--strategies", default="static,recency_neighbours", help="two, comma-separated")
    ap.add_argument("--pollute-mb", type=float, default=0.0, help="MB read between events (0: none)")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--block", type=int, default=1, help="events per strategy in a row (1: alternate each event)")
    args = ap.parse_args()
    names = args.strategies.split(",")
    if len(names) != 2 or args.events <= WARM:
        ap.error(f"two strategies and more than {WARM} events")
    msgs = swipes(args.artifacts, args.events, args.seed)
    holders = {}
    for name in names:
        holders[name] = ModelHolder(StreamSettings(artifacts=args.artifacts, strategy=name))
        holders[name].load()
    stores: dict[str, dict[int, bytes]] = {name: {} for name in names}
    junk = np.ones(int(args.pollute_mb * 2**20 / 8)) if args.pollute_mb else None
    times: dict[str, list[int]] = {name: [0] * len(msgs) for name in names}
    block = max(args.block, 1)
    with threadpool_limits(1, "blas"):
        for first in range(0, len(msgs), block):
            chunk = range(first, min(first + block, len(msgs)))
            for name in (names if (first // block) % 2 else names[::-1]):
                store = stores[name]
                for i in chunk:
                    if junk is not None:
                        junk.sum()
                    start = time.process_time_ns()
                    result = process_batch(holders[name].for_user, [msgs[i]],
                                           lambda uid, s=store: UserState.from_bytes(s[uid]) if uid in s else None,
                                           20)
                    for uid, state in result.states.items():
                        store[uid] = state.to_bytes()
                    times[name][i] = time.process_time_ns() - start
    a, b = (np.array(times[name][WARM:]) / 1e3 for name in names)
    print(f"{args.events - WARM} lone events, {args.artifacts}, caches "
          f"{'polluted by ' + str(args.pollute_mb) + ' MB' if junk is not None else 'as left'} between events, "
          f"{'strategies alternating' if block == 1 else f'blocks of {block} events per strategy'}")
    print(f"{names[0]} {np.median(a):.1f} µs, {names[1]} {np.median(b):.1f} µs per event (medians); "
          f"{names[1]} - {names[0]}: {np.median(b - a):+.1f} µs (median of the per-event differences)")


if __name__ == "__main__":
    main()
