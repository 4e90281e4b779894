"""Evaluate every offline model on val and test in one place (glue over offline.evaluate)."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from tqdm.auto import tqdm

from offline.config import EvalConfig
from offline.dataset_matrices import SplitMatrices
from offline.evaluate import evaluate_recommender, rating_metrics
from offline.models.content import ContentModel
from offline.models.popularity import PopularityModel
from offline.models.svd import SVDRatingModel
from offline.scoring import recommend
from offline.split import TEST, VAL

log = logging.getLogger(__name__)

RANKING_MODELS = ("als", "popularity_count", "popularity_bayes", "content")


@dataclass(frozen=True)
class TrainedModels:
    """The fitted models. Factors: user (n_users, k), item (n_movies, k) float32."""

    user_factors: npt.NDArray[np.float32]
    item_factors: npt.NDArray[np.float32]
    popularity: PopularityModel
    content: ContentModel
    svd: SVDRatingModel | None


def _evaluated_rows(holdout: sp.csr_matrix, max_users: int | None, seed: int) -> sp.csr_matrix:
    """Holdout restricted to a seeded sample of at most ``max_users`` users (rows zeroed)."""
    if max_users is None or holdout.shape[0] <= max_users:
        return holdout
    has = np.flatnonzero(np.diff(holdout.indptr) > 0)
    if len(has) <= max_users:
        return holdout
    keep = np.random.default_rng(seed).choice(has, size=max_users, replace=False)
    mask = np.zeros(holdout.shape[0], dtype=np.float32)
    mask[keep] = 1.0
    return sp.csr_matrix(sp.diags(mask) @ holdout)


def evaluate_all(
    mats: SplitMatrices,
    models: TrainedModels,
    item_genres: npt.NDArray[np.float32],
    config: EvalConfig,
    show_progress: bool = True,
) -> dict[str, dict[str, dict[str, float]]]:
    """``{"val": {model: {metric: x}}, "test": {...}}`` for every model.

    Ranking models see, for the val split, the user's train movies as seen; for test, train
    and val (a user never gets a movie they rated before the split started). The rating
    models (``svd``, ``bias``) report RMSE and MAE on every holdout rating.
    """
    k = max(config.ks)
    out: dict[str, dict[str, dict[str, float]]] = {}
    steps = [(s, m) for s in ("val", "test") for m in RANKING_MODELS]
    bar = tqdm(steps, desc="evaluate", disable=not show_progress, leave=False)
    for split_name, code in (("val", VAL), ("test", TEST)):
        seen = mats.seen_before(code)
        holdout = _evaluated_rows(mats.val if code == VAL else mats.test, config.max_users, config.seed)
        recommenders: dict[str, Callable[[npt.NDArray[np.int64]], npt.NDArray[np.int64]]] = {
            "als": lambda u, seen=seen: recommend(models.user_factors[u], models.item_factors, k, seen[u])[0],
            "popularity_count": lambda u, seen=seen: models.popularity.recommend(u, k, seen, "count"),
            "popularity_bayes": lambda u, seen=seen: models.popularity.recommend(u, k, seen, "bayes"),
            "content": lambda u, seen=seen: models.content.recommend(u, k, mats.train, seen),
        }
        out[split_name] = {}
        for name, rec in recommenders.items():
            out[split_name][name] = evaluate_recommender(
                rec, seen, holdout, config.ks, item_genres, batch_size=config.batch_size
            )
            bar.update(1)
        if models.svd is not None:
            frame = mats.val_frame if code == VAL else mats.test_frame
            u, i, r = (frame[c].to_numpy() for c in ("user_index", "movie_index", "rating"))
            out[split_name]["svd"] = rating_metrics(models.svd.predict(u, i), r)
            out[split_name]["bias"] = rating_metrics(models.svd.baseline.predict(u, i), r)
    bar.close()
    return out
