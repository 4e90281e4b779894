"""Per-event cost of the stream worker's user-vector updates (online.foldin, online.additive).

Random float32 factors shaped like the ml-20m artifact (27,278 movies, k=64); times are the
best of several repeats, in microseconds per call, with BLAS limited to --blas-threads.

    .venv/bin/python bench/updates.py [--blas-threads 1] [--seed 0]
"""
from __future__ import annotations

import argparse
import math
import platform
import timeit
from collections.abc import Callable

import numpy as np
from threadpoolctl import threadpool_limits

from online.additive import AdditiveRule, additive_update
from online.foldin import FoldIn

N_MOVIES = 27_278
N_USERS = 5_000
K = 64
ALPHA = 15.0
REGULARIZATION = 0.1
PREFERENCES = np.array([-2, -1, 1, 2], dtype=np.int8)


def best_us(fn: Callable[[], object], min_seconds: float = 0.2, repeats: int = 5) -> float:
    """Best-of-``repeats`` wall time of one ``fn()`` call, in microseconds."""
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    number = max(number, int(number * min_seconds / 0.2))
    return min(timer.repeat(repeat=repeats, number=number)) / number * 1e6


def history(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(n,) distinct movie indices and (n,) int8 preferences, oldest first."""
    return (rng.choice(N_MOVIES, size=n, replace=False).astype(np.int64),
            rng.choice(PREFERENCES, size=n))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blas-threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    # ALS-like scales: items short, users long (ratio ~15 in our trained models)
    item_factors = (rng.standard_normal((N_MOVIES, K)) * 0.05).astype(np.float32)
    user_factors = (rng.standard_normal((N_USERS, K)) * 0.75).astype(np.float32)

    rows: list[tuple[str, float, float]] = []  # (case, us per call, us per user)
    with threadpool_limits(args.blas_threads, "blas"):
        fold = FoldIn.from_factors(item_factors, REGULARIZATION)
        for n in (10, 50, 200):
            idx, pref = history(rng, n)
            t = best_us(lambda: fold.solve(idx, pref, ALPHA))
            rows.append((f"FoldIn.solve, {n} interactions", t, t))

        for n in (10, 50, 200):
            batch = [history(rng, n) for _ in range(64)]
            t = best_us(lambda: fold.solve_many(batch, ALPHA))
            rows.append((f"FoldIn.solve_many, 64 users x {n}", t, t / 64))

        rule = AdditiveRule.from_factors(user_factors, item_factors, 0.1, 3600.0, 1.0)
        u, m = user_factors[0], item_factors[1]
        t = best_us(lambda: additive_update(u, m, 2, rule.eta, 0.9, rule.max_norm))
        rows.append(("additive_update", t, t))
        t = best_us(lambda: rule.apply(u, m, 2, 120.0))
        rows.append(("AdditiveRule.apply (decay_for + update)", t, t))
        t = best_us(lambda: fold.solve_many([], ALPHA))
        rows.append(("(call overhead: solve_many of 0 users)", t, math.nan))

    print(f"k={K}, movies={N_MOVIES}, BLAS threads={args.blas_threads}, "
          f"numpy {np.__version__}, {platform.processor() or platform.machine()}")
    print(f"{'case':<42}{'us/call':>12}{'us/user':>12}")
    for case, per_call, per_user in rows:
        user = "" if math.isnan(per_user) else f"{per_user:12.1f}"
        print(f"{case:<42}{per_call:12.1f}{user}")


if __name__ == "__main__":
    main()
