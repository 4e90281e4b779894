"""Compiled one-user kernels (numba): a lone user's recency fold-in, and their overlay, each in
a single call (a few users: one call each).

A lone swipe's list (the worker at a low rate) is ranked right after the previous list's
catalogue-wide product has evicted the caches, and then every numpy call costs a few
microseconds whatever its size: the one-user Woodbury solve of ``online.recency`` is about a
dozen of them plus its window's Python bookkeeping (~65 µs a lone event on ML-20M-scale
artifacts, BENCHMARKS.md section 5, twelfth session). ``woodbury_one`` does the same algebra
in one compiled call; ``seed_scatter`` finds the overlay's seeds and adds their neighbour rows
to the scores (``NeighbourOverlay.scores`` and ``RowAdditions.add_to``: about ten calls).

``RecencyFoldIn.solve`` and ``NeighbourOverlay.scores`` stay the reference: same window, de-duplication, checks and tables,
so the solves agree to float32 rounding (the sums run in another order) and the overlay
adds the same float32 products in the same order (equal, unless a compiler fuses a
multiply-add on one side), which the tests check with a tolerance; lists compare tie-aware. The batched solve (``solve_many``) stays numpy: in a batch
its calls are shared by all users.

This module imports numba, which nothing else in the pure core does; ``online.compiled``
loads it on first use, and the solve and the overlay fall back to numpy where numba is not
installed (or the settings say ``compiled_kernels = false``). Compiled code is cached on disk (``cache=True``, beside this file).
"""
from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

# float32 sums may be reordered (SIMD), as BLAS does; nothing else of fastmath (no NaN/inf assumptions)
_FLAGS = {"contract", "reassoc"}


@njit(cache=True, fastmath=_FLAGS)
def woodbury_one(recent_movies: npt.NDArray[np.integer], recent_prefs: npt.NDArray[np.integer],
                 swipe_movies: npt.NDArray[np.integer], swipe_prefs: npt.NDArray[np.integer], window: int,
                 joined: npt.NDArray[np.float32], tables: npt.NDArray[np.float64], x0: npt.NDArray[np.float32],
                 anchored_inv: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """One user's (k,) float32 recency fold-in (``RecencyFoldIn.solve`` for window < k, every
    c_s > 1), from the interactions recent history then swipes, oldest first.

    Args:
        recent_movies, recent_prefs: (r,) movie indices and preferences in {-2, -1, 1, 2}.
        swipe_movies, swipe_prefs: (s,) the same for the online swipes.
        window: interactions kept (the newest); cell ``(p mod 5) * window + slot`` of ``tables``.
        joined: (n_movies, 2k) float32 ``[Y | Z]``, Z = Y G^-1.
        tables: (2, 5 window) float64 D^-1 and D^-1 c_s p_s per (preference, slot).
        x0: (k,) float32 offline vector (zeros for a user the model never saw).
        anchored_inv: (k, k) float32 lambda anchor G^-1.
    """
    k = anchored_inv.shape[0]
    n_movies = joined.shape[0]
    n_recent = recent_movies.shape[0]
    total = n_recent + swipe_movies.shape[0]
    n_window = min(total, window)
    first = total - n_window
    movies = np.empty(n_window, np.int64)
    cells = np.empty(n_window, np.int64)
    for i in range(n_window):
        at = first + i
        if at < n_recent:
            m, p = np.int64(recent_movies[at]), np.int64(recent_prefs[at])
        else:
            m, p = np.int64(swipe_movies[at - n_recent]), np.int64(swipe_prefs[at - n_recent])
        if p == 0 or p < -2 or p > 2:
            raise ValueError("preferences must be in {-2, -1, 1, 2}")
        if m < 0 or m >= n_movies:
            raise IndexError("movie index outside the catalogue")
        movies[i] = m
        cells[i] = (p % 5) * window + i + window - n_window  # slot window - 1 is the newest
    n = 0  # a movie seen twice counts once, at its newest position
    for i in range(n_window):
        later = False
        for j in range(i + 1, n_window):
            if movies[j] == movies[i]:
                later = True
                break
        if not later:
            movies[n], cells[n] = movies[i], cells[i]
            n += 1
    # h = lambda anchor G^-1 x0
    h = np.zeros(k, np.float32)
    for r in range(k):
        xr = x0[r]
        for c in range(k):
            h[c] += xr * anchored_inv[r, c]
    # small = D^-1 + Zs Ys^T (= Ys G^-1 Ys^T, symmetric), rhs = D^-1 l - Ys h
    small = np.empty((n, n), np.float64)
    rhs = np.empty(n, np.float64)
    for a in range(n):
        z_a = joined[movies[a], k:]
        for b in range(a + 1):
            y_b = joined[movies[b], :k]
            acc = np.float32(0.0)
            for c in range(k):
                acc += z_a[c] * y_b[c]
            small[a, b] = acc
            small[b, a] = acc
        small[a, a] += tables[0, cells[a]]
        y_a = joined[movies[a], :k]
        acc = np.float32(0.0)
        for c in range(k):
            acc += y_a[c] * h[c]
        rhs[a] = tables[1, cells[a]] - acc
    # s = (D^-1 + Ys G^-1 Ys^T)^-1 rhs   (Cholesky small = L L^T, L in the lower triangle)
    for j in range(n):
        d = small[j, j]
        for q in range(j):
            d -= small[j, q] * small[j, q]
        if not d > 0.0:
            raise ValueError("the window's system is not positive definite")
        d = np.sqrt(d)
        small[j, j] = d
        for i in range(j + 1, n):
            v = small[i, j]
            for q in range(j):
                v -= small[i, q] * small[j, q]
            small[i, j] = v / d
    for i in range(n):  # L t = rhs
        v = rhs[i]
        for q in range(i):
            v -= small[i, q] * rhs[q]
        rhs[i] = v / small[i, i]
    for i in range(n - 1, -1, -1):  # L^T s = t
        v = rhs[i]
        for q in range(i + 1, n):
            v -= small[q, i] * rhs[q]
        rhs[i] = v / small[i, i]
    # x = h + Zs^T s
    x = h.copy()
    for a in range(n):
        s_a = np.float32(rhs[a])
        z_a = joined[movies[a], k:]
        for c in range(k):
            x[c] += s_a * z_a[c]
    return x


@njit(cache=True)
def seed_scatter(recent_movies: npt.NDArray[np.integer], recent_prefs: npt.NDArray[np.integer],
                 swipe_movies: npt.NDArray[np.integer], swipe_prefs: npt.NDArray[np.integer], max_seeds: int,
                 age_weights: npt.NDArray[np.float32], cols: npt.NDArray[np.intp], vals: npt.NDArray[np.float32],
                 scores: npt.NDArray[np.float32], row: int) -> None:
    """``scores[row, m] += sum_j age_weights[age_j] S[j, m]`` in place over the newest
    ``max_seeds`` liked movies j (preference > 0; a movie liked twice counts once, at its
    newest; age = later interactions, liked or not) of recent history then swipes, oldest
    first: one user's ``NeighbourOverlay.scores`` added by ``RowAdditions.add_to``.

    Args:
        age_weights: (> oldest age,) float32 beta decay^age.
        cols, vals: (n_movies, K) the padded neighbour rows S (column, value; padding adds 0).
        scores: (b, n_movies) float32, C-contiguous; ``row``: this user's.
    """
    n_recent = recent_movies.shape[0]
    total = n_recent + swipe_movies.shape[0]
    n_movies, width = cols.shape
    seeds = np.empty(max_seeds, np.int64)
    ages = np.empty(max_seeds, np.int64)
    n = 0
    for age in range(total):
        at = total - 1 - age
        if at >= n_recent:
            m, p = np.int64(swipe_movies[at - n_recent]), swipe_prefs[at - n_recent]
        else:
            m, p = np.int64(recent_movies[at]), recent_prefs[at]
        if p <= 0:
            continue
        if m < 0 or m >= n_movies:
            raise IndexError("movie index outside the catalogue")
        seen = False
        for q in range(n):
            if seeds[q] == m:
                seen = True
                break
        if not seen:
            seeds[n], ages[n] = m, age
            n += 1
            if n == max_seeds:
                break
    out = scores[row]
    for q in range(n):  # newest seed first, each row in order: the order RowAdditions adds in
        weight, m = age_weights[ages[q]], seeds[q]
        for e in range(width):
            out[cols[m, e]] += vals[m, e] * weight


__all__ = ["seed_scatter", "woodbury_one"]
