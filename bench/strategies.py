"""Per-event cost of each online strategy, as the worker pays it: apply one swipe, rank the list.

A synthetic model shaped like the ML-20M artifact (27,278 movies x 64 factors, 20 genres,
co-occurrence-style neighbour rows of 100 per movie, 5,000 known users with 100 history
interactions each) behind the real ``Recommender``. One event = ``Recommender.apply`` of
one swipe + ``recommend_states`` of that user's top 20, either alone (batch of 1) or as one
of a batch of 64 users (what the worker does with a busy partition; cost per event = batch
time / 64). Every user has made 20 swipes before. CPU time (``time.process_time``: on a
shared machine wall time also counts the waits for a core), best of 3 repeats, in --rounds
rounds that time every strategy once each, side by side: a slow spell of the machine hits
all strategies of its round, and a strategy's extra over static is the median over rounds
of its difference to static in the same round. With --pairs N the default strategy is also
timed against static in N alternating pairs per batch size (1, --sizes, --batch), the extra
being the median of the per-pair differences (each pair the next users in turn). With
--blocks N the default strategy and static also run as a worker runs one strategy: N
alternating blocks of 50 consecutive events per strategy, each event a different user (the
64 in turn) where the rounds repeat the first users; a block's cost is the median of its events and the extra is the median of
the differences of adjacent blocks. BLAS on --blas-threads (the worker pins it to 1).

    .venv/bin/python bench/strategies.py [--rounds 7] [--sizes 2,4,16] [--pairs 1500] [--blocks 60] [--blas-threads 1] [--seed 0] [--window W] [--seeds S] [--numpy] [--json bench/out/strategies.json]

--window and --seeds set the recency window and the overlay's seeds of every strategy (their
defaults: ``online.settings``); --numpy runs the one-user paths in numpy instead of the
compiled kernels (``online.kernels``).
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project, before bench/offline.py

from offline.matrix import IdMap  # noqa: E402
from offline.models.popularity import PopularityModel  # noqa: E402
from offline.recent import RecentHistory  # noqa: E402
from offline.recommender import Recommender  # noqa: E402
from online.rules import STRATEGIES  # noqa: E402
from online.settings import DEFAULT_STRATEGY  # noqa: E402
from online.settings import OnlineSettings  # noqa: E402

N_MOVIES, K, N_USERS, N_GENRES, NEIGHBOURS, HISTORY, SWIPES = 27_278, 64, 5_000, 20, 100, 100, 20


def best_us(fn: Callable[[], object], repeats: int = 3) -> float:
    """Best-of-``repeats`` CPU time (``time.process_time``: what the event costs this process,
    not the waits for a core other jobs hold) of one ``fn()`` call, in microseconds."""
    timer = timeit.Timer(fn, timer=time.process_time)
    number, _ = timer.autorange()
    return min(timer.repeat(repeat=repeats, number=number)) / number * 1e6


def synthetic(rng: np.random.Generator) -> dict[str, object]:
    """The model's pieces: factors, history, popularity, genres, neighbour rows."""
    item = (rng.standard_normal((N_MOVIES, K)) * 0.05).astype(np.float32)
    user = (rng.standard_normal((N_USERS, K)) * 0.75).astype(np.float32)
    cols = np.concatenate([rng.choice(N_MOVIES, HISTORY, replace=False) for _ in range(N_USERS)])
    prefs = rng.choice(np.array([-2, -1, 1, 2], np.float32), size=len(cols))
    indptr = np.arange(0, N_USERS * HISTORY + 1, HISTORY)
    history = sp.csr_matrix((prefs, cols, indptr), shape=(N_USERS, N_MOVIES))
    history.sort_indices()
    ratings = history.copy()
    ratings.data = np.abs(ratings.data) + 2.5
    genres = (rng.random((N_MOVIES, N_GENRES)) < 0.12).astype(np.float32)
    n_cols = rng.integers(0, N_MOVIES, size=(N_MOVIES, NEIGHBOURS))
    rows = sp.csr_matrix((rng.random(N_MOVIES * NEIGHBOURS).astype(np.float32), n_cols.ravel(),
                          np.arange(0, N_MOVIES * NEIGHBOURS + 1, NEIGHBOURS)), shape=(N_MOVIES, N_MOVIES))
    rows.sum_duplicates()
    recent = RecentHistory(np.arange(0, N_USERS * 20 + 1, 20), cols.reshape(N_USERS, HISTORY)[:, -20:].ravel(),
                           prefs.reshape(N_USERS, HISTORY)[:, -20:].ravel().astype(np.int8))
    return {"item": item, "user": user, "history": history, "popularity": PopularityModel().fit(ratings, values="rating"),
            "genres": genres, "neighbours": rows, "recent": recent}


def recommender(parts: dict[str, object], strategy: str, knobs: dict[str, object] | None = None
                ) -> Recommender:
    """The model behind ``strategy``, with ``knobs`` (e.g. {"recency": {"window": 20}}) over the
    default settings (pydantic fills a nested model's other fields with their defaults)."""
    online = OnlineSettings.model_validate({**(knobs or {}), "strategy": strategy})
    return Recommender(parts["item"], parts["user"], IdMap(np.arange(1, N_USERS + 1)),  # type: ignore[arg-type]
                       IdMap(np.arange(1, N_MOVIES + 1)), parts["history"], parts["popularity"],  # type: ignore[arg-type]
                       parts["genres"], 100.0, 15.0, online=online,  # type: ignore[arg-type]
                       model_version="bench", neighbours=parts["neighbours"], recent=parts["recent"])  # type: ignore[arg-type]


def swiped_states(rec: Recommender, users: np.ndarray, swipe_movies: np.ndarray) -> tuple[list, list[int]]:
    """Each user's state after ``SWIPES`` swipes of the movies in their row of ``swipe_movies``
    (every third a dislike, a minute apart), and the movie of their next swipe (the row's last)."""
    states = []
    for u, movies in zip(users, swipe_movies):
        s = rec.new_state(int(u))
        for i, m in enumerate(movies[:SWIPES]):
            s = rec.apply(s, int(m), 2 if i % 3 else -1, 1.7e9 + 60 * i)
        states.append(s)
    return states, [int(m) for m in swipe_movies[:, SWIPES]]


def paired_extra(cases: dict[str, tuple[Callable[..., None], ...]], strategy: str, sizes: list[int],
                 pairs: int) -> dict[int, dict[str, float]]:
    """Per batch size, ``strategy``'s extra CPU time per event over static as the median of
    ``pairs`` differences, each pair one static batch then one ``strategy`` batch back to back
    (a noisy spell of the machine hits both halves of a pair; rounds of autorange loops apart
    do not cancel it as well). Both halves of a pair serve the same users; each pair the next
    users in turn (all 64 alike, not the first ones only). Also the medians of either side, per event."""
    out = {}
    static, default = cases["static"][4], cases[strategy][4]
    for size in sizes:
        for i in range(max(pairs // 10, 20)):  # warm both
            static(size, i * size)
            default(size, i * size)
        s_t, d_t = [], []
        for i in range(pairs):  # pair i: the same users for both, the next users in turn for the next pair
            c0 = time.process_time()
            static(size, i * size)
            c1 = time.process_time()
            default(size, i * size)
            c2 = time.process_time()
            s_t.append(c1 - c0)
            d_t.append(c2 - c1)
        s, d = np.array(s_t) * 1e6 / size, np.array(d_t) * 1e6 / size
        out[size] = {"static_us": float(np.median(s)), "default_us": float(np.median(d)),
                     "extra_us": float(np.median(d - s))}
    return out


def blocked_extra(cases: dict[str, tuple[Callable[..., None], ...]], strategy: str, sizes: list[int],
                  blocks: int, per_block: int = 50) -> dict[int, dict[str, float]]:
    """Per batch size, ``strategy``'s extra CPU time per event over static as a worker running
    one strategy pays it: ``blocks`` alternating blocks of ``per_block`` consecutive events (or
    batches) per strategy, each a different user, so that the event before is the same strategy's
    and the user's rows are not the ones just read. Median of each block, then the median of the
    per-block-pair differences (and the medians of either side), per event."""
    out = {}
    static, default = cases["static"][4], cases[strategy][4]
    for size in sizes:
        for start in range(per_block):  # warm both
            static(size, start * size)
            default(size, start * size)
        s_t, d_t = [], []
        for _ in range(max(blocks // size, 6)):
            medians = []
            for run in (static, default):
                times = []
                for start in range(per_block):
                    c0 = time.process_time()
                    run(size, start * size)
                    times.append(time.process_time() - c0)
                medians.append(float(np.median(times)) * 1e6 / size)
            s_t.append(medians[0])
            d_t.append(medians[1])
        s, d = np.array(s_t), np.array(d_t)
        out[size] = {"static_us": float(np.median(s)), "default_us": float(np.median(d)),
                     "extra_us": float(np.median(d - s)), "blocks": len(s)}
    return out


def against_static(results: dict[int, dict[str, float]], how: str) -> None:
    """Print ``paired_extra``'s or ``blocked_extra``'s table (nothing when it did not run)."""
    if not results:
        return
    print(f"\n{DEFAULT_STRATEGY} (the default) against static, {how}: median per-event CPU us")
    print(f"{'batch':>6}{'static':>10}{'default':>10}{'extra':>10}")
    for size, r in results.items():
        print(f"{size:>6}{r['static_us']:10.1f}{r['default_us']:10.1f}{r['extra_us']:+10.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blas-threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=7, help="rounds of every strategy side by side (0: none)")
    parser.add_argument("--sizes", default="2,4,16", help="further batch sizes, comma-separated (per-event cost)")
    parser.add_argument("--pairs", type=int, default=0,
                        help="also time the default strategy against static in this many alternating pairs per "
                             "batch size (1, --sizes, --batch): the median of the per-pair differences")
    parser.add_argument("--blocks", type=int, default=0,
                        help="also time the default against static in this many alternating blocks of 50 consecutive "
                             "events per strategy, each event a different user (fewer for batches: blocks / size, "
                             "at least 6)")
    parser.add_argument("--window", type=int, default=None, help="recency window (default: the settings')")
    parser.add_argument("--seeds", type=int, default=None, help="overlay seeds (default: the settings')")
    parser.add_argument("--numpy", action="store_true",
                        help="numpy's one-user code, not the compiled kernels (compiled_kernels = false)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    if any(not 1 < size < args.batch for size in sizes):
        parser.error(f"--sizes must lie between 2 and --batch - 1 ({args.batch - 1})")
    rng = np.random.default_rng(args.seed)
    knobs: dict[str, object] = {"recency": {"window": args.window} if args.window else {},
                                "overlay": {"seeds": args.seeds} if args.seeds else {},
                                "compiled_kernels": not args.numpy}
    parts = synthetic(rng)
    users = rng.choice(N_USERS, size=args.batch, replace=False) + 1
    swipe_movies = rng.integers(1, N_MOVIES + 1, size=(args.batch, SWIPES + 1))
    cases = {}
    with threadpool_limits(args.blas_threads, "blas"):
        for strategy in STRATEGIES:
            rec = recommender(parts, strategy, knobs)
            states, last = swiped_states(rec, users, swipe_movies)

            def one(rec: Recommender = rec, states: list = states, last: list = last) -> None:
                rec.recommend_states([rec.apply(states[0], last[0], 2, 1.8e9)], 20)

            def batch(rec: Recommender = rec, states: list = states, last: list = last) -> None:
                rec.recommend_states([rec.apply(s, m, 2, 1.8e9) for s, m in zip(states, last)], 20)

            def apply_only(rec: Recommender = rec, states: list = states, last: list = last) -> None:
                rec.apply(states[0], last[0], 2, 1.8e9)

            def first(size: int, rec: Recommender = rec, states: list = states, last: list = last) -> None:
                rec.recommend_states([rec.apply(s, m, 2, 1.8e9) for s, m in zip(states[:size], last[:size])], 20)

            def turn(size: int, start: int, rec: Recommender = rec, states: list = states, last: list = last) -> None:
                users = [(start + i) % len(states) for i in range(size)]  # the next users in turn
                rec.recommend_states([rec.apply(states[i], last[i], 2, 1.8e9) for i in users], 20)

            cases[strategy] = (apply_only, one, batch, first, turn)
        paired = paired_extra(cases, DEFAULT_STRATEGY, [1, *sizes, args.batch], args.pairs) if args.pairs else {}
        blocked = blocked_extra(cases, DEFAULT_STRATEGY, [1, *sizes, args.batch], args.blocks) if args.blocks else {}
        # rounds: every strategy timed once per round, side by side, so that a slow spell of the
        # machine hits all of them; the extra over static is the median of the per-round differences
        per_round: dict[str, list[tuple[float, ...]]] = {name: [] for name in cases}
        for r in range(args.rounds):
            for name, (apply_only, one, batch, first, _) in cases.items():
                per_round[name].append((best_us(apply_only, 3), best_us(one, 3), best_us(batch, 3) / args.batch,
                                        *(best_us(lambda f=first, k=k: f(k), 3) / k for k in sizes)))
            print(f"round {r + 1}/{args.rounds}", flush=True)
    rows = []
    static = per_round["static"]
    base = np.array(static)  # (rounds, columns)
    for name, times in per_round.items() if args.rounds else ():  # --rounds 0: the pairs alone
        t = np.array(times)
        over = np.median(t - base, axis=0)  # per-round differences to static, their median
        rows.append({"strategy": name, "apply_us": float(np.median(t[:, 0])),
                     "event_alone_us": float(np.median(t[:, 1])), "event_in_batch_us": float(np.median(t[:, 2])),
                     "alone_over_static_us": float(over[1]), "batch_over_static_us": float(over[2]),
                     "by_size": {str(k): {"event_us": float(np.median(t[:, 3 + i])), "over_static_us": float(over[3 + i])}
                                 for i, k in enumerate(sizes)}})
    print(f"\n{N_MOVIES} movies x {K} factors, {N_USERS} users, batch {args.batch}, BLAS threads {args.blas_threads}, "
          f"numpy {np.__version__}, {platform.processor() or platform.machine()}; medians over {args.rounds} rounds")
    print(f"{'strategy':<20}{'apply us':>10}{'event alone us':>16}{'+ vs static':>13}{'event in batch us':>19}"
          f"{'+ vs static':>13}")
    for r in rows:
        print(f"{r['strategy']:<20}{r['apply_us']:10.1f}{r['event_alone_us']:16.1f}"
              f"{r['alone_over_static_us']:13.1f}{r['event_in_batch_us']:19.1f}{r['batch_over_static_us']:13.1f}")
    if sizes:
        print(f"\nper event (us) and + vs static, by batch size (1 = alone, {args.batch} = in batch above)")
        print(f"{'strategy':<20}" + "".join(f"{f'batch {k}':>22}" for k in sizes))
        for r in rows:
            print(f"{r['strategy']:<20}" + "".join(
                f"{r['by_size'][str(k)]['event_us']:12.1f}{r['by_size'][str(k)]['over_static_us']:+10.1f}" for k in sizes))
    against_static(paired, f"{args.pairs} alternating pairs per size")
    against_static(blocked, "alternating blocks of 50 consecutive events per strategy, each a different user")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"rows": rows, "batch": args.batch, "seed": args.seed, "rounds": args.rounds,
                                         "per_round": per_round, "pairs": args.pairs,
                                         "paired": {str(k): v for k, v in paired.items()},
                                         "blocks": args.blocks, "blocked": {str(k): v for k, v in blocked.items()}},
                                        indent=2))


if __name__ == "__main__":
    main()
