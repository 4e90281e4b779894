"""New-user replay: users the model never saw swipe their first ratings; how good is each
list they see?

A seeded share of the artifact's users is held out: the model is refit without them (ALS
with the artifact's ``ALSConfig``, popularity and the item-neighbour rows, all on the train
split minus their rows), so to it they are new. Each held-out user then swipes their first
``swipes`` ratings (all splits, time order) through the strategy, prequentially as in
``prequential``: before each swipe the list is checked for the swiped movie (NDCG@10 over
the liked ones). The held-out users are split in two seeded halves: ``val`` (what
``blend`` tuning may look at) and ``test`` (what the report shows).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from offline.als import train_als
from offline.artifacts import ArtifactVersion
from offline.config import ALSConfig, NeighboursConfig
from offline.matrix import IdMap, interaction_matrix
from offline.models.popularity import PopularityConfig, PopularityModel
from offline.neighbours import fit_neighbours, neighbour_matrix
from offline.preference import stored_value
from offline.recent import RecentHistory
from offline.recommender import Recommender
from online.settings import OnlineSettings
from replay.events import ReplayEvents, events_from_table
from replay.local import DirectStep, initial_lists, play_local
from replay.prequential import prequential_metrics, ranks_in_lists

log = logging.getLogger(__name__)
Half = Literal["val", "test"]


def held_out_users(user_ids: npt.ArrayLike, share: float, seed: int) -> dict[Half, npt.NDArray[np.int64]]:
    """A seeded ``share`` of ``user_ids``, split in two halves ("val", "test"), each sorted."""
    ids = np.sort(np.asarray(user_ids, dtype=np.int64))
    rng = np.random.default_rng(seed)
    picked = rng.permutation(ids)[: max(2, int(round(share * len(ids))))]
    half = len(picked) // 2
    return {"val": np.sort(picked[:half]), "test": np.sort(picked[half:])}


def first_swipes(frame: pd.DataFrame, users: npt.ArrayLike, swipes: int, namespace: str) -> ReplayEvents:
    """The first ``swipes`` rows (time order) of each of ``users`` in ``frame``, as events."""
    rows = frame[frame["user_id"].isin(np.asarray(users))].sort_values(["user_id", "timestamp", "movie_id"],
                                                                       kind="stable")
    rows = rows.groupby("user_id", sort=False).head(swipes)
    return events_from_table(rows, namespace)


@dataclass(frozen=True, eq=False)
class NewUserModel:
    """The artifact's model refit without the held-out users (shared by every strategy)."""

    art: ArtifactVersion
    held_out: dict[Half, npt.NDArray[np.int64]]
    item_factors: npt.NDArray[np.float32]
    user_factors: npt.NDArray[np.float32]
    users: IdMap
    movies: IdMap
    train: pd.DataFrame
    popularity: PopularityModel
    neighbours: dict[str, np.ndarray]

    @classmethod
    def fit(cls, art: ArtifactVersion, share: float = 0.2, seed: int = 0) -> NewUserModel:
        """Hold out ``share`` of the users (seeded) and refit on the rest of train."""
        movies = IdMap(art.arrays["movie_ids"])
        held = held_out_users(art.arrays["user_ids"], share, seed)
        out = np.r_[held["val"], held["test"]]
        train = art.tables["train"][~art.tables["train"]["user_id"].isin(out)]
        users = IdMap(np.setdiff1d(art.arrays["user_ids"], out))
        u, m = users.index_of(train["user_id"].to_numpy()), movies.index_of(train["movie_id"].to_numpy())
        cfg = art.info["config"]
        shape = (len(users), len(movies))
        als = ALSConfig(**cfg["als"])
        factors = train_als(interaction_matrix(u, m, stored_value(train["preference"].to_numpy(), als.alpha), shape),
                            als, show_progress=False)
        popularity = PopularityModel(PopularityConfig(**cfg["popularity"])).fit(
            interaction_matrix(u, m, train["rating"].to_numpy(np.float32), shape), values="rating")
        watched = interaction_matrix(u, m, np.ones(len(train), np.float32), shape)
        neighbours, _ = fit_neighbours(watched, NeighboursConfig(**cfg.get("neighbours", {})))
        log.info("new-user model: %d users held out, refit on %d train rows", len(out), len(train))
        return cls(art, held, factors.item_factors, factors.user_factors, users, movies, train, popularity, neighbours)

    def recommender(self, strategy: str, online: OnlineSettings) -> Recommender:
        """The strategy's Recommender over the refit model (history: the remaining train)."""
        cfg = self.art.info["config"]["als"]
        settings = OnlineSettings.model_validate({**online.online().model_dump(), "strategy": strategy})
        hist = interaction_matrix(self.users.index_of(self.train["user_id"].to_numpy()),
                                  self.movies.index_of(self.train["movie_id"].to_numpy()),
                                  self.train["preference"].to_numpy(np.float32), (len(self.users), len(self.movies)))
        return Recommender(
            self.item_factors, self.user_factors, self.users, self.movies, hist, self.popularity,
            self.art.arrays["item_genres"], float(cfg["regularization"]), float(cfg["alpha"]), online=settings,
            cold_start_kind=self.art.info.get("cold_start", "count"), model_version=f"{self.art.version}+new-users",
            neighbours=neighbour_matrix(self.neighbours, len(self.movies)),
            recent=RecentHistory.from_frame(self.train, self.users, self.movies, settings.recent_history),
        )

    def events(self, half: Half, swipes: int = 10) -> ReplayEvents:
        """The held-out half's first ``swipes`` ratings as swipes."""
        frame = pd.concat([self.art.tables[p] for p in ("train", "val", "test")], ignore_index=True)
        return first_swipes(frame, self.held_out[half], swipes, f"{self.art.version}/new-users/{half}")


def new_user_metrics(model: NewUserModel, strategy: str, online: OnlineSettings, half: Half = "test",
                     swipes: int = 10, n: int = 20) -> dict[str, float]:
    """Prequential metrics of ``strategy`` over the held-out half's first ``swipes`` swipes."""
    events = model.events(half, swipes)
    if strategy == "popularity":
        strategy = "static"  # a new user under static: the cold start, popularity then genres
    rec = model.recommender(strategy, online)
    initial = initial_lists(rec, np.unique(events.user_ids).tolist(), n)
    play = play_local(strategy, events, DirectStep(rec, n), initial, n)
    out = prequential_metrics(ranks_in_lists(play.before, events.movie_ids), events.positive)
    out["users"] = float(len(np.unique(events.user_ids)))
    return out
