"""The serving contract: top-N, online updates, similar movies and cold start (pure numpy).

The same object serves the stream worker (state kept in Faust tables and passed in), the
replay (``--via local``) and the API; nothing here does I/O. Stateless core:
``new_state`` / ``apply`` / ``recommend_states``; in-memory convenience for scripts and
notebooks: ``get_top_n`` / ``update_user`` / ``similar_movies``. How a swipe changes a
user's vector and list is the strategy's (``online.rules``, configured by
``online.settings.OnlineSettings``); this class gathers what the rule reads (the artifact's
vectors, history and neighbour rows, the state's swipes) and ranks.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

from offline.artifacts import ArtifactVersion
from offline.matrix import IdMap, interaction_matrix
from offline.models.content import ContentModel
from offline.models.popularity import PopularityConfig, PopularityModel
from offline.neighbours import neighbour_matrix
from offline.recent import RecentHistory
from offline.scoring import score, top_n
from online.overlay import ItemMoments, standardise
from online.preference import VALID_PREFERENCES
from online.rules import ModelContext, UpdateRule, UserView, make_rule
from online.settings import OnlineSettings
from online.state import UserState

Strategy = str
"""A name in ``online.rules.STRATEGIES``."""
History = Literal["train", "train+val", "all"]
SimilarMethod = Literal["als", "cosine", "jaccard"]
HISTORY_PARTS: dict[str, tuple[str, ...]] = {"train": ("train",), "train+val": ("train", "val"),
                                             "all": ("train", "val", "test")}
_BLOCK = 256  # users scored and selected at once (a block of scores stays in cache)
_FEW_SWIPES = 64  # up to this many swipes, their indices are looked up one by one in a dict


class UnknownMovieError(KeyError):
    """A movie id outside the model's catalogue."""


@dataclass(frozen=True)
class Ranked:
    """One user's list: (n,) int64 MovieLens ids, (n,) float32 scores, and its source
    ("model" for a user vector, "cold_start" for popularity / liked genres)."""

    movie_ids: npt.NDArray[np.int64]
    scores: npt.NDArray[np.float32]
    source: str


class Recommender:
    """Serving model over one artifact version.

    Args:
        item_factors: (n_movies, k) float32; user_factors: (n_users, k) float32.
        users, movies: id maps (index ↔ MovieLens id).
        history: (n_users, n_movies) CSR of the artifact's known preferences (-2..+2): the
            movies excluded as seen and the base of each trained user's exact fold-in.
        popularity: fitted popularity model; cold_start_kind: "count" or "bayes".
        item_genres: (n_movies, n_genres) float32 multi-hot.
        regularization, alpha: the ALS training values (fold-in must match them).
        strategy: shorthand for ``online.strategy``; cold_start_swipes: for ``online.cold_start_swipes``.
        online: the rules' settings (``OnlineSettings``; default: its defaults).
        neighbours: (n_movies, n_movies) float32 CSR item-neighbour rows (``offline.neighbours``),
            or None; recent: each user's newest interactions in time order.
    """

    def __init__(
        self, item_factors: npt.NDArray[np.float32], user_factors: npt.NDArray[np.float32],
        users: IdMap, movies: IdMap, history: sp.csr_matrix, popularity: PopularityModel,
        item_genres: npt.NDArray[np.float32], regularization: float, alpha: float,
        strategy: Strategy | None = None, online: OnlineSettings | None = None,
        cold_start_kind: Literal["count", "bayes"] = "count", cold_start_swipes: int | None = None,
        model_version: str = "", years: npt.NDArray[np.float64] | None = None,
        neighbours: sp.csr_matrix | None = None, recent: RecentHistory | None = None,
    ) -> None:
        online = online or OnlineSettings()
        changes = {k: v for k, v in (("strategy", strategy), ("cold_start_swipes", cold_start_swipes)) if v is not None}
        self.online = OnlineSettings.model_validate({**online.online().model_dump(), **changes}) if changes else online
        self.item_factors = np.ascontiguousarray(item_factors, dtype=np.float32)
        self.user_factors = np.ascontiguousarray(user_factors, dtype=np.float32)
        self.users, self.movies, self.history = users, movies, history.tocsr()
        self.popularity, self.cold_start_kind = popularity, cold_start_kind
        self.popularity_scores = popularity.scores(cold_start_kind)
        self.item_genres = item_genres
        self.alpha, self.model_version = alpha, model_version
        self.recent = recent or RecentHistory.empty(len(users))
        self.neighbours = neighbours
        self.rule: UpdateRule = make_rule(ModelContext(self.item_factors, self.user_factors, float(regularization),
                                                       float(alpha), neighbours), self.online)
        self._moments = ItemMoments.of(self.item_factors)
        self.content = ContentModel().fit(item_genres, years)
        norms = np.linalg.norm(self.item_factors, axis=1, keepdims=True)
        self._unit_items = self.item_factors / np.where(norms > 0, norms, 1.0)
        self._states: dict[int, UserState] = {}

    @property
    def strategy(self) -> str:
        """The served strategy's name (``online.rules.STRATEGIES``)."""
        return self.rule.name

    @property
    def cold_start_swipes(self) -> int:
        return self.online.cold_start_swipes

    @classmethod
    def from_artifact(
        cls, art: ArtifactVersion, strategy: Strategy | None = None, history: History = "all",
        online: OnlineSettings | None = None, cold_start_swipes: int | None = None,
    ) -> Recommender:
        """Build from a loaded artifact; ``history`` picks which splits count as already seen."""
        online = online or OnlineSettings()
        users, movies = IdMap(art.arrays["user_ids"]), IdMap(art.arrays["movie_ids"])
        frame = pd.concat([art.tables[p] for p in HISTORY_PARTS[history] if p in art.tables], ignore_index=True)
        hist = interaction_matrix(users.index_of(frame["user_id"].to_numpy()), movies.index_of(frame["movie_id"].to_numpy()),
                                  frame["preference"].to_numpy(np.float32), (len(users), len(movies)))
        cfg = art.info["config"]
        popularity = PopularityModel.from_table(art.tables["popularity"], PopularityConfig(**cfg["popularity"]))
        years = art.tables["movies"]["year"].astype("float64").to_numpy() if "year" in art.tables["movies"] else None
        return cls(
            art.arrays["item_factors"], art.arrays["user_factors"], users, movies, hist, popularity,
            art.arrays["item_genres"], cfg["als"]["regularization"], cfg["als"]["alpha"], strategy, online,
            art.info.get("cold_start", "count"), cold_start_swipes, art.version, years,
            neighbour_matrix(art.arrays, len(movies)),
            RecentHistory.from_frame(frame, users, movies, online.recent_history),
        )

    # -- stateless core -------------------------------------------------------------------
    def movie_index(self, movie_id: int) -> int:
        i = self.movies.get(int(movie_id))
        if i is None:
            raise UnknownMovieError(f"movie {movie_id} is not in model {self.model_version or '?'}'s catalogue")
        return i

    def new_state(self, user_id: int) -> UserState:
        return UserState(user_id=int(user_id), model_version=self.model_version)

    def _base(self, user_id: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int8], int | None]:
        u = self.users.get(int(user_id))
        if u is None:
            return np.zeros(0, np.int64), np.zeros(0, np.int8), None
        row = slice(self.history.indptr[u], self.history.indptr[u + 1])
        return self.history.indices[row].astype(np.int64), self.history.data[row].astype(np.int8), u

    def _swipes(self, state: UserState) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int8]]:
        """The state's swipes as (indices, preferences) in this catalogue (unknown ids dropped)."""
        if len(state.movies) <= _FEW_SWIPES:  # the usual case: every id known, found by dict look-ups
            found = self.movies.indices(state.movies.tolist())
            if -1 not in found:
                return np.array(found, dtype=np.int64), state.preferences
        idx = self.movies.index_of(state.movies)
        keep = idx >= 0
        return idx[keep], state.preferences[keep]

    def owns_vector(self, state: UserState) -> bool:
        """Did this model version and strategy compute ``state.vector``? (A version-1 state,
        strategy "", counts as the serving strategy's, as the workers that wrote it read it.)"""
        return (state.vector is not None and state.model_version == self.model_version
                and state.strategy in ("", self.rule.name))

    def view(self, state: UserState, elapsed: float = 0.0) -> UserView:
        """What the rule reads about ``state``'s user (``online.rules.UserView``)."""
        base_m, base_p, u = self._base(state.user_id)
        return UserView(None if u is None else self.user_factors[u], (base_m, base_p), self.recent.of(u),
                        self._swipes(state), state.vector if self.owns_vector(state) else None, elapsed)

    def vector(self, state: UserState) -> npt.NDArray[np.float32] | None:
        """The state's vector when this model and strategy computed it; else the rule derives
        one (the exact fold-in for foldin/additive, the artifact's for static); None: cold."""
        return self.vectors([self.view(state)])[0]

    def vectors(self, views: Sequence[UserView]) -> list[npt.NDArray[np.float32] | None]:
        """``vector`` for a batch of views: the stored ones, the rest derived in one batch."""
        out = [v.vector for v in views]
        missing = [i for i, v in enumerate(out) if v is None]
        if missing:
            for i, vec in zip(missing, self.rule.derive_many([views[i] for i in missing])):
                out[i] = vec
        return out

    def apply(self, state: UserState, movie_id: int, preference: int, occurred_at: float,
              event_id: str | None = None) -> UserState:
        """``state`` after one swipe of signed ``preference`` (-2, -1, +1, +2).

        Raises UnknownMovieError or ValueError; a repeated ``event_id`` returns ``state``.
        """
        if state.has_seen_event(event_id):
            return state
        if preference not in VALID_PREFERENCES:
            raise ValueError(f"preference must be one of -2, -1, 1, 2, got {preference}")
        m = self.movie_index(movie_id)
        if self.rule.stateless:  # the vector follows from the swipes: derived, batched, when ranked
            vec = None
        else:
            elapsed = occurred_at - state.last_event_at if state.last_event_at > 0 else 0.0
            vec = self.rule.update(self.view(state, elapsed), m, preference)
        return state.with_swipe(int(movie_id), preference, occurred_at, event_id, vec, self.model_version,
                                self.rule.name)

    def seen(self, state: UserState) -> npt.NDArray[np.int64]:
        """Movie indices the user has seen: artifact history plus swipes."""
        base_m, _, _ = self._base(state.user_id)
        return np.union1d(base_m, self._swipes(state)[0])

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
            for j, i in enumerate(block):
                out[i] = self._ranked(idx[j], top[j], "model")

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

    # -- in-memory convenience (the contract for scripts and the API) ----------------------
    def state(self, user_id: int) -> UserState:
        return self._states.get(int(user_id)) or self.new_state(user_id)

    def get_top_n(self, user_id: int, n: int = 10, exclude_seen: bool = True) -> list[tuple[int, float]]:
        """[(movie_id, score)] best first for one user (cold start for an unknown user)."""
        r = self.recommend_states([self.state(user_id)], n, exclude_seen)[0]
        return list(zip(r.movie_ids.tolist(), r.scores.tolist()))

    def update_user(self, user_id: int, movie_id: int, preference: int, occurred_at: float | None = None) -> None:
        """Apply one swipe (signed preference -2, -1, +1, +2) to the in-memory state."""
        s = self.state(user_id)
        t = occurred_at if occurred_at is not None else s.last_event_at
        self._states[int(user_id)] = self.apply(s, movie_id, preference, t)

    def similar_movies(self, movie_id: int, n: int = 10, method: SimilarMethod = "als") -> list[tuple[int, float]]:
        """[(movie_id, similarity)] for a movie: cosine of ALS item factors, or of genres+year
        ("cosine") / Jaccard of genres ("jaccard")."""
        m = self.movie_index(movie_id)
        if method == "als":
            sims = (self._unit_items @ self._unit_items[m])[None, :].astype(np.float32)
            sims[0, m] = -np.inf
            idx, val = top_n(sims, n)
            idx, val = idx[0], val[0]
        else:
            idx, val = self.content.similar_movies(m, n, method)
        keep = idx >= 0
        return list(zip(self.movies.ids[idx[keep]].tolist(), val[keep].astype(float).tolist()))
