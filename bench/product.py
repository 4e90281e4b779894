"""Benchmark: the scoring product U @ Y^T by batch size, the two orders side by side.

    .venv/bin/python bench/product.py [--movies 27278] [--factors 64] [--sizes 1,2,3,4,8,12,16,20,24,32,64,256]
                                      [--blas-threads 1] [--json bench/out/product.json]

Random float32 factors. For each batch size b: µs per user of ``U @ Y^T`` (numpy's
matmul on the transposed view; OpenBLAS sgemm packs Y on every call), of ``(Y @ U^T)^T``
made C-contiguous (the tall product and a transposing copy), of ``U @ Yt`` with Yt a
C-contiguous copy of ``Y^T`` made once, and of ``online.product.dot_scores`` (which uses
the last from 2 rows). CPU time (``time.process_time``), best of 7.
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
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from online.product import dot_scores  # noqa: E402


def best_us(fn: Callable[[], object], repeats: int = 7) -> float:
    timer = timeit.Timer(fn, timer=time.process_time)
    number, _ = timer.autorange()
    return min(timer.repeat(repeat=repeats, number=number)) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--movies", type=int, default=27_278)
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--sizes", default="1,2,3,4,8,12,16,20,24,32,64,256")
    parser.add_argument("--blas-threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    y = (rng.standard_normal((args.movies, args.factors)) * 0.05).astype(np.float32)
    rows = []
    print(f"{args.movies} movies x {args.factors} factors, BLAS threads {args.blas_threads}, numpy {np.__version__}, "
          f"{platform.processor() or platform.machine()}; us per user")
    yt = np.ascontiguousarray(y.T)
    print(f"{'rows':>6}{'U @ Y^T':>10}{'(Y @ U^T)^T':>13}{'U @ Yt':>9}{'dot_scores':>12}")
    with threadpool_limits(args.blas_threads, "blas"):
        for b in (int(x) for x in args.sizes.split(",")):
            u = rng.standard_normal((b, args.factors)).astype(np.float32)
            wide = best_us(lambda: u @ y.T) / b
            tall = best_us(lambda: np.ascontiguousarray((y @ u.T).T)) / b
            copied = best_us(lambda: u @ yt) / b
            chosen = best_us(lambda: dot_scores(u, y)) / b
            rows.append({"rows": b, "wide_us": wide, "tall_us": tall, "copied_transpose_us": copied,
                         "dot_scores_us": chosen})
            print(f"{b:6d}{wide:10.1f}{tall:13.1f}{copied:9.1f}{chosen:12.1f}", flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"rows": rows, "movies": args.movies, "factors": args.factors}, indent=2))


if __name__ == "__main__":
    main()
