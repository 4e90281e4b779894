"""Benchmark: exact top-N selection over an ML-20M-sized catalogue, methods side by side.

Usage (from the repository root)::

    .venv/bin/python bench/scoring.py [--users 4096] [--movies 27278] [--factors 64] [--k 20]
                                      [--seen 150] [--artifact DIR] [--repeat 3] [--json OUT]

Factors are random float32 U (users, k), Y (movies, k), or with ``--artifact`` the ALS
factors of an artifact version (a random sample of its users). Every method ranks the whole
batch. "select" times the selection alone on precomputed scores S = U Yᵀ (computed in
blocks of 1024 users, like the evaluation); "total" adds the product. Rates are users per
second, best of ``--repeat``; ratios against the product alone and against argpartition
(``top_n_argpartition``, the ``top_n`` the pipeline used before). Every method's lists are
checked against a full stable argsort on the first 256 users (for faiss, as sets: its
order of equal scores differs). faiss runs only where importable (``pip install
faiss-cpu``; not a project dependency).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from offline import scoring  # noqa: E402

Select = Callable[[npt.NDArray[np.float32], int], npt.NDArray[np.int64]]
_PRODUCT_BLOCK = 1024


def _blocks(total: int, size: int) -> list[slice]:
    return [slice(s, min(s + size, total)) for s in range(0, total, size)]


def _best(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def sel_full_argsort(s: np.ndarray, k: int) -> np.ndarray:
    """Full stable argsort of every row (the reference)."""
    return np.argsort(-s, axis=1, kind="stable")[:, :k]


def sel_argpartition_full(s: np.ndarray, k: int) -> np.ndarray:
    """argpartition of the whole (b, m) matrix at once, no row blocks."""
    part = np.argpartition(-s, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(s, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def sel_argpartition_nocopy(s: np.ndarray, k: int) -> np.ndarray:
    """argpartition at m - k (the k largest at the end), no negated copy, blocks of 256."""
    out = np.empty((len(s), k), dtype=np.int64)
    m = s.shape[1]
    for sl in _blocks(len(s), 256):
        part = np.argpartition(s[sl], m - k, axis=1)[:, m - k :]
        order = np.argsort(-np.take_along_axis(s[sl], part, axis=1), axis=1, kind="stable")
        out[sl] = np.take_along_axis(part, order, axis=1)
    return out


def sel_partition_threshold(s: np.ndarray, k: int) -> np.ndarray:
    """np.partition for the k-th value t, mask S >= t, lexsort the candidates (blocks of 256)."""
    out = np.full((len(s), k), -1, dtype=np.int64)
    m = s.shape[1]
    for sl in _blocks(len(s), 256):
        block = s[sl]
        t = np.partition(block, m - k, axis=1)[:, m - k]
        rows, cols = np.nonzero(block >= t[:, None])
        order = np.lexsort((cols, -block[rows, cols], rows))
        rows, cols = rows[order], cols[order]
        pos = np.arange(len(rows)) - np.searchsorted(rows, np.arange(len(block)))[rows]
        keep = pos < k
        out[sl][rows[keep], pos[keep]] = cols[keep]
    return out


def sel_group_max(per_group: int) -> Select:
    """``scoring.top_n`` with ``per_group`` scores per group of the bound."""

    def select(s: np.ndarray, k: int) -> np.ndarray:
        saved, scoring._GROUP_SIZE = scoring._GROUP_SIZE, per_group
        try:
            return scoring.top_n(s, k)[0]
        finally:
            scoring._GROUP_SIZE = saved

    return select


def sel_threaded(select: Select, workers: int = 2) -> Select:
    """``select`` on ``workers`` slices of the rows at once."""
    pool = ThreadPoolExecutor(workers)

    def run(s: np.ndarray, k: int) -> np.ndarray:
        return np.vstack(list(pool.map(lambda sl: select(s[sl], k), _blocks(len(s), -(-len(s) // workers)))))

    return run


def _factors(a: argparse.Namespace) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    if a.artifact is None:
        return (rng.standard_normal((a.users, a.factors), dtype=np.float32),
                rng.standard_normal((a.movies, a.factors), dtype=np.float32))
    users = np.load(a.artifact / "user_factors.npy")
    items = np.load(a.artifact / "item_factors.npy")
    pick = rng.choice(len(users), size=min(a.users, len(users)), replace=False)
    return np.ascontiguousarray(users[pick]), items


def measure(a: argparse.Namespace) -> tuple[list[dict[str, object]], str]:
    """One row per method: select and total seconds, and whether its lists are right."""
    users, items = _factors(a)
    n_users, n_movies = len(users), len(items)

    def product() -> np.ndarray:
        out = np.empty((n_users, n_movies), dtype=np.float32)
        for sl in _blocks(n_users, _PRODUCT_BLOCK):
            out[sl] = scoring.score(users[sl], items)
        return out

    product()  # warm-up: the first touch of fresh memory is slow on a VM, and it is not the product
    t_prod, scores = _best(product, a.repeat)
    assert isinstance(scores, np.ndarray)
    check = sel_full_argsort(scores[:256], a.k)
    rows: list[dict[str, object]] = [{"method": "product alone (BLAS)", "select_s": 0.0, "total_s": t_prod, "ok": True}]
    given_f = np.asfortranarray(scores)  # stored movie-major, as Y Uᵀ would give it
    methods: dict[str, tuple[Select, np.ndarray]] = {
        "argpartition (old top_n)": (lambda s, k: scoring.top_n_argpartition(s, k)[0], scores),
        "argpartition, float64": (lambda s, k: scoring.top_n_argpartition(s, k)[0], scores.astype(np.float64)),
        "argpartition, no row blocks": (sel_argpartition_full, scores),
        "argpartition at m-k, no copy": (sel_argpartition_nocopy, scores),
        "argpartition, column-major S": (sel_argpartition_full, given_f),
        "partition threshold + mask": (sel_partition_threshold, scores),
        **{
            f"group-max, {c} per group{' = top_n' if c == scoring._GROUP_SIZE else ''}": (sel_group_max(c), scores)
            for c in (16, 32, 64, 128, 256)
        },
        "top_n on 2 threads": (sel_threaded(lambda s, k: scoring.top_n(s, k)[0]), scores),
    }
    for name, (select, given) in methods.items():
        t_sel, idx = _best(lambda select=select, given=given: select(given, a.k), a.repeat)
        ok = bool(np.array_equal(np.asarray(idx)[:256], check))
        rows.append({"method": name, "select_s": t_sel, "total_s": t_prod + t_sel, "ok": ok})
    if a.seen:
        seen = sp.random(n_users, n_movies, density=a.seen / n_movies, format="csr", random_state=1, dtype=np.float32)
        t_copy, _ = _best(lambda: scores.copy(), a.repeat)  # each call masks a fresh copy
        for name, fn in (("argpartition + exclude", scoring.top_n_argpartition), ("top_n + exclude", scoring.top_n)):
            t_sel, _ = _best(lambda fn=fn: fn(scores.copy(), a.k, seen), a.repeat)
            rows.append({"method": name, "select_s": t_sel - t_copy, "total_s": t_prod + t_sel - t_copy, "ok": True})
    for block in (1024, 256):
        def fused(block: int = block) -> None:
            for sl in _blocks(n_users, block):
                scoring.top_n(scoring.score(users[sl], items), a.k)

        t_fused, _ = _best(fused, a.repeat)
        rows.append({"method": f"score + top_n per {block} users", "select_s": float("nan"), "total_s": t_fused,
                     "ok": True})
    t_rec, idx = _best(lambda: scoring.recommend(users, items, a.k)[0], a.repeat)
    rows.append({"method": "scoring.recommend", "select_s": float("nan"), "total_s": t_rec,
                 "ok": bool(np.array_equal(np.asarray(idx)[:256], check))})
    t_full, _ = _best(lambda: sel_full_argsort(scores[:512], a.k), 1)
    rows.append({"method": "full argsort (512 users, scaled)", "select_s": t_full * n_users / 512,
                 "total_s": t_prod + t_full * n_users / 512, "ok": True})
    rows.append(_faiss(users, items, a, check))
    shape = f"{n_users} users x {n_movies} movies x {items.shape[1]} factors, K={a.k}, best of {a.repeat}"
    return rows, shape


def _faiss(users: np.ndarray, items: np.ndarray, a: argparse.Namespace, check: np.ndarray) -> dict[str, object]:
    try:
        import faiss  # type: ignore[import-not-found]
    except ImportError:
        return {"method": "faiss (not installed)", "select_s": float("nan"), "total_s": float("nan"), "ok": None}
    index = faiss.IndexFlatIP(items.shape[1])
    index.add(items)
    t_faiss, (_, idx) = _best(lambda: index.search(users, a.k), a.repeat)  # type: ignore[misc]
    ok = bool(np.array_equal(np.sort(idx[:256], axis=1), np.sort(check, axis=1)))
    return {"method": f"faiss {faiss.__version__} IndexFlatIP (fused)", "select_s": float("nan"),
            "total_s": t_faiss, "ok": ok}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=4096)
    p.add_argument("--movies", type=int, default=27_278)
    p.add_argument("--factors", type=int, default=64)
    p.add_argument("--k", type=int, default=20)
    p.add_argument("--seen", type=int, default=150, help="excluded movies per user in the exclude rows (0: none)")
    p.add_argument("--artifact", type=Path, help="an artifact version folder: use its ALS factors")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--json", type=Path)
    a = p.parse_args()
    load = os.getloadavg()
    rows, shape = measure(a)
    n_users = a.users if a.artifact is None else min(a.users, len(np.load(a.artifact / "user_factors.npy")))
    t_prod = float(rows[0]["total_s"])  # type: ignore[arg-type]
    old = next(r for r in rows if str(r["method"]).startswith("argpartition (old"))
    t_old = float(old["total_s"])  # type: ignore[arg-type]
    print(f"{shape}; load average {load[0]:.2f} before")
    head = f"{'method':<38}{'select users/s':>15}{'total users/s':>15}{'total/product':>15}{'vs old top_n':>14}  ok"
    print(head + "\n" + "-" * len(head))
    for r in rows:
        sel, tot = float(r["select_s"]), float(r["total_s"])  # type: ignore[arg-type]
        r["select_users_per_s"] = n_users / sel if sel > 0 else float("nan")
        r["total_users_per_s"] = n_users / tot
        r["total_over_product"] = tot / t_prod
        r["speedup_vs_old"] = t_old / tot
        print(f"{r['method']:<38}{r['select_users_per_s']:>15,.0f}{r['total_users_per_s']:>15,.0f}"
              f"{r['total_over_product']:>15.2f}{r['speedup_vs_old']:>14.2f}  {r['ok']}")
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        args = {k: str(v) if isinstance(v, Path) else v for k, v in vars(a).items()}
        a.json.write_text(json.dumps({"shape": shape, "args": args, "load": load, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
