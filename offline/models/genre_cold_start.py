"""The genre cold start: popular movies in the genres a new user liked (pure numpy/scipy).

A mixin of ``PopularityModel`` (``offline.models.popularity``): it reads the fitted model's
``scores(kind)`` and adds the cold-start scores, their standardised form (the blending
strategies' z-scores, ``genre_popular_z_many``, blended in place by
``blend_genre_popular_z``) and the cold-start list (``genre_popular``). Movies are grouped by
their distinct genre combination (MovieLens has ~1-2k): everything per user is computed per
combination and taken into the catalogue once.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from offline.scoring import top_n

PopularityKind = Literal["count", "bayes"]


class GenreColdStart:
    """Cold-start scores from liked genres, for a model with ``scores(kind)``."""

    if TYPE_CHECKING:
        def scores(self, kind: PopularityKind = "count") -> npt.NDArray[np.float32]: ...

    def genre_popular_scores(
        self,
        liked_genres: npt.NDArray[np.floating],
        item_genres: npt.NDArray[np.floating],
        kind: PopularityKind = "count",
    ) -> npt.NDArray[np.float32]:
        """(n_movies,) float32 cold-start scores: popular movies in the genres a new user likes.

        overlap_i = g_i · w / Σ w (share of the liked genre weight movie i carries) and
        pop_i = popularity percentile in (0, 1]; score_i = overlap_i · pop_i, and movies sharing
        no liked genre follow all others in popularity order (pop_i - 1).

        Args:
            liked_genres: (n_genres,) non-negative weights w (e.g. multi-hot).
            item_genres: (n_movies, n_genres) multi-hot.
        """
        return self.genre_popular_scores_many(np.asarray(liked_genres, dtype=np.float64)[None, :], item_genres,
                                              kind)[0]

    def genre_popular_scores_many(
        self,
        liked_genres: npt.NDArray[np.floating],
        item_genres: npt.NDArray[np.floating],
        kind: PopularityKind = "count",
    ) -> npt.NDArray[np.float32]:
        """(b, n_movies) float32 ``genre_popular_scores`` of (b, n_genres) liked-genre weights,
        one product for the batch."""
        overlap, combo_of = self._combo_overlap(liked_genres, item_genres)
        overlap = overlap[:, combo_of]  # (b, n_movies) o_ui
        pop = self._percentiles(kind)[None, :]
        return np.where(overlap > 0, overlap * pop, pop - 1.0).astype(np.float32)

    def _percentiles(self, kind: PopularityKind) -> npt.NDArray[np.float64]:
        """pop_i = (rank from the bottom, 1..n) / n of ``scores(kind)``; the sort is cached
        (a cold-start list per swipe re-sorted every movie) and redone when the scores change."""
        s = self.scores(kind)
        cache: dict[str, tuple[npt.NDArray[np.float32], npt.NDArray[np.float64]]] = self.__dict__.setdefault(
            "_percentile_cache", {})
        hit = cache.get(kind)
        if hit is not None and np.array_equal(hit[0], s):
            return hit[1]
        pop = np.empty(len(s))
        pop[np.argsort(s, kind="stable")] = np.arange(1, len(s) + 1) / max(len(s), 1)
        pop.flags.writeable = False
        cache[kind] = (s, pop)
        return pop

    def genre_popular_z_many(
        self,
        liked_genres: npt.NDArray[np.floating],
        item_genres: npt.NDArray[np.floating],
        kind: PopularityKind = "count",
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """``genre_popular_scores_many`` standardised per user (mean 0, standard deviation 1 over
        the catalogue; a constant row becomes 0), as (b, n_movies) float32 ``s / sd`` and the (b,)
        float32 constant ``-mean / sd`` to add to each row (a ranking needs only the first);
        mean and sd in O(genre combinations) (``_z_tables``)."""
        slope, intercept, offset, combo_of, pop = self._z_tables(liked_genres, item_genres, kind)
        scores = np.empty((len(slope), len(combo_of)), np.float32)
        for j, row in enumerate(scores):  # row by row: a 2-D fancy gather costs ~3x the takes
            _z_row(slope[j], intercept[j], combo_of, pop, out=row)
        return scores, offset

    def blend_genre_popular_z(
        self,
        liked_genres: npt.NDArray[np.floating],
        item_genres: npt.NDArray[np.floating],
        into: npt.NDArray[np.float32],
        rows: list[int],
        keep: npt.NDArray[np.floating],
        kind: PopularityKind = "count",
    ) -> npt.NDArray[np.float32]:
        """Blend each user's ``genre_popular_z_many`` scaled scores z_j into a row of ``into``
        in place, ``into[rows[j]] = keep_j into[rows[j]] + (1 - keep_j) z_j``, one row at a time
        (no (b, n_movies) gather, temporary and scatter), and return the (b,) float32 constants
        ``(1 - keep_j) offset_j`` that complete the blended rows.

        Args:
            liked_genres: (b, n_genres) weights, one row per entry of ``rows``.
            into: (B, n_movies) float32 scores, changed in place.
            rows: b row indices of ``into``.
            keep: (b,) share a_j of the existing row.
        """
        a = np.asarray(keep, dtype=np.float64)
        slope, intercept, offset, combo_of, pop = self._z_tables(liked_genres, item_genres, kind,
                                                                 (1.0 - a)[:, None])
        for j, (i, share) in enumerate(zip(rows, a.astype(np.float32).tolist())):
            cold = _z_row(slope[j], intercept[j], combo_of, pop)
            row = into[i]
            row *= share
            row += cold
        return offset

    def _z_tables(self, liked_genres: npt.NDArray[np.floating], item_genres: npt.NDArray[np.floating],
                  kind: PopularityKind, scale: npt.NDArray[np.float64] | float = 1.0,
                  ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.float32],
                             npt.NDArray[np.intp], npt.NDArray[np.float32]]:
        """``genre_popular_z_many`` as tables per genre combination: the scaled score of movie i
        is ``pop_i slope[u, c(i)] + intercept[u, c(i)]``, both times ``scale``.

        With the overlap o_uc and inv_u = 1 / sd_u, a movie sharing a liked genre scores
        o_uc pop_i, the others pop_i - 1, so slope = inv (o if o > 0 else 1) and intercept =
        inv (0 if o > 0 else -1). The mean and variance come from per-combination sums in
        O(combinations), not from passes over the (b, n_movies) scores: movies of one
        combination c share o_uc, so sum_i s_i = sum_c [o_c > 0] o_c P1_c + [o_c = 0] (P1_c -
        N_c), with P1_c, P2_c the sums of pop and pop^2 over c and N_c its size (squares alike).

        Returns (b, c) float32 slope and intercept, the (b,) float32 constants ``-scale mean /
        sd``, the (n_movies,) intp combination of each movie and (n_movies,) float32 pop.
        """
        overlap, combo_of = self._combo_overlap(liked_genres, item_genres)  # (b, c) o_uc
        pop = self._percentiles(kind)
        n_combos = overlap.shape[1]
        n_c, p1, p2 = self._combo_sums(combo_of, pop, n_combos)
        on = overlap > 0
        # sum_i s_i and sum_i s_i^2 of each user, per combination then summed
        s1 = np.where(on, overlap * p1, p1 - n_c).sum(axis=1)
        s2 = np.where(on, overlap * overlap * p2, p2 - 2.0 * p1 + n_c).sum(axis=1)
        n = max(len(pop), 1)
        mean = s1 / n
        sd = np.sqrt(np.maximum(s2 / n - mean * mean, 0.0))
        inv = np.where(sd > 1e-12, 1.0 / np.where(sd > 1e-12, sd, 1.0), 0.0)[:, None] * scale  # (b, 1)
        # z = s / sd - mean / sd, s = pop slope + intercept per combination
        slope = (np.where(on, overlap, 1.0) * inv).astype(np.float32)
        intercept = (np.where(on, 0.0, -1.0) * inv).astype(np.float32)
        return (slope, intercept, (-mean * inv[:, 0]).astype(np.float32), combo_of.astype(np.intp, copy=False),
                self._percentiles32(kind))

    def _combo_sums(self, combo_of: npt.NDArray[np.int64], pop: npt.NDArray[np.float64], n_combos: int
                    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """(c,) float64 N_c, P1_c, P2_c: size and sums of pop and pop^2 per genre combination, kept
        for the last (combinations, percentiles) arrays (three passes over the catalogue each
        batch otherwise)."""
        hit = self.__dict__.get("_combo_sums_cache")
        if hit is None or hit[0] is not combo_of or hit[1] is not pop:
            sums = (np.bincount(combo_of, minlength=n_combos).astype(np.float64),
                    np.bincount(combo_of, pop, n_combos), np.bincount(combo_of, pop * pop, n_combos))
            hit = (combo_of, pop, sums)
            self.__dict__["_combo_sums_cache"] = hit
        return hit[2]

    def _percentiles32(self, kind: PopularityKind) -> npt.NDArray[np.float32]:
        """``_percentiles`` as float32, converted once per percentile array."""
        pop = self._percentiles(kind)
        hit = self.__dict__.get("_percentile32_cache")
        if hit is None or hit[0] is not pop:
            hit = (pop, pop.astype(np.float32))
            hit[1].flags.writeable = False
            self.__dict__["_percentile32_cache"] = hit
        return hit[1]

    def _combo_overlap(self, liked_genres: npt.NDArray[np.floating], item_genres: npt.NDArray[np.floating]
                       ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
        """(b, c) float64 overlaps o_uc = g_c · w_u / Σ w_u of (b, n_genres) liked-genre weights
        with each distinct genre combination c (0 for a user without weights), and each movie's
        (n_movies,) combination (``_genre_combos``)."""
        w = np.atleast_2d(np.asarray(liked_genres, dtype=np.float64))
        combos, combo_of = self._genre_combos(item_genres)
        total = w.sum(axis=1)
        return (w @ combos.T) / np.where(total > 0, total, 1.0)[:, None], combo_of

    def _genre_combos(self, item_genres: npt.NDArray[np.floating]) -> tuple[npt.NDArray[np.float64],
                                                                             npt.NDArray[np.int64]]:
        """The distinct genre combinations, (c, n_genres) float64 0/1, and each movie's (n_movies,)
        int64 row among them; kept for the last array object passed (the serving model passes
        its artifact's genre matrix, never changed in place, on every cold-start swipe; a product
        with all 27k x 20 rows each time was most of a cold-start list, and MovieLens has ~1-2k
        combinations)."""
        hit = self.__dict__.get("_genre_cache")
        if hit is not None and hit[0] is item_genres and len(hit[2]) == len(item_genres):
            return hit[1], hit[2]
        g = np.asarray(item_genres) != 0
        combos, combo_of = np.unique(g, axis=0, return_inverse=True)
        combos = combos.astype(np.float64)
        combo_of = combo_of.ravel().astype(np.int64)
        combos.flags.writeable = combo_of.flags.writeable = False
        if isinstance(item_genres, np.ndarray):
            self.__dict__["_genre_cache"] = (item_genres, combos, combo_of)
        return combos, combo_of

    def genre_popular(
        self,
        liked_genres: npt.NDArray[np.floating],
        item_genres: npt.NDArray[np.floating],
        n: int,
        exclude: npt.NDArray[np.int64] | None = None,
        kind: PopularityKind = "count",
    ) -> npt.NDArray[np.int64]:
        """Cold start: the n best ``genre_popular_scores``, best first; -1 padding.

        Args:
            exclude: (e,) int64 movie indices never to return.
        """
        score = self.genre_popular_scores(liked_genres, item_genres, kind)[None, :]
        ex = None
        if exclude is not None and len(exclude):
            cols = np.unique(np.asarray(exclude, dtype=np.int64))
            ex = sp.csr_matrix((np.ones(len(cols), bool), cols, [0, len(cols)]), shape=score.shape)
        return _pad(top_n(score, n, ex)[0], n)[0]


def _z_row(slope: npt.NDArray[np.float32], intercept: npt.NDArray[np.float32], combo_of: npt.NDArray[np.intp],
           pop: npt.NDArray[np.float32], out: npt.NDArray[np.float32] | None = None) -> npt.NDArray[np.float32]:
    """One user's (n_movies,) scaled cold-start scores ``pop_i slope[c(i)] + intercept[c(i)]``
    from their (c,) per-combination tables (into ``out`` when given)."""
    # mode="wrap": combo_of comes from np.unique's inverse, always in range, so no bounds
    # check is needed ("raise" checks each index: ~1.5x the time of a 23k-movie gather)
    row = slope.take(combo_of, out=out, mode="wrap")
    row *= pop
    row += intercept.take(combo_of, mode="wrap")
    return row


def _pad(indices: npt.NDArray[np.int64], n: int) -> npt.NDArray[np.int64]:
    """Right-pad (b, c) with -1 up to (b, n) columns (top_n caps n at the candidates)."""
    if indices.shape[1] >= n:
        return indices
    return np.pad(indices, ((0, 0), (0, n - indices.shape[1])), constant_values=-1)
