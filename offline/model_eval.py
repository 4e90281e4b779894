"""Evaluate every offline model on val and test in one place (glue over offline.evaluate)."""
from __future__ import annotations

import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from offline.config import EvalConfig
from offline.dataset_matrices import SplitMatrices
from offline.evaluate import evaluate_recommender, rating_metrics
from offline.metrics import popularity_share
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


def _split_inputs(
    mats: SplitMatrices, code: int, config: EvalConfig
) -> tuple[sp.csr_matrix, sp.csr_matrix, npt.NDArray[np.float64]]:
    """Seen movies and sampled holdout, (n_users, n_movies) CSR, and novelty's (n_movies,)
    popularity share, of one split."""
    seen = mats.seen_before(code)
    holdout = _evaluated_rows(mats.val if code == VAL else mats.test, config.max_users, config.seed)
    return seen, holdout, popularity_share(seen)


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

    The (split, model) evaluations are independent: ``config.workers`` threads run them,
    BLAS limited to one thread each (numpy releases the GIL in the products, sorts and
    reductions, so two threads use two cores). The results do not depend on the count.
    """
    k = max(config.ks)
    codes = {"val": VAL, "test": TEST}
    workers = config.workers or os.cpu_count() or 1
    out: dict[str, dict[str, dict[str, float]]] = {name: {} for name in codes}
    bar = tqdm(total=len(codes) * len(RANKING_MODELS), desc="evaluate", disable=not show_progress, leave=False)
    with threadpool_limits(1 if workers > 1 else None, "blas"), ThreadPoolExecutor(workers) as pool:
        inputs = dict(zip(codes, pool.map(lambda c: _split_inputs(mats, c, config), codes.values())))

        def run(split_name: str, model: str) -> dict[str, float]:
            seen, holdout, share = inputs[split_name]
            recommenders: dict[str, Callable[[npt.NDArray[np.int64]], npt.NDArray[np.int64]]] = {
                "als": lambda u: recommend(models.user_factors[u], models.item_factors, k, seen[u])[0],
                "popularity_count": lambda u: models.popularity.recommend(u, k, seen, "count"),
                "popularity_bayes": lambda u: models.popularity.recommend(u, k, seen, "bayes"),
                "content": lambda u: models.content.recommend(u, k, mats.train, seen),
            }
            return evaluate_recommender(
                recommenders[model], seen, holdout, config.ks, item_genres,
                batch_size=config.batch_size, item_popularity=share,
            )

        # the heavy models first, so the two threads finish together; the rating models last
        order = [(s, m) for m in ("content", "als", "popularity_count", "popularity_bayes") for s in codes]
        futures = {(s, m): pool.submit(run, s, m) for s, m in order}
        svd = models.svd
        rating = {s: pool.submit(split_rating_metrics, mats, s, svd) for s in codes} if svd is not None else {}
        for split_name in codes:
            for model in RANKING_MODELS:
                out[split_name][model] = futures[split_name, model].result()
                bar.update(1)
        for split_name, future in rating.items():
            out[split_name].update(future.result())
    bar.close()
    return out


def split_rating_metrics(mats: SplitMatrices, split_name: str, svd: SVDRatingModel) -> dict[str, dict[str, float]]:
    """``{"svd": {"rmse", "mae"}, "bias": {...}}`` on every rating of one holdout ("val" or "test")."""
    frame = mats.val_frame if split_name == "val" else mats.test_frame
    u, i, r = (frame[c].to_numpy() for c in ("user_index", "movie_index", "rating"))
    return {"svd": rating_metrics(svd.predict(u, i), r), "bias": rating_metrics(svd.baseline.predict(u, i), r)}

