"""Offline evaluation harness: top-K lists against a holdout, and rating error (pure numpy/scipy).

Protocol of ``evaluate_recommender``:

1. relevant = the holdout's positive preferences (liked movies, p > 0);
2. evaluated users = those with at least one relevant movie;
3. the recommender is asked once per batch of evaluated users and must already leave out
   each user's train movies (checked: a train movie in a list raises ``ValueError``);
4. every metric of ``offline.metrics.ranking_metrics`` at every K, over all evaluated users,
   with novelty from the train popularity share and diversity from the genres if given.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from offline.metrics import Similarity, isin_rows, popularity_share, ranking_metrics

Recommend = Callable[[npt.NDArray[np.int64]], npt.NDArray[np.int64]]
"""recommend(user_indices (b,) int64) -> (b, K) int64 movie indices, best first, -1 padding."""


def relevant_from_holdout(holdout: sp.csr_matrix) -> sp.csr_matrix:
    """(n_users, n_movies) bool CSR of the holdout's positive preferences (p > 0)."""
    h = sp.csr_matrix(holdout, copy=True)
    h.sum_duplicates()
    rel = sp.csr_matrix((h.data > 0, h.indices, h.indptr), shape=h.shape, dtype=bool)
    rel.eliminate_zeros()
    return rel


def evaluate_recommender(
    recommend: Recommend,
    train: sp.csr_matrix,
    holdout: sp.csr_matrix,
    ks: Sequence[int] = (10, 20),
    item_genres: npt.NDArray[np.floating] | sp.spmatrix | None = None,
    batch_size: int = 1024,
    diversity: Similarity = "cosine",
    check_exclusion: bool = True,
    item_popularity: npt.NDArray[np.float64] | None = None,
) -> dict[str, float]:
    """Ranking metrics of a recommender on a holdout.

    Args:
        recommend: called once per batch with the (b,) int64 user indices; returns (b, K)
            int64 movie indices with K >= max(ks) (extra columns are ignored), -1 padding
            allowed. It must exclude each user's train movies itself, e.g.
            ``lambda u: model.recommend(u, max(ks), train)``.
        train: (n_users, n_movies) CSR of the train interactions (any non-zero value).
        holdout: (n_users, n_movies) CSR whose values are preferences (-2, -1, +1, +2).
        ks: cut-offs K.
        item_genres: (n_movies, n_genres) multi-hot; adds "diversity@k".
        batch_size: users per ``recommend`` call.
        diversity: "cosine" or "jaccard" intra-list diversity.
        check_exclusion: raise when a list holds one of the user's train movies.
        item_popularity: (n_movies,) ``popularity_share(train)`` when already computed (it
            is the same for every model evaluated on one split); computed when None.
    Returns:
        ``ranking_metrics`` keys ("recall@10", ..., "novelty@20", "n_users"); NaN metrics
        and n_users 0 when no user has a liked holdout movie.
    Raises:
        ValueError: mismatched shapes, too few columns, or a train movie recommended.
    """
    if train.shape != holdout.shape:
        raise ValueError(f"train {train.shape} and holdout {holdout.shape} differ in shape")
    if batch_size < 1 or not ks or min(ks) < 1:
        raise ValueError("batch_size and every k must be >= 1")
    n_users, n_movies = train.shape
    train = sp.csr_matrix(train)
    relevant = relevant_from_holdout(holdout)
    users = np.flatnonzero(np.diff(relevant.indptr) > 0).astype(np.int64)
    k_max = max(ks)
    lists = np.full((len(users), k_max), -1, dtype=np.int64)
    for start in range(0, len(users), batch_size):
        batch = users[start : start + batch_size]
        rec = np.asarray(recommend(batch), dtype=np.int64)
        if rec.ndim != 2 or rec.shape[0] != len(batch) or rec.shape[1] < k_max:
            raise ValueError(f"recommend returned shape {rec.shape}, need ({len(batch)}, >={k_max})")
        rec = rec[:, :k_max]
        if check_exclusion and isin_rows(rec, train[batch]).any():
            raise ValueError("recommend returned train movies: it must exclude them itself")
        lists[start : start + len(batch)] = rec
    return ranking_metrics(
        lists,
        relevant[users],
        ks=ks,
        item_genres=item_genres,
        item_popularity=_share(train, item_popularity) if n_users else None,
        n_movies=n_movies,
        diversity=diversity,
    )


def _share(train: sp.csr_matrix, given: npt.NDArray[np.float64] | None) -> npt.NDArray[np.float64]:
    """``given`` or, when None, ``popularity_share(train)``."""
    return popularity_share(train) if given is None else given


def rating_metrics(pred: npt.ArrayLike, truth: npt.ArrayLike) -> dict[str, float]:
    """Rating-prediction error over paired (n,) arrays.

    Returns:
        {"rmse": sqrt(mean((pred - truth)^2)), "mae": mean(|pred - truth|)}; NaN when n = 0.
    """
    p = np.asarray(pred, dtype=np.float64).ravel()
    t = np.asarray(truth, dtype=np.float64).ravel()
    if p.shape != t.shape:
        raise ValueError(f"pred {p.shape} and truth {t.shape} differ in shape")
    if len(p) == 0:
        return {"rmse": float("nan"), "mae": float("nan")}
    err = p - t
    # RMSE = sqrt(mean(e^2)), MAE = mean(|e|)
    return {"rmse": float(np.sqrt(np.mean(err**2))), "mae": float(np.mean(np.abs(err)))}
