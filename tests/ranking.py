"""Test helpers: compare top-N lists up to float noise and ties; wait on a condition.

Scores of the same user and movie computed by matrix products of different shapes (one
user alone, or inside a block of 128) differ in the last bits: BLAS picks its kernels by
shape. Two lists of the same model therefore agree only up to that noise, and movies whose
scores are that close may come in either order, or either one may take the last place.
``ranking_difference`` accepts exactly that and nothing more:

* position by position, the scores agree within the tolerance;
* a movie in both lists has (within the tolerance) the same score in both, so it may move
  only inside a run of near-equal scores (a tie);
* a movie in one list only has a score near the other list's cut-off (last) score: it
  tied for the last place.

A swapped pair with clearly different scores, a high-scoring movie missing, a seen movie
let in, or a shifted score each break one of these.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np
import numpy.typing as npt

T = TypeVar("T")
RTOL, ATOL = 1e-4, 1e-5


def near(x: float, y: float, rtol: float = RTOL, atol: float = ATOL) -> bool:
    """|x - y| <= atol + rtol * max(|x|, |y|); equal infinities are near, NaN never."""
    if x == y:
        return True
    if not (np.isfinite(x) and np.isfinite(y)):
        return False
    return abs(x - y) <= atol + rtol * max(abs(x), abs(y))


def ranking_difference(ids_a: npt.ArrayLike, scores_a: npt.ArrayLike, ids_b: npt.ArrayLike,
                       scores_b: npt.ArrayLike, *, rtol: float = RTOL, atol: float = ATOL,
                       pad: int = -1) -> str | None:
    """Why two best-first lists (ids and scores) are not the same ranking up to ties, or None.

    Entries whose id is ``pad`` (list shorter than N) must sit at the same positions of both.
    """
    ia, ib = np.asarray(ids_a).ravel(), np.asarray(ids_b).ravel()
    sa, sb = np.asarray(scores_a, np.float64).ravel(), np.asarray(scores_b, np.float64).ravel()
    if len(ia) != len(sa) or len(ib) != len(sb):
        return f"ids and scores differ in length: {len(ia)}/{len(sa)}, {len(ib)}/{len(sb)}"
    if len(ia) != len(ib):
        return f"lists of different lengths {len(ia)} and {len(ib)}"
    if not np.array_equal(ia == pad, ib == pad):
        return f"padding at different positions: {ia.tolist()} vs {ib.tolist()}"
    real = ia != pad
    ia, ib, sa, sb = ia[real], ib[real], sa[real], sb[real]
    for name, ids in (("a", ia), ("b", ib)):
        if len(set(ids.tolist())) != len(ids):
            return f"list {name} repeats a movie: {ids.tolist()}"
    for k in range(len(ia)):
        if not near(sa[k], sb[k], rtol, atol):
            return f"rank {k + 1}: score {sa[k]!r} (movie {ia[k]}) vs {sb[k]!r} (movie {ib[k]})"
    pos_b = {int(m): j for j, m in enumerate(ib.tolist())}
    pos_a = {int(m): i for i, m in enumerate(ia.tolist())}
    for i, m in enumerate(ia.tolist()):
        j = pos_b.get(int(m))
        if j is not None and not near(sa[i], sb[j], rtol, atol):
            return (f"movie {m} at rank {i + 1} (score {sa[i]!r}) in a but at rank {j + 1} "
                    f"(score {sb[j]!r}) in b: not a tie")
    for name, ids, scores, other_pos, other_scores in (("a", ia, sa, pos_b, sb), ("b", ib, sb, pos_a, sa)):
        if not len(ids):
            continue
        cutoff = other_scores[-1]
        for i, m in enumerate(ids.tolist()):
            if int(m) not in other_pos and not near(scores[i], cutoff, rtol, atol):
                return (f"movie {m} at rank {i + 1} (score {scores[i]!r}) of {name} is missing from the "
                        f"other list, whose last score is {cutoff!r}: not a tie for the last place")
    return None


def assert_same_ranking(ids_a: npt.ArrayLike, scores_a: npt.ArrayLike, ids_b: npt.ArrayLike,
                        scores_b: npt.ArrayLike, *, rtol: float = RTOL, atol: float = ATOL,
                        pad: int = -1, context: str = "") -> None:
    """Raise AssertionError unless the two lists are one ranking up to ties (see the module doc)."""
    why = ranking_difference(ids_a, scores_a, ids_b, scores_b, rtol=rtol, atol=atol, pad=pad)
    if why is not None:
        raise AssertionError(f"{context}: {why}" if context else why)


def scores_at(row: npt.ArrayLike, indices: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """``row[indices]`` as float64, -inf where an index is negative (padding)."""
    r, idx = np.asarray(row, np.float64), np.asarray(indices, np.int64)
    return np.where(idx >= 0, r[np.maximum(idx, 0)], -np.inf)


def wait_until(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.01,
               message: str = "condition") -> T:
    """Poll ``predicate`` until it returns a truthy value (returned) or ``timeout`` s pass (AssertionError)."""
    deadline = time.monotonic() + timeout
    while True:
        if value := predicate():
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{message}: not met within {timeout} s")
        time.sleep(interval)


async def wait_until_async(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.001,
                           message: str = "condition") -> T:
    """``wait_until`` inside an event loop: other tasks run between the polls."""
    deadline = time.monotonic() + timeout
    while True:
        if value := predicate():
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{message}: not met within {timeout} s")
        await asyncio.sleep(interval)


async def settle(turns: int = 50) -> None:
    """Let every ready task and callback run (``turns`` loop iterations, no wall-clock wait):
    what "nothing happens" checks use instead of a sleep."""
    for _ in range(turns):
        await asyncio.sleep(0)


__all__ = ["assert_same_ranking", "near", "ranking_difference", "scores_at", "settle", "wait_until",
           "wait_until_async"]
