"""Ranking a batch of users: their scores, the cold-start blend, masks and top-N (pure numpy).

A mixin of the serving ``offline.recommender.Recommender``, which supplies the model (item
factors, the rule, popularity and genres) and each user's ``view``; here those become lists:
every user with a vector scored in one matrix product per block, the blending strategies'
standardised scores (``blended_scores``) and the cold start for users with nothing known.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from offline.scoring import score, top_n
from online.overlay import standardise
from online.rules import UserView
from online.state import UserState

if TYPE_CHECKING:
    from offline.matrix import IdMap
    from offline.models.popularity import PopularityKind, PopularityModel
    from online.overlay import ItemMoments
    from online.rules import UpdateRule

_BLOCK = 256  # users scored and selected at once (a block of scores stays in cache)


@dataclass(frozen=True)
class Ranked:
    """One user's list: (n,) int64 MovieLens ids, (n,) float32 scores, and its source
    ("model" for a user vector, "cold_start" for popularity / liked genres)."""

    movie_ids: npt.NDArray[np.int64]
    scores: npt.NDArray[np.float32]
    source: str


class Ranking:
    """Lists for a batch of states (see the module docstring)."""

    if TYPE_CHECKING:
        item_factors: npt.NDArray[np.float32]
        item_genres: npt.NDArray[np.float32]
        movies: IdMap
        rule: UpdateRule
        popularity: PopularityModel
        popularity_scores: npt.NDArray[np.float32]
        cold_start_kind: PopularityKind
        _moments: ItemMoments

        def view(self, state: UserState, elapsed: float = 0.0) -> UserView: ...
        def vectors(self, views: Sequence[UserView]) -> list[npt.NDArray[np.float32] | None]: ...
        def seen(self, state: UserState) -> npt.NDArray[np.int64]: ...
        def _swipes(self, state: UserState) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int8]]: ...

    @staticmethod
    def _mask_seen(scores: npt.NDArray[np.float32], views: Sequence[UserView]) -> None:
        """Set each (b, n_movies) row's seen movies (history and swipes) to -inf in place."""
        parts = [a for v in views for a in (v.history[0], v.swipes[0])]
        if not parts:
            return
        lengths = [len(v.history[0]) + len(v.swipes[0]) for v in views]
        if not scores.flags.c_contiguous:  # the flat view below would be a copy
            scores[np.repeat(np.arange(len(views)), lengths), np.concatenate(parts)] = -np.inf
            return
        flat = np.repeat(np.arange(len(views), dtype=np.intp) * scores.shape[1], lengths) + np.concatenate(parts)
        scores.reshape(-1)[flat] = -np.inf

    def recommend_states(self, states: Sequence[UserState], n: int, exclude_seen: bool = True) -> list[Ranked]:
        """Lists for a batch of users: all users with a vector scored in one matrix product.

        Strategies that blend the cold start (recency, overlays) rank standardised scores
        (``blended_scores``); the others rank the vectors' dot products.
        """
        if self.rule.blends_cold_start:
            return self._recommend_blended(states, n, exclude_seen)
        out: list[Ranked | None] = [None] * len(states)
        views = [self.view(s) for s in states]
        vecs = self.vectors(views)

        def dot_products(rows: list[int]) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
            # (b, n_movies) u . y, nothing to add back
            return score(np.stack([vecs[i] for i in rows]), self.item_factors), np.zeros(len(rows), np.float32)

        self._rank_model(views, [i for i, v in enumerate(vecs) if v is not None], n, exclude_seen, dot_products, out)
        for i, s in enumerate(states):
            if out[i] is None:
                out[i] = self._cold(s, n, exclude_seen)
        return [r for r in out if r is not None]

    def blended_scores(self, views: Sequence[UserView]) -> npt.NDArray[np.float32]:
        """(b, n_movies) float32 list scores of a strategy that blends the cold start.

        score = a (z(vector scores) + overlay) + (1 - a) z(cold-start scores), with a the
        rule's ``model_share`` (1 for a known user, growing with a new user's swipes), z
        standardising each row, the cold start the popularity of movies in the genres the
        user liked (``genre_popular_scores``) and the overlay the rule's (item neighbours).
        """
        out, offset = self._blended(views)
        out += offset[:, None]
        return out

    def _blended(self, views: Sequence[UserView]) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """``blended_scores`` as (b, n_movies) scores less a per-user constant, and the (b,)
        constant: the ranking needs only the first, the published scores add the second."""
        shares = [self.rule.model_share(v) for v in views]
        vecs = self.vectors(views)
        k = self.item_factors.shape[1]
        extra = self.rule.overlay(views)  # before the product: its few gathers find warm caches
        # z(u . y) for every user with a vector, one product (ItemMoments: mean and sd in O(k^2))
        if len(vecs) == 1 and vecs[0] is not None and vecs[0].dtype == np.float32:
            out, offset = self._moments.scaled_scores(vecs[0], self.item_factors)  # one user: fewer calls
        else:
            out, offset = self._moments.scaled_scores(
                np.array([np.zeros(k, np.float32) if v is None else v for v in vecs]) if vecs else np.zeros((0, k)),
                self.item_factors)
        if extra is not None:
            extra.add_to(out)
        blend = [i for i, share in enumerate(shares) if share < 1]
        if blend:
            # a (z(model) + overlay) + (1 - a) z(cold start), for the users still blending, row by row
            a = np.array([shares[i] for i in blend], dtype=np.float32)
            offset[blend] = a * offset[blend] + self._blend_cold(out, blend, [views[i] for i in blend], a)
        return out, offset

    def _recommend_blended(self, states: Sequence[UserState], n: int, exclude_seen: bool) -> list[Ranked]:
        out: list[Ranked | None] = [None] * len(states)
        views = [self.view(s) for s in states]
        active = []
        for i, (s, v) in enumerate(zip(states, views)):
            if v.offline is None and not v.n_swipes:
                out[i] = self._cold(s, n, exclude_seen)  # nothing known yet: the popular movies
            else:
                active.append(i)
        self._rank_model(views, active, n, exclude_seen, lambda rows: self._blended([views[i] for i in rows]), out)
        return [r for r in out if r is not None]

    def _rank_model(self, views: Sequence[UserView], rows: list[int], n: int, exclude_seen: bool,
                    scores_of: Callable[[list[int]], tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]],
                    out: list[Ranked | None]) -> None:
        """``out[i]``, for each i of ``rows``, the top ``n`` of the scores ``scores_of(block)``
        returns for blocks of ``_BLOCK`` rows: (b, n_movies) scores less a per-row constant and
        the (b,) constants, added back to the kept scores only. A block's scores are masked and
        selected while in cache."""
        for start in range(0, len(rows), _BLOCK):
            block = rows[start:start + _BLOCK]
            scores, offset = scores_of(block)
            if exclude_seen:
                self._mask_seen(scores, [views[i] for i in block])
            idx, top = top_n(scores, n)
            top += offset[:, None]
            # one gather of the block's MovieLens ids; a row with fewer than n movies (-1 padding)
            # is trimmed by ``_ranked``, the others are rows of these arrays as they are
            full = (idx >= 0).all(axis=1).tolist()
            ids = self.movies.ids.take(np.maximum(idx, 0))
            for j, i in enumerate(block):
                out[i] = Ranked(ids[j], top[j], "model") if full[j] else self._ranked(idx[j], top[j], "model")

    def _blend_cold(self, out: npt.NDArray[np.float32], rows: list[int], views: Sequence[UserView],
                    a: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """``out[rows[j]] = a_j out[rows[j]] + (1 - a_j) z_j`` in place, z_j the standardised
        cold start of ``views[j]`` as scaled scores, and the (b,) constants ``(1 - a_j) c_j`` that
        complete them: popular movies in the genres of the user's liked swipes
        (``PopularityModel.blend_genre_popular_z``), the plain popularity where there is none."""
        liked = [m[p > 0] for m, p in (v.swipes for v in views)]
        some = [j for j, m in enumerate(liked) if len(m)]
        constants = np.zeros(len(rows), np.float32)
        if some:
            weights = np.stack([self.item_genres[liked[j]].sum(axis=0) for j in some]).astype(np.float64)
            constants[some] = self.popularity.blend_genre_popular_z(
                weights, self.item_genres, out, [rows[j] for j in some], a[some], self.cold_start_kind)
        for j in (j for j, m in enumerate(liked) if not len(m)):  # z(popularity), its mean 0: no constant
            row = out[rows[j]]
            row *= a[j]
            row += (1.0 - a[j]) * self._popularity_z
        return constants

    @property
    def _popularity_z(self) -> npt.NDArray[np.float32]:
        """(n_movies,) float32 standardised ``popularity_scores``, once."""
        cached = self.__dict__.get("_popularity_z_cache")
        if cached is None:
            cached = standardise(self.popularity_scores[None, :])[0]
            self.__dict__["_popularity_z_cache"] = cached
        return cached

    def _ranked(self, idx: npt.NDArray[np.int64], scores: npt.NDArray[np.float32], source: str) -> Ranked:
        keep = idx >= 0
        return Ranked(self.movies.ids[idx[keep]], scores[keep].astype(np.float32), source)

    def _cold(self, state: UserState, n: int, exclude_seen: bool) -> Ranked:
        seen = self.seen(state) if exclude_seen else np.zeros(0, np.int64)
        sw_m, sw_p = self._swipes(state)
        liked = sw_m[sw_p > 0]
        if len(liked):
            idx = self.popularity.genre_popular(self.item_genres[liked].sum(axis=0), self.item_genres, n,
                                                seen, self.cold_start_kind)
        else:
            scores = self.popularity_scores.copy()[None, :]
            scores[0, seen] = -np.inf
            idx = top_n(scores, n)[0][0]
        idx = idx[idx >= 0]
        return Ranked(self.movies.ids[idx], self.popularity_scores[idx], "cold_start")
