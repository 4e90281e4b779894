"""The serving contract: top-N, online updates, similar movies and cold start (pure numpy).

The same object serves the stream worker (state kept in Faust tables and passed in), the
replay (``--via local``) and the API; nothing here does I/O. Stateless core:
``new_state`` / ``apply`` / ``recommend_states``; in-memory convenience for scripts and
notebooks: ``get_top_n`` / ``update_user`` / ``similar_movies``. How a swipe changes a
user's vector and list is the strategy's (``online.rules``, configured by
``online.settings.OnlineSettings``); this class gathers what the rule reads (the artifact's
vectors, history and neighbour rows, the state's swipes) and ranks (``offline.ranking``, a
mixin: scores, the cold-start blend, masks and top-N).
"""
from __future__ import annotations

from collections.abc import Sequence
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
from offline.ranking import Ranked, Ranking  # noqa: F401 - Ranked: the lists' type, imported from here
from offline.recent import RecentHistory
from offline.scoring import top_n
from online.overlay import ItemMoments
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
_NO_MOVIES, _NO_PREFERENCES = np.zeros(0, np.int64), np.zeros(0, np.int8)
_NO_MOVIES.flags.writeable = _NO_PREFERENCES.flags.writeable = False  # shared by every new state
_FEW_SWIPES = 64  # up to this many swipes, their indices are looked up one by one in a dict


class UnknownMovieError(KeyError):
    """A movie id outside the model's catalogue."""


class Recommender(Ranking):
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
        # a view's history as slices without a copy each: row bounds as Python ints, the
        # preferences as int8 once (the indices stay in the matrix's own integer type)
        self._history_bounds = self.history.indptr.tolist()
        self._history_indices = self.history.indices.view()
        self._history_preferences = self.history.data.astype(np.int8)
        self._history_indices.flags.writeable = self._history_preferences.flags.writeable = False
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

    def warm_up(self) -> None:
        """Rank a list for a known user and for a new one, each after one swipe, through the
        path a lone event takes: the rule's lazily built tables and compiled kernels (numba
        compiles on the first call, or loads its disk cache) are then ready before the first
        real event (~1-3 s the first time on a machine; a server calls this at load)."""
        if not len(self.movies):
            return
        movie = int(self.movies.ids[0])
        never_seen = int(self.users.ids[-1]) + 1 if len(self.users) else 1
        for user in [*self.users.ids[:1].tolist(), never_seen]:
            self.recommend_states([self.apply(self.new_state(user), movie, 2, 1.0)], 10)

    # -- stateless core -------------------------------------------------------------------
    def movie_index(self, movie_id: int) -> int:
        i = self.movies.get(int(movie_id))
        if i is None:
            raise UnknownMovieError(f"movie {movie_id} is not in model {self.model_version or '?'}'s catalogue")
        return i

    def new_state(self, user_id: int) -> UserState:
        return UserState.of(int(user_id), None, _NO_MOVIES, _NO_PREFERENCES, 0.0, (), 0, self.model_version, "")

    def _base(self, user_id: int) -> tuple[npt.NDArray[np.integer], npt.NDArray[np.int8], int | None]:
        """The user's artifact history as (n,) movie indices (the matrix's integer type) and (n,)
        int8 preferences, read-only views; and their row (None: unknown to the artifact)."""
        u = self.users.get(int(user_id))
        if u is None:
            return np.zeros(0, np.int64), np.zeros(0, np.int8), None
        row = slice(self._history_bounds[u], self._history_bounds[u + 1])
        return self._history_indices[row], self._history_preferences[row], u

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
        return UserView.of(None if u is None else self.user_factors[u], (base_m, base_p), self.recent.of(u),
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
