"""Ranking metrics: hand-computed values on tiny cases, and a loop reference on random data."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import scipy.sparse as sp

from offline import metrics as M

LOG = np.log2


@pytest.fixture
def make_relevant() -> Callable[[list[set[int]], int], sp.csr_matrix]:
    """Factory: one set of relevant movie indices per user -> bool CSR (n_users, n_movies)."""

    def make(rows: list[set[int]], n_movies: int) -> sp.csr_matrix:
        r = [u for u, s in enumerate(rows) for _ in s]
        c = [i for s in rows for i in sorted(s)]
        return sp.csr_matrix((np.ones(len(r), bool), (r, c)), shape=(len(rows), n_movies))

    return make


def rec(*rows: list[int]) -> np.ndarray:
    return np.array(rows, dtype=np.int64)


def random_relevant(n_users: int, n_movies: int, nnz: int, seed: int) -> sp.csr_matrix:
    """Random bool CSR (repeated pairs merge); faster than sp.random at this size."""
    rng = np.random.default_rng(seed)
    r, c = rng.integers(0, n_users, nnz), rng.integers(0, n_movies, nnz)
    m = sp.csr_matrix((np.ones(nnz, bool), (r, c)), shape=(n_users, n_movies))
    m.sum_duplicates()
    return m


def test_brief_example(make_relevant):
    acc = M.accuracy_per_user(rec([3, 1, 7]), make_relevant([{1, 7, 9}], 10), k=3)
    idcg = 1 + 1 / LOG(3) + 1 / LOG(4)
    assert acc["precision"][0] == pytest.approx(2 / 3)
    assert acc["recall"][0] == pytest.approx(2 / 3)
    assert acc["ndcg"][0] == pytest.approx((1 / LOG(3) + 1 / LOG(4)) / idcg)
    # AP = (1/3) (P@2 + P@3) = (1/3) (1/2 + 2/3)
    assert acc["map"][0] == pytest.approx(7 / 18)
    assert acc["hit"][0] == 1.0
    assert acc["mrr"][0] == pytest.approx(1 / 2)


def test_cutoff_below_list_length(make_relevant):
    acc = M.accuracy_per_user(rec([3, 1, 7]), make_relevant([{1, 7, 9}], 10), k=1)
    assert [acc[m][0] for m in ("precision", "recall", "ndcg", "map", "hit", "mrr")] == [0, 0, 0, 0, 0, 0]
    acc2 = M.accuracy_per_user(rec([3, 1, 7]), make_relevant([{1, 7, 9}], 10), k=2)
    assert acc2["precision"][0] == pytest.approx(1 / 2)
    assert acc2["ndcg"][0] == pytest.approx((1 / LOG(3)) / (1 + 1 / LOG(3)))
    # m = min(2, 3) = 2: AP = (1/2) P@2
    assert acc2["map"][0] == pytest.approx(1 / 4)


def test_padding_counts_as_a_miss(make_relevant):
    acc = M.accuracy_per_user(rec([1, -1, -1]), make_relevant([{1, 2}], 5))
    assert acc["precision"][0] == pytest.approx(1 / 3)
    assert acc["recall"][0] == pytest.approx(1 / 2)
    assert acc["ndcg"][0] == pytest.approx(1 / (1 + 1 / LOG(3)))
    assert acc["map"][0] == pytest.approx(1 / 2)
    assert acc["mrr"][0] == 1.0


def test_precision_is_textbook_not_implicit(make_relevant):
    # |R| = 1 < K = 3: textbook 1/3; implicit's precision_at_k would give 1/min(3, 1) = 1
    acc = M.accuracy_per_user(rec([4, 5, 6]), make_relevant([{4}], 10))
    assert acc["precision"][0] == pytest.approx(1 / 3)
    assert acc["precision"][0] != pytest.approx(1.0)
    assert acc["ndcg"][0] == 1.0 and acc["map"][0] == 1.0 and acc["recall"][0] == 1.0


def test_repeated_item_hits_once(make_relevant):
    acc = M.accuracy_per_user(rec([1, 1, 2]), make_relevant([{1}], 5))
    assert acc["precision"][0] == pytest.approx(1 / 3)
    assert acc["recall"][0] == 1.0


def test_users_without_relevant_items_are_excluded(make_relevant):
    relevant = make_relevant([{1, 7, 9}, set(), {0}], 10)
    recommended = rec([3, 1, 7], [1, 2, 3], [0, 4, 5])
    acc = M.accuracy_per_user(recommended, relevant)
    assert np.isnan(acc["recall"][1]) and np.isnan(acc["precision"][1])
    out = M.ranking_metrics(recommended, relevant, ks=(3,))
    assert out["n_users"] == 2
    assert out["recall@3"] == pytest.approx((2 / 3 + 1) / 2)
    assert out["mrr@3"] == pytest.approx((1 / 2 + 1) / 2)
    # coverage over the kept users' lists only: {3, 1, 7, 0, 4, 5}
    assert out["coverage@3"] == pytest.approx(6 / 10)


def test_ranking_metrics_keys_and_k_check(make_relevant):
    relevant = make_relevant([{1}, {2}], 6)
    recommended = rec([1, 2, 3], [2, 0, 4])
    genres = np.eye(6, 2, dtype=np.float32)
    out = M.ranking_metrics(recommended, relevant, ks=(1, 3), item_genres=genres, item_popularity=np.full(6, 0.5))
    for k in (1, 3):
        for name in ("recall", "precision", "ndcg", "map", "hit", "mrr", "coverage", "gini", "diversity", "novelty"):
            assert f"{name}@{k}" in out
    assert out["novelty@3"] == pytest.approx(1.0)
    assert out["hit@1"] == 1.0
    with pytest.raises(ValueError):
        M.ranking_metrics(recommended, relevant, ks=(5,))


def test_coverage_and_gini():
    recommended = rec([0, 1], [1, 2])
    assert M.coverage(recommended, 5) == pytest.approx(3 / 5)
    assert M.exposure(recommended, 5).tolist() == [1, 2, 1, 0, 0]
    # sorted [0,0,1,1,2]: Σ(2i-6)x = 2 + 8 = 10; G = 10 / (5 * 4)
    assert M.gini_of_exposure(recommended, 5) == pytest.approx(0.5)
    assert M.gini([3, 3, 3]) == pytest.approx(0.0)
    assert M.gini([0, 0, 4]) == pytest.approx(2 / 3)
    assert np.isnan(M.gini([0, 0]))


def test_intra_list_diversity():
    genres = np.array([[1, 0], [1, 1], [0, 1]], dtype=np.float32)
    recommended = rec([0, 1, 2], [0, -1, -1])
    cos = M.intra_list_diversity(recommended, genres, "cosine")
    assert cos[0] == pytest.approx((2 * (1 - 1 / np.sqrt(2)) + 1) / 3)
    assert np.isnan(cos[1])
    jac = M.intra_list_diversity(recommended, sp.csr_matrix(genres), "jaccard")
    assert jac[0] == pytest.approx((0.5 + 1 + 0.5) / 3)


def test_novelty_and_popularity_share():
    # movie 0 seen by all 4 users, movie 1 by one, movie 2 by none (floored to one)
    train = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 0], [1, 0, 0], [1, 0, 0]], dtype=np.float32))
    p = M.popularity_share(train)
    assert p.tolist() == [1.0, 0.25, 0.25]
    nov = M.novelty(rec([0, 1], [2, -1]), p)
    assert nov.tolist() == pytest.approx([1.0, 2.0])
    with pytest.raises(ValueError):
        M.novelty(rec([0]), np.zeros(3))


def _reference(recommended: np.ndarray, relevant: sp.csr_matrix, k: int) -> dict[str, np.ndarray]:
    """Per-user loop over the textbook definitions."""
    out = {m: [] for m in ("recall", "precision", "ndcg", "map", "hit", "mrr")}
    for u in range(recommended.shape[0]):
        rel = set(relevant[u].indices.tolist())
        if not rel:
            for v in out.values():
                v.append(np.nan)
            continue
        seen: set[int] = set()
        h = []
        for i in recommended[u, :k].tolist():
            h.append(1.0 if i in rel and i not in seen else 0.0)
            seen.add(i)
        hits = sum(h)
        m = min(k, len(rel))
        out["recall"].append(hits / len(rel))
        out["precision"].append(hits / k)
        out["ndcg"].append(sum(x / np.log2(r + 2) for r, x in enumerate(h)) / sum(1 / np.log2(r + 2) for r in range(m)))
        out["map"].append(sum(sum(h[: r + 1]) / (r + 1) * x for r, x in enumerate(h)) / m)
        out["hit"].append(float(hits > 0))
        out["mrr"].append(next((1 / (r + 1) for r, x in enumerate(h) if x), 0.0))
    return {name: np.array(v) for name, v in out.items()}


def test_vectorised_matches_loop_reference():
    rng = np.random.default_rng(0)
    n_users, n_movies, k = 300, 40, 10
    relevant = random_relevant(n_users, n_movies, 1200, seed=1)
    recommended = rng.integers(-1, n_movies, size=(n_users, k))
    got = M.accuracy_per_user(recommended, relevant, k=7)
    want = _reference(recommended, relevant, 7)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], equal_nan=True, err_msg=name)


def test_isin_rows():
    matrix = sp.csr_matrix(np.array([[0, 1, 1], [1, 0, 0]], dtype=np.float32))
    got = M.isin_rows(np.array([[1, 0, -1], [0, 2, 5]]), matrix)
    assert got.tolist() == [[True, False, False], [True, False, False]]
    assert not M.isin_rows(np.array([[0]]), sp.csr_matrix((1, 3))).any()


def test_thousands_of_users_are_fast():
    import time

    rng = np.random.default_rng(0)
    n_users, n_movies = 5000, 20000
    relevant = random_relevant(n_users, n_movies, 200_000, seed=2)
    recommended = rng.integers(0, n_movies, size=(n_users, 20))
    genres = (rng.random((n_movies, 20)) < 0.15).astype(np.float32)
    t0 = time.perf_counter()
    out = M.ranking_metrics(recommended, relevant, (10, 20), genres, np.full(n_movies, 0.01))
    assert time.perf_counter() - t0 < 2.0  # about 0.15 s on 2 cores
    assert out["n_users"] > 4000


def test_canonical_input_is_read_in_place_and_others_are_copied():
    canonical = sp.csr_matrix(np.array([[0, 1, 2], [3, 0, 0]], dtype=np.float32))
    assert np.shares_memory(M._canonical(canonical).indices, canonical.indices)
    # duplicates, unsorted indices and a stored zero: the same answers as the canonical matrix
    messy = sp.csr_matrix((np.array([2, 0.5, 0.5, 0, 3], np.float32), np.array([2, 1, 1, 0, 0]),
                           np.array([0, 4, 5])), shape=(2, 3))
    assert not messy.has_canonical_format
    fixed = M._canonical(messy)
    assert not np.shares_memory(fixed.indices, messy.indices) and (fixed != canonical).nnz == 0
    assert np.array_equal(M.popularity_share(messy), M.popularity_share(canonical))
    items = np.array([[0, 1, 2], [0, 1, 2]])
    assert np.array_equal(M.isin_rows(items, messy), M.isin_rows(items, canonical))
    stored_zero = canonical.copy()
    stored_zero.data[0] = 0  # canonical structure, but a stored zero is no interaction
    assert stored_zero.has_canonical_format
    assert M.popularity_share(stored_zero).tolist() == [0.5, 0.5, 0.5]
    assert not M.isin_rows(np.array([[1], [1]]), stored_zero).any()
