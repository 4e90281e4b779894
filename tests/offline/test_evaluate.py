"""Evaluation harness: protocol (who is evaluated, exclusion check, batching) and rating error."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import scipy.sparse as sp

from offline.evaluate import evaluate_recommender, rating_metrics, relevant_from_holdout
from offline.scoring import top_n


@pytest.fixture
def make_split() -> Callable[..., tuple[sp.csr_matrix, sp.csr_matrix]]:
    """Factory: disjoint random train and holdout preference matrices (fixed seed)."""

    def make(n_users: int = 40, n_movies: int = 30, seed: int = 0) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        rng = np.random.default_rng(seed)
        prefs = rng.choice(np.array([-2, -1, 1, 2], np.float32), size=(n_users, n_movies))
        cell = rng.random((n_users, n_movies))
        train = sp.csr_matrix(np.where(cell < 0.3, prefs, 0))
        holdout = sp.csr_matrix(np.where((cell >= 0.3) & (cell < 0.45), prefs, 0))
        return train, holdout

    return make


def oracle(train: sp.csr_matrix, holdout: sp.csr_matrix, n: int) -> Callable[[np.ndarray], np.ndarray]:
    """Recommender that ranks each user's liked holdout movies first (train excluded)."""

    def recommend(users: np.ndarray) -> np.ndarray:
        scores = np.asarray(holdout[users].todense(), dtype=np.float32)
        return top_n(scores, n, train[users])[0]

    return recommend


def test_relevant_is_positive_holdout():
    holdout = sp.csr_matrix(np.array([[2, -1, 1, 0], [-2, 0, 0, 0]], dtype=np.float32))
    rel = relevant_from_holdout(holdout)
    assert rel.dtype == bool
    assert rel.toarray().tolist() == [[True, False, True, False], [False, False, False, False]]


def test_oracle_scores_perfect_recall_and_only_evaluated_users_are_asked(make_split):
    train, holdout = make_split()
    holdout = holdout.tolil()
    holdout[0, :] = 0
    holdout[0, 0] = -2  # user 0: a holdout movie, none liked -> not evaluated
    holdout = holdout.tocsr()
    asked: list[np.ndarray] = []
    inner = oracle(train, holdout, 10)

    def recommend(users: np.ndarray) -> np.ndarray:
        asked.append(users)
        return inner(users)

    out = evaluate_recommender(recommend, train, holdout, ks=(5, 10), batch_size=7)
    users = np.concatenate(asked)
    expected = np.flatnonzero(np.diff(relevant_from_holdout(holdout).indptr) > 0)
    assert 0 not in users and users.tolist() == expected.tolist()
    assert all(len(b) <= 7 for b in asked)
    assert out["n_users"] == len(expected)
    n_rel = np.diff(relevant_from_holdout(holdout)[expected].indptr)
    assert out["precision@5"] == pytest.approx(np.mean(np.minimum(n_rel, 5) / 5))
    assert out["hit@10"] == 1.0 and out["mrr@10"] == 1.0
    assert out["recall@10"] == pytest.approx(np.mean(np.minimum(n_rel, 10) / n_rel))
    assert {"coverage@5", "gini@5", "novelty@5"} <= out.keys() and "diversity@5" not in out


def test_batch_size_does_not_change_results(make_split):
    train, holdout = make_split(seed=3)
    rng = np.random.default_rng(0)
    genres = (rng.random((30, 4)) < 0.4).astype(np.float32)
    rec = oracle(train, holdout, 12)
    a = evaluate_recommender(rec, train, holdout, ks=(3, 12), item_genres=genres, batch_size=5)
    b = evaluate_recommender(rec, train, holdout, ks=(3, 12), item_genres=genres, batch_size=1000)
    assert a.keys() == b.keys()
    for key in a:
        assert a[key] == pytest.approx(b[key], nan_ok=True), key
    assert "diversity@12" in a


def test_train_movies_in_a_list_raise(make_split):
    train, holdout = make_split()

    def leaky(users: np.ndarray) -> np.ndarray:
        """Each user's first train movie, then padding."""
        rows = train[users]
        out = np.full((len(users), 5), -1, dtype=np.int64)
        has = np.diff(rows.indptr) > 0
        out[has, 0] = rows.indices[rows.indptr[:-1][has]]
        return out

    with pytest.raises(ValueError, match="train"):
        evaluate_recommender(leaky, train, holdout, ks=(5,))
    out = evaluate_recommender(leaky, train, holdout, ks=(5,), check_exclusion=False)
    assert out["hit@5"] == 0.0


def test_too_short_lists_and_shape_mismatch_raise(make_split):
    train, holdout = make_split()
    with pytest.raises(ValueError, match="shape"):
        evaluate_recommender(oracle(train, holdout, 5), train, holdout, ks=(10,))
    with pytest.raises(ValueError):
        evaluate_recommender(oracle(train, holdout, 5), train, holdout[:, :10], ks=(5,))


def test_no_evaluable_user(make_split):
    train, _ = make_split()
    out = evaluate_recommender(lambda u: np.full((len(u), 3), -1), train, sp.csr_matrix(train.shape), ks=(3,))
    assert out["n_users"] == 0 and np.isnan(out["recall@3"])


def test_rating_metrics():
    # errors 0, -1, -2: RMSE = sqrt(5/3), MAE = 1
    out = rating_metrics(np.array([1.0, 2.0, 3.0]), np.array([1.0, 3.0, 5.0]))
    assert out == pytest.approx({"rmse": np.sqrt(5 / 3), "mae": 1.0})
    assert np.isnan(rating_metrics(np.array([]), np.array([]))["rmse"])
    with pytest.raises(ValueError):
        rating_metrics(np.zeros(2), np.zeros(3))
