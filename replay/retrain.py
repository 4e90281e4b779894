"""The batch reference: ALS retrained from scratch on more data, served without updates.

``retrained_recommender(art, ("train", "val"))`` fits implicit ALS with the artifact's own
configuration (``art.info["config"]["als"]``: factors, regularization, alpha, iterations,
seed) on the confidence matrix of train + val, over the artifact's user and movie id maps,
and wraps the new factors in a ``static`` Recommender whose known history is train + val.
That is what a nightly retrain would serve at the start of the test period; the replay
compares it, on the test split, with the train-only model kept fresh by swipes.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence

import pandas as pd
import scipy.sparse as sp

from offline.als import ALSFactors, train_als
from offline.artifacts import ArtifactVersion
from offline.config import ALSConfig
from offline.matrix import interaction_matrix
from offline.preference import stored_value
from offline.recommender import History, Recommender

log = logging.getLogger(__name__)
HISTORY_OF_PARTS: dict[tuple[str, ...], History] = {("train",): "train", ("train", "val"): "train+val",
                                                   ("train", "val", "test"): "all"}


def confidence_matrix(art: ArtifactVersion, parts: Sequence[str], base: Recommender) -> sp.csr_matrix:
    """(n_users, n_movies) float32 CSR of sign(p)·(1 + α|p|) over the artifact's ``parts``,
    indexed by ``base``'s id maps (a (user, movie) pair rated in two parts keeps the newest)."""
    frame = pd.concat([art.tables[p] for p in parts], ignore_index=True)
    frame = frame.sort_values("timestamp", kind="stable").drop_duplicates(["user_id", "movie_id"], keep="last")
    alpha = float(art.info["config"]["als"]["alpha"])
    return interaction_matrix(base.users.index_of(frame["user_id"].to_numpy()),
                              base.movies.index_of(frame["movie_id"].to_numpy()),
                              stored_value(frame["preference"].to_numpy(), alpha),
                              (len(base.users), len(base.movies)))


def retrain_factors(art: ArtifactVersion, parts: Sequence[str], base: Recommender,
                    show_progress: bool = False) -> ALSFactors:
    """Fit ALS (the artifact's ALSConfig) on ``parts``: user (n_users, k), item (n_movies, k)."""
    config = ALSConfig(**art.info["config"]["als"])
    log.info("retraining ALS on %s (%s)", "+".join(parts), config)
    return train_als(confidence_matrix(art, parts, base), config, show_progress=show_progress)


def retrained_recommender(art: ArtifactVersion, parts: Sequence[str] = ("train", "val"),
                          cold_start_swipes: int = 3, show_progress: bool = False) -> Recommender:
    """A ``static`` Recommender over ALS retrained on ``parts``, history = ``parts``.

    Its ``model_version`` is the artifact's plus ``+retrain``.
    """
    history = HISTORY_OF_PARTS[tuple(parts)]
    base = Recommender.from_artifact(art, "static", history, cold_start_swipes=cold_start_swipes)
    factors = retrain_factors(art, parts, base, show_progress)
    cfg = art.info["config"]["als"]
    return Recommender(
        factors.item_factors, factors.user_factors, base.users, base.movies, base.history, base.popularity,
        base.item_genres, float(cfg["regularization"]), float(cfg["alpha"]), "static",
        cold_start_kind=base.cold_start_kind, cold_start_swipes=cold_start_swipes,
        model_version=f"{art.version}+retrain",
    )
