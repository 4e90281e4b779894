"""Recency-weighted fold-in: the user's newest interactions, held at boosted confidence,
around the offline vector (pure numpy/scipy).

One user, item factors Y (n_movies, k) fixed. The last ``window`` interactions s (oldest
first; a movie seen twice counts once, newest wins) carry the ALS confidence boosted by
recency, ``c_s = (1 + alpha|p_s|) * (1 + (boost - 1) * decay^age_s)`` with ``age_s`` the
number of later interactions, so the newest swipe weighs ``boost`` times what history would
and the extra fades by ``decay`` per later swipe. The ridge is centred on a share ``anchor``
of the offline vector x0 instead of on 0, which is what keeps the rest of the user's taste:

    x = argmin_x  sum_i c_i (p_i - x.y_i)^2 + lambda ||x - anchor * x0||^2

over every movie i (movies outside the window: p = 0, c = 1, implicit's convention), i.e.

    x = (YtY + lambda I + sum_s (c_s - 1) y_s y_s^T)^-1 (lambda anchor x0 + sum_s c_s p_s y_s)

with p_s = 1 for a liked movie (preference > 0), else 0 ("pushed away"). The cost is
O(window k^2 + k^3), whatever the length of the user's history: YtY + lambda I is computed
once per model, the window is bounded and x0 stands for everything older.

``solve_many`` solves a batch of users at once. With G = YtY + lambda I, r the right-hand
side and the window's rows Ys (w, k), w < k, Woodbury turns the (k, k) solve into a (w, w)
one against the precomputed G^-1 and Z = Y G^-1 (n_movies, k):

    x = G^-1 r - Zs^T (D^-1 + Ys Zs^T)^-1 Ys G^-1 r,    D = diag(c_s - 1)

with every product batched over the users; only the small SPD solves run one per user.
``solve`` (one user) uses the same identity as x = h + Zs^T (D^-1 + Ys Zs^T)^-1 (D^-1 l - Ys h),
with h = lambda anchor G^-1 x0 and l = C_s p_s, its window read as Python lists and D^-1, D^-1 l
from per-(preference, slot) tables: a dozen numpy calls, each costing microseconds after the
catalogue-wide product has evicted the caches.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from operator import add

import numpy as np
import numpy.typing as npt
from scipy.linalg import LinAlgError, lapack

from online.compiled import compiled_kernels
from online.preference import VALID_PREFERENCES, all_valid, int_list

FloatArray = npt.NDArray[np.float32]
Interactions = tuple[npt.ArrayLike, npt.ArrayLike]
"""(n,) movie indices and (n,) preferences of one user, oldest first."""


def recency_boost(n: int, boost: float, decay: float) -> npt.NDArray[np.float64]:
    """(n,) float64 multipliers ``1 + (boost - 1) * decay^age`` for n interactions, oldest
    first (age = n - 1 - position)."""
    age = np.arange(n - 1, -1, -1, dtype=np.float64)
    return 1.0 + (boost - 1.0) * decay ** age


@dataclass(frozen=True, eq=False)
class RecencyFoldIn:
    """The recency-weighted fold-in against one model's item factors.

    Attributes:
        item_factors: (n_movies, k) float32 Y.
        gram_reg: (k, k) float64 ``YtY + lambda I``.
        regularization: lambda, the ridge's strength.
        alpha: confidence slope, ``C = 1 + alpha |p|`` (the model's).
        boost: confidence multiplier of the newest interaction (1 = plain fold-in weights).
        decay: per later interaction, the factor on the extra confidence ``boost - 1``.
        window: interactions kept (the newest).
        anchor: share of the offline vector the ridge is centred on (0 = plain ridge).
        compiled: solve one user in numba's compiled kernel where it is installed
            (``solve_parts``; ``online.kernels``), else with numpy.
    """

    item_factors: FloatArray
    gram_reg: npt.NDArray[np.float64]
    regularization: float
    alpha: float
    boost: float
    decay: float
    window: int
    anchor: float
    compiled: bool = True

    # The tables below are computed on first use and then read as plain attributes
    # (``cached_property`` on this frozen dataclass: no descriptor call on the hot path).

    @cached_property
    def _boosts(self) -> npt.NDArray[np.float32]:
        """(window,) float32 ``recency_boost(window, boost, decay)``."""
        return recency_boost(self.window, self.boost, self.decay).astype(np.float32)

    @cached_property
    def _n_movies(self) -> int:
        return int(self.item_factors.shape[0])

    @cached_property
    def _k(self) -> int:
        return int(self.item_factors.shape[1])

    @classmethod
    def from_factors(cls, item_factors: npt.ArrayLike, regularization: float, alpha: float, boost: float,
                     decay: float, window: int, anchor: float, compiled: bool = True) -> RecencyFoldIn:
        """Precompute ``YtY + lambda I`` from (n_movies, k) item factors."""
        y = np.ascontiguousarray(item_factors, dtype=np.float32)
        if y.ndim != 2:
            raise ValueError(f"item_factors must be 2-D, got shape {y.shape}")
        if regularization <= 0 or window < 1:
            raise ValueError("regularization must be > 0 and window >= 1")
        y64 = y.astype(np.float64)
        gram_reg = y64.T @ y64 + regularization * np.eye(y.shape[1])
        return cls(y, gram_reg, float(regularization), float(alpha), float(boost), float(decay), int(window),
                   float(anchor), bool(compiled))

    def solve_parts(self, offline: npt.ArrayLike | None, recent: Interactions, swipes: Interactions,
                    as_lists: Callable[[], tuple[list[int], list[int]]] | None = None) -> FloatArray:
        """``solve`` of the interactions ``recent`` then ``swipes`` (each (movie indices,
        preferences), oldest first): one call of the compiled kernel where it applies (numba
        installed, ``compiled``, window < k, every c_s > 1), else ``solve`` on ``as_lists()``
        (the two sequences joined as lists of ints) or on the arrays joined."""
        kernel = self._kernel
        if kernel is None:
            movies, prefs = as_lists() if as_lists is not None else (
                int_list(recent[0]) + int_list(swipes[0]), int_list(recent[1]) + int_list(swipes[1]))
            return self.solve(offline, movies, prefs)
        x0 = self._zero if offline is None else offline
        if type(x0) is not np.ndarray or x0.dtype != np.float32 or x0.shape != (self._k,):
            x0 = np.asarray(x0, dtype=np.float32)
            if x0.shape != (self._k,):
                raise ValueError(f"the offline vector must have shape ({self._k},), got {x0.shape}")
        return kernel(np.asarray(recent[0]), np.asarray(recent[1]), np.asarray(swipes[0]), np.asarray(swipes[1]),
                      self.window, self._joined, self._tables[0], x0, self._anchored_inv)

    @cached_property
    def _kernel(self) -> Callable[..., FloatArray] | None:
        """``online.kernels.woodbury_one`` where ``solve_parts`` may use it, else None."""
        if not self.compiled or self.window >= self._k or self._tables[2] is not None:
            return None
        kernels = compiled_kernels()
        return None if kernels is None else kernels.woodbury_one

    @cached_property
    def _zero(self) -> FloatArray:
        """(k,) float32 zeros: the offline vector of a user the model never saw."""
        return np.zeros(self._k, np.float32)

    def solve(self, offline: npt.ArrayLike | None, movie_indices: npt.ArrayLike | list[int],
              preferences: npt.ArrayLike | list[int]) -> FloatArray:
        """The user's (k,) float32 vector.

        Args:
            offline: (k,) the artifact's vector x0, or None for a user the model never saw.
            movie_indices: (n,) int indices of the user's recent interactions, oldest first
                (only the last ``window`` count); a list of ints is taken as it is.
            preferences: (n,) int in {-2, -1, 1, 2}, aligned.
        """
        # a window is a few dozen entries: checks and de-duplication on Python lists cost less
        # than numpy calls (each ~1 us, ~4 us with cold caches, as after a catalogue-wide product)
        movies, prefs = int_list(movie_indices, np.int64), int_list(preferences, np.int8)
        if len(movies) != len(prefs):
            raise ValueError(f"movie_indices ({len(movies)},) and preferences ({len(prefs)},) differ")
        w = self.window
        movies, prefs = movies[-w:], prefs[-w:]
        n = len(movies)
        if not VALID_PREFERENCES.issuperset(prefs):
            raise ValueError("preferences must be in {-2, -1, 1, 2}")
        if n and (min(movies) < 0 or max(movies) >= self._n_movies):
            raise IndexError(f"movie index outside 0..{self._n_movies - 1}")
        rows, conf_table, positive, row_of = self._tables
        if len(set(movies)) < n:  # a movie seen twice counts once, at its newest position
            keep = sorted(dict(zip(movies, range(n))).values())
            movies, prefs, slots = [movies[i] for i in keep], [prefs[i] for i in keep], [i + w - n for i in keep]
        else:
            slots = range(w - n, w)  # slot w - 1 is the newest
        # the tables' cells (preference p's row, read flat, + slot), in C loops: -2, -1 index row_of from its end
        cells = list(map(add, map(row_of.__getitem__, prefs), slots))
        if 0 < len(movies) < self._k and (positive is None or all(map(positive.__getitem__, cells))):
            return self._woodbury(offline, movies, rows.take(cells, 1))
        pref = np.array(prefs, dtype=np.intp)
        idx = np.array(movies, dtype=np.int64)
        conf = conf_table.take(cells)  # (n,) float32 c_s
        y_s = self.item_factors[idx]  # (n, k) float32
        rhs = ((conf * (pref > 0)) @ y_s).astype(np.float64)  # (k,) Ys^T C_s p_s
        if offline is not None:
            rhs += (self.regularization * self.anchor) * np.asarray(offline, dtype=np.float64)
        a = self.gram_reg + (y_s.T * (conf - np.float32(1.0))) @ y_s  # (k, k) float64
        # x = (YtY + lambda I + Ys^T (C_s - I) Ys)^-1 (lambda anchor x0 + Ys^T C_s p_s)   (Cholesky, posv)
        _, x, info = lapack.dposv(a, rhs, lower=1, overwrite_a=1, overwrite_b=1)
        if info != 0:
            raise LinAlgError(f"posv failed (info={info})")
        return x.astype(np.float32)

    @cached_property
    def _tables(self) -> tuple[npt.NDArray[np.float64], FloatArray, list[bool] | None, list[int]]:
        """Per (preference, window slot), read flat at cell ``row_of[p] + slot`` (``row_of[p]`` =
        ``(p mod 5) * window``: -2, -1 are rows 3, 4, read from the list's end; row 0 unused; slot
        window - 1 the newest): (2, 5 window) float64 D^-1 = 1 / (c_s - 1) and D^-1 c_s p_s,
        (5 window) float32 c_s, the flags c_s > 1 as a list (None when every valid preference has
        c_s > 1 in every slot), and ``row_of`` (5,) as a list."""
        pref = np.array([0, 1, 2, -2, -1], dtype=np.float32)[:, None]  # row r: preference r (mod 5)
        conf = (1.0 + self.alpha * np.abs(pref)) * self._boosts[None, :]  # (5, window) float32 c_s
        extra = conf - np.float32(1.0)
        positive = extra > 0
        d_inv = np.where(positive, 1.0 / np.where(positive, extra, 1.0), 0.0)  # float32 1 / (c_s - 1)
        rows = np.stack((d_inv, d_inv * np.where(pref > 0, conf, 0.0))).astype(np.float64)
        return (rows.reshape(2, -1), conf.ravel(), None if positive[1:].all() else positive.ravel().tolist(),
                [r * self.window for r in range(5)])

    def _woodbury(self, offline: npt.ArrayLike | None, movies: list[int],
                  rows: npt.NDArray[np.float64]) -> FloatArray:
        """One user's (k,) float32 x from n < k distinct ``movies`` with c_s > 1 and their (2, n)
        ``_tables`` rows D^-1, D^-1 l (``solve_many`` batches the same algebra). With G = YtY +
        lambda I, Zs = Ys G^-1 (precomputed rows), D = diag(c_s - 1), l = C_s p_s and
        h = lambda anchor G^-1 x0 (G^-1 r = h + Zs^T l, so that only h needs a product):

            x = h + Zs^T (D^-1 + Ys Zs^T)^-1 (D^-1 l - Ys h)

        Every step is one numpy call on a few kB; with the caches cold after the previous
        list's catalogue-wide product each costs microseconds, so there are as few as the
        algebra allows (and no attribute lookups through descriptors).
        """
        yz = self._joined.take(movies, 0)  # (n, 2k) float32 rows of [Y | Z], one gather
        k = self._k
        ys, zs = yz[:, :k], yz[:, k:]
        d_inv, rhs = rows
        # (n, n) Zs Ys^T = (Ys G^-1 Ys^T)^T, symmetric up to rounding: its C-order float64 copy
        # is the Fortran-order matrix LAPACK reads, as its transpose (a view)
        small = (zs @ ys.T).astype(np.float64)
        small.ravel()[:: len(movies) + 1] += d_inv  # + D^-1 (a view of the diagonal)
        if offline is not None:
            x0 = offline if type(offline) is np.ndarray and offline.dtype == np.float32 else \
                np.asarray(offline, dtype=np.float32)
            h = x0 @ self._anchored_inv  # (k,) float32
            rhs -= ys @ h
        # s = (D^-1 + Ys G^-1 Ys^T)^-1 (D^-1 l - Ys h)   (Cholesky, posv, from the lower triangle;
        # positional arguments: f2py parses them faster than keywords)
        _, s, info = lapack.dposv(small.T, rhs, 1, 1, 1)
        if info != 0:
            raise LinAlgError(f"posv failed (info={info})")
        x = s.astype(np.float32) @ zs  # x = h + Zs^T s
        return x if offline is None else x + h

    @cached_property
    def _joined(self) -> FloatArray:
        """(n_movies, 2k) float32 ``[Y | Z]``: one gather gives a window's rows of both."""
        _, y0, z0 = self._inverse
        return np.hstack((y0[:-1], z0[:-1]))

    @cached_property
    def _anchored_inv(self) -> FloatArray:
        """(k, k) float32 lambda anchor G^-1 (a float64 x0 is cast to float32 by the product)."""
        return ((self.regularization * self.anchor) * self._inverse[0]).astype(np.float32)

    @cached_property
    def _inverse(self) -> tuple[npt.NDArray[np.float64], FloatArray, FloatArray]:
        """(k, k) float64 G^-1 = (YtY + lambda I)^-1, and (n_movies + 1, k) float32 Y and
        Z = Y G^-1 with a zero last row (index n_movies: an entry that adds nothing)."""
        g_inv = np.linalg.inv(self.gram_reg)
        g_inv = (g_inv + g_inv.T) / 2  # exactly symmetric
        zero = np.zeros((1, self.item_factors.shape[1]), np.float32)
        return (g_inv, np.vstack((self.item_factors, zero)),
                np.vstack(((self.item_factors.astype(np.float64) @ g_inv).astype(np.float32), zero)))

    def solve_many(self, offline: Sequence[npt.ArrayLike | None], recent: Sequence[Interactions]) -> FloatArray:
        """``solve`` for a batch of users: (b, k) float32, row i = ``solve(offline[i], *recent[i])``
        up to rounding (Woodbury, see the module docstring; a window >= k solves one by one).

        Args:
            offline: per user the (k,) artifact vector x0, or None.
            recent: per user (movie indices, preferences), oldest first.
        """
        b, k, w = len(recent), self.item_factors.shape[1], self.window
        if len(offline) != b:
            raise ValueError(f"{len(offline)} offline vectors for {b} users")
        if w >= k or b == 0:
            out = np.zeros((b, k), np.float32)
            for row, (x0, (m, p)) in enumerate(zip(offline, recent)):
                out[row] = self.solve(x0, m, p)
            return out
        idx, pref, valid = self._padded(recent)  # (b, w), right-aligned: column w-1 is the newest
        keep = self._newest_of_each(idx, valid)
        conf = (1.0 + self.alpha * np.abs(pref, dtype=np.float64)) * self._boosts[None, :]  # (b, w) c_s
        extra = np.where(keep, conf - 1.0, 0.0)  # (b, w) c_s - 1
        liked = np.where(keep & (pref > 0), conf, 0.0)  # (b, w) c_s p_s
        g_inv, y0, z0 = self._inverse
        active = extra > 0  # entries that change the matrix (c_s = 1 only adds to r)
        rows = np.where(active, idx, len(self.item_factors))  # inactive entries read the zero row
        ys = y0.take(rows, 0)  # (b, w, k) float32 rows of Y (take: a third less than fancy indexing)
        ys_liked = ys if not (liked > 0)[~active].any() else y0[np.where(keep, idx, len(self.item_factors))]
        r = np.matmul(liked.astype(np.float32)[:, None, :], ys_liked)[:, 0].astype(np.float64)  # (b, k) Ys^T C_s p_s
        known = [row for row, x0 in enumerate(offline) if x0 is not None]
        if known:
            r[known] += self.regularization * self.anchor * np.array([offline[row] for row in known], np.float64)
        g = r @ g_inv  # (b, k) G^-1 r
        zs = z0.take(rows, 0)  # (b, w, k) rows of Y G^-1
        small = np.matmul(ys, zs.transpose(0, 2, 1)).astype(np.float64)  # (b, w, w) Ys G^-1 Ys^T
        diag = np.arange(w)
        small[:, diag, diag] += np.where(active, 1.0 / np.where(active, extra, 1.0), 1.0)  # + D^-1
        v = np.matmul(ys, g.astype(np.float32)[:, :, None])[:, :, 0].astype(np.float64)  # (b, w) Ys G^-1 r
        # t = (D^-1 + Ys G^-1 Ys^T)^-1 Ys G^-1 r   (SPD, one Cholesky posv per user; each matrix's
        # transpose is in the Fortran order LAPACK reads, so no copy, its upper triangle the lower
        # one of small[row]; v's rows are solved in place)
        posv = lapack.dposv
        for row in range(b):
            _, v[row], info = posv(small[row].T, v[row], lower=0, overwrite_a=1, overwrite_b=1)
            if info != 0:
                raise LinAlgError(f"posv failed (info={info})")
        # x = G^-1 r - Zs^T t   (t in float32 like Zs, as in ``solve``: a float64 t made numpy
        # cast all of Zs and leave BLAS, 7x the time)
        return (g - np.matmul(v.astype(np.float32)[:, None, :], zs)[:, 0]).astype(np.float32)

    @staticmethod
    def _newest_of_each(idx: npt.NDArray[np.int64], valid: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
        """(b, w) the valid entries whose movie does not come again later in their row (a movie
        seen twice counts once, with its newest entry): a stable sort of each row by movie puts
        repeats side by side, oldest first, and only the last of each run is kept."""
        b, w = idx.shape
        key = np.where(valid, idx, -1 - np.arange(w))  # padding: distinct, never a movie
        order = np.argsort(key, axis=1, kind="stable")
        ranked = np.take_along_axis(key, order, axis=1)
        last = np.ones((b, w), bool)
        last[:, :-1] = ranked[:, 1:] != ranked[:, :-1]
        keep = np.empty((b, w), bool)
        np.put_along_axis(keep, order, last, axis=1)
        return keep & valid

    def _padded(self, recent: Sequence[Interactions]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int8],
                                                               npt.NDArray[np.bool_]]:
        """(b, window) movie indices, preferences and a validity mask of each user's newest
        ``window`` interactions, right-aligned (padding on the left); raises on bad input."""
        b, w = len(recent), self.window
        if [len(m) for m, _ in recent] != [len(p) for _, p in recent]:
            raise ValueError("movie_indices and preferences differ in length")
        lengths = np.array([min(len(m), w) for m, _ in recent], dtype=np.int64)
        valid = np.arange(w)[None, :] >= (w - lengths)[:, None]  # (b, w) right-aligned
        idx = np.zeros((b, w), np.int64)
        pref = np.zeros((b, w), np.int8)
        if lengths.sum():  # the tails in row order are the valid entries in row-major order
            idx[valid] = np.concatenate([m[-w:] for m, _ in recent]).astype(np.int64, copy=False)
            pref[valid] = np.concatenate([p[-w:] for _, p in recent]).astype(np.int8, copy=False)
        if not all_valid(pref[valid]):
            raise ValueError("preferences must be in {-2, -1, 1, 2}")
        if valid.any() and (idx[valid].min() < 0 or idx[valid].max() >= len(self.item_factors)):
            raise IndexError(f"movie index outside 0..{len(self.item_factors) - 1}")
        return idx, pref, valid


__all__ = ["RecencyFoldIn", "recency_boost"]
