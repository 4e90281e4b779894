"""The default strategy's recency window and overlay seeds: replay quality against cost.

For each ``window/seeds`` setting of ``recency_neighbours``: NDCG@10 of the val (and test)
replay of one artifact, with the standard error over scored events and the paired difference
to the first setting (same events, so its standard error is the paired one); then the lone
event's extra CPU time over static on ``bench/strategies.py``'s model (27,278 movies x 64
factors), every setting interleaved with static in one process, events cycling through 64
users. This is how the defaults in ``online/settings.py`` were chosen (BENCHMARKS.md section 5,
tenth session).

    .venv/bin/python bench/knobs.py --artifacts /tmp/art [--settings 30/20,25/15,20/10,15/10,20/5] \
        [--splits val,test] [--events 1500] [--batch 1]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project, before bench/offline.py

from offline.artifacts import load_version  # noqa: E402
from online.settings import OnlineSettings  # noqa: E402
from replay.events import split_events  # noqa: E402
from replay.run import ReplayConfig, Replayer, score  # noqa: E402

STRATEGY = "recency_neighbours"


def knobs(setting: str) -> dict[str, dict[str, int]]:
    window, seeds = (int(x) for x in setting.split("/"))
    return {"recency": {"window": window}, "overlay": {"seeds": seeds}}


def ndcg_per_event(root: Path, split: str, setting: str) -> np.ndarray:
    """(n_scored,) NDCG@10 of each scored event of the ``split`` replay under ``setting``."""
    art = load_version(root)
    events = split_events(art, split)  # type: ignore[arg-type]
    params = OnlineSettings.model_validate(knobs(setting))
    replayer = Replayer(art, root, ReplayConfig(split=split, strategies=(STRATEGY,), params=params))  # type: ignore[arg-type]
    play, _ = replayer.play(STRATEGY, split, events, "local")  # type: ignore[arg-type]
    ranks = score(play, events, (10,)).ranks[events.positive]
    return np.where((ranks >= 1) & (ranks <= 10), 1.0 / np.log2(np.maximum(ranks, 1) + 1.0), 0.0)


def quality(root: Path, splits: list[str], settings: list[str]) -> None:
    for split in splits:
        gains = {s: ndcg_per_event(root, split, s) for s in settings}
        base = gains[settings[0]]
        print(f"\n{split} replay, {STRATEGY} NDCG@10 (SE over {len(base):,} scored events); paired difference "
              f"to {settings[0]} (SE)")
        for s, g in gains.items():
            d = g - base
            print(f"  {s:>7}  {g.mean():.4f} ({g.std(ddof=1) / np.sqrt(len(g)):.4f})   "
                  f"{d.mean():+.4f} ({d.std(ddof=1) / np.sqrt(len(d)):.4f})")


def cost(settings: list[str], events: int, batch: int, seed: int) -> None:
    import strategies as model  # bench/strategies.py: the synthetic ML-20M-shaped model

    rng = np.random.default_rng(seed)
    parts = model.synthetic(rng)
    users = rng.choice(model.N_USERS, size=64, replace=False) + 1
    swipe_movies = rng.integers(1, model.N_MOVIES + 1, size=(64, model.SWIPES + 1))
    runs = {}
    with threadpool_limits(1, "blas"):
        for name in ["static", *settings]:
            rec = model.recommender(parts, "static") if name == "static" else \
                model.recommender(parts, STRATEGY, knobs(name))
            states, last = model.swiped_states(rec, users, swipe_movies)

            def run(start: int, rec=rec, states=states, last=last) -> None:  # type: ignore[no-untyped-def]
                who = [(start + i) % 64 for i in range(batch)]
                rec.recommend_states([rec.apply(states[i], last[i], 2, 1.8e9) for i in who], 20)
            runs[name] = run
        times: dict[str, list[int]] = {name: [] for name in runs}
        for i in range(events + 100):
            for name, run in runs.items():
                t = time.process_time_ns()
                run(i * batch)
                if i >= 100:
                    times[name].append(time.process_time_ns() - t)
    static = np.array(times["static"]) / batch
    print(f"\nextra CPU us per event over static (median of {events} interleaved batches of {batch}; "
          f"static {np.median(static) / 1e3:.1f} us)")
    for s in settings:
        print(f"  {s:>7}  {np.median(np.array(times[s]) / batch - static) / 1e3:+.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifacts", type=Path, required=True, help="artifacts root of a `movierec offline run`")
    parser.add_argument("--settings", default="30/20,25/15,20/10,15/10,20/5", help="window/seeds, comma-separated")
    parser.add_argument("--splits", default="val,test")
    parser.add_argument("--events", type=int, default=1500, help="timed events (0: no cost part)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    settings = [s.strip() for s in args.settings.split(",") if s.strip()]
    quality(args.artifacts, [s for s in args.splits.split(",") if s], settings)
    if args.events:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        cost(settings, args.events, args.batch, args.seed)


if __name__ == "__main__":
    main()
