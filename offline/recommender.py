"""The serving contract: top-N, online updates, similar movies and cold start (pure numpy).

The same object serves the stream worker (state kept in Faust tables and passed in), the
replay (``--via local``) and the API; nothing here does I/O. Stateless core:
``new_state`` / ``apply`` / ``recommend_states``; in-memory convenience for scripts and
notebooks: ``get_top_n`` / ``update_user`` / ``similar_movies``.
"""
from __future__ import annotations

from collections.abc import Sequence
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
from offline.preference import PREFERENCE_OF_BUCKET
from offline.scoring import recommend, top_n
from stream_app.updates import AdditiveParams, AdditiveRule, FoldIn
from stream_app.user_state import UserState

Strategy = Literal["static", "additive", "foldin"]
History = Literal["train", "train+val", "all"]
SimilarMethod = Literal["als", "cosine", "jaccard"]
_VALID_PREFERENCES = frozenset(PREFERENCE_OF_BUCKET.values())


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
            movies excluded as seen and the base of each trained user's fold-in.
        popularity: fitted popularity model; cold_start_kind: "count" or "bayes".
        item_genres: (n_movies, n_genres) float32 multi-hot.
        regularization, alpha: the ALS training values (fold-in must match them).
        strategy: how a swipe changes the user vector.
        cold_start_swipes: an unknown user gets a vector once they have this many swipes;
            before that, popular movies in the genres they liked (or plain popularity).
    """

    def __init__(
        self, item_factors: npt.NDArray[np.float32], user_factors: npt.NDArray[np.float32],
        users: IdMap, movies: IdMap, history: sp.csr_matrix, popularity: PopularityModel,
        item_genres: npt.NDArray[np.float32], regularization: float, alpha: float,
        strategy: Strategy = "foldin", additive: AdditiveParams = AdditiveParams(),
        cold_start_kind: Literal["count", "bayes"] = "count", cold_start_swipes: int = 3,
        model_version: str = "", years: npt.NDArray[np.float64] | None = None,
    ) -> None:
        self.item_factors = np.ascontiguousarray(item_factors, dtype=np.float32)
        self.user_factors = np.ascontiguousarray(user_factors, dtype=np.float32)
        self.users, self.movies, self.history = users, movies, history.tocsr()
        self.popularity, self.cold_start_kind = popularity, cold_start_kind
        self.popularity_scores = popularity.scores(cold_start_kind)
        self.item_genres = item_genres
        self.alpha, self.strategy, self.cold_start_swipes = alpha, strategy, cold_start_swipes
        self.model_version = model_version
        self.foldin = FoldIn.from_factors(self.item_factors, regularization)
        self.additive = AdditiveRule.from_params(self.user_factors, self.item_factors, additive)
        self.content = ContentModel().fit(item_genres, years)
        norms = np.linalg.norm(self.item_factors, axis=1, keepdims=True)
        self._unit_items = self.item_factors / np.where(norms > 0, norms, 1.0)
        self._states: dict[int, UserState] = {}

    @classmethod
    def from_artifact(
        cls, art: ArtifactVersion, strategy: Strategy = "foldin", history: History = "all",
        additive: AdditiveParams = AdditiveParams(), cold_start_swipes: int = 3,
    ) -> Recommender:
        """Build from a loaded artifact; ``history`` picks which splits count as already seen."""
        users, movies = IdMap(art.arrays["user_ids"]), IdMap(art.arrays["movie_ids"])
        parts = {"train": ["train"], "train+val": ["train", "val"], "all": ["train", "val", "test"]}[history]
        frame = pd.concat([art.tables[p] for p in parts if p in art.tables], ignore_index=True)
        hist = interaction_matrix(users.index_of(frame["user_id"].to_numpy()), movies.index_of(frame["movie_id"].to_numpy()),
                                  frame["preference"].to_numpy(np.float32), (len(users), len(movies)))
        cfg = art.info["config"]
        popularity = PopularityModel.from_table(art.tables["popularity"], PopularityConfig(**cfg["popularity"]))
        years = art.tables["movies"]["year"].astype("float64").to_numpy() if "year" in art.tables["movies"] else None
        return cls(
            art.arrays["item_factors"], art.arrays["user_factors"], users, movies, hist, popularity,
            art.arrays["item_genres"], cfg["als"]["regularization"], cfg["als"]["alpha"], strategy, additive,
            art.info.get("cold_start", "count"), cold_start_swipes, art.version, years,
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
        idx = self.movies.index_of(state.movies)
        keep = idx >= 0
        return idx[keep], state.preferences[keep]

    def _solve(self, state: UserState, extra_movie: int | None = None, extra_pref: int = 0
               ) -> npt.NDArray[np.float32] | None:
        """Fold-in from the artifact history plus the swipes (plus one new swipe); None while
        an unknown user has fewer than ``cold_start_swipes`` interactions."""
        base_m, base_p, u = self._base(state.user_id)
        sw_m, sw_p = self._swipes(state)
        if extra_movie is not None:
            sw_m, sw_p = np.r_[sw_m, extra_movie], np.r_[sw_p, np.int8(extra_pref)].astype(np.int8)
        if u is None and len(sw_m) < self.cold_start_swipes:
            return None  # still cold: served from popularity and liked genres
        # x_u = (YᵀY + Yᵀ(C_u − I)Y + λI)⁻¹ YᵀC_u p_u over base history + swipes
        return self.foldin.solve(np.r_[base_m, sw_m], np.r_[base_p, sw_p], self.alpha)

    def vector(self, state: UserState) -> npt.NDArray[np.float32] | None:
        """The state's vector; re-derived by fold-in when it belongs to another model version;
        else the artifact's for a trained user; else None (cold)."""
        if state.vector is not None and state.model_version == self.model_version:
            return state.vector
        if len(state.movies) and self.strategy != "static":
            return self._solve(state)
        u = self.users.get(state.user_id)
        return None if u is None else self.user_factors[u]

    def apply(self, state: UserState, movie_id: int, preference: int, occurred_at: float,
              event_id: str | None = None) -> UserState:
        """``state`` after one swipe of signed ``preference`` (-2, -1, +1, +2).

        Raises UnknownMovieError or ValueError; a repeated ``event_id`` returns ``state``.
        """
        if state.has_seen_event(event_id):
            return state
        if preference not in _VALID_PREFERENCES:
            raise ValueError(f"preference must be one of -2, -1, 1, 2, got {preference}")
        m = self.movie_index(movie_id)
        current = self.vector(state) if self.strategy == "additive" else None
        if self.strategy == "static":
            vec = None
        elif current is not None:
            elapsed = occurred_at - state.last_event_at if state.last_event_at > 0 else 0.0
            vec = self.additive.apply(current, self.item_factors[m], preference, elapsed)
        else:
            vec = self._solve(state, m, preference)
        return state.with_swipe(int(movie_id), preference, occurred_at, event_id, vec, self.model_version)

    def seen(self, state: UserState) -> npt.NDArray[np.int64]:
        """Movie indices the user has seen: artifact history plus swipes."""
        base_m, _, _ = self._base(state.user_id)
        return np.union1d(base_m, self._swipes(state)[0])

    def recommend_states(self, states: Sequence[UserState], n: int, exclude_seen: bool = True) -> list[Ranked]:
        """Lists for a batch of users: all users with a vector scored in one matrix product."""
        out: list[Ranked | None] = [None] * len(states)
        warm = [(i, v) for i, s in enumerate(states) if (v := self.vector(s)) is not None]
        if warm:
            rows, vecs = zip(*warm)
            exclude = None
            if exclude_seen:
                seen = [self.seen(states[i]) for i in rows]
                indptr = np.r_[0, np.cumsum([len(x) for x in seen])]
                cols = np.concatenate(seen) if seen else np.zeros(0, np.int64)
                exclude = sp.csr_matrix((np.ones(len(cols), np.float32), cols, indptr),
                                        shape=(len(rows), len(self.movies)))
            idx, scores = recommend(np.stack(vecs), self.item_factors, n, exclude)
            for j, i in enumerate(rows):
                out[i] = self._ranked(idx[j], scores[j], "model")
        for i, s in enumerate(states):
            if out[i] is None:
                out[i] = self._cold(s, n, exclude_seen)
        return [r for r in out if r is not None]

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
