import numpy as np
import pytest
import scipy.sparse as sp

from offline.scoring import recommend, top_n, top_n_argpartition
from tests.ranking import assert_same_ranking, scores_at


def test_top_n_matches_full_sort_and_excludes() -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(300, 50)).astype(np.float32)
    exclude = sp.random(300, 50, density=0.2, format="csr", random_state=1)
    expected = scores.copy()
    expected[exclude.toarray() != 0] = -np.inf
    idx, val = top_n(scores.copy(), 5, exclude)
    ref = np.argsort(-expected, axis=1, kind="stable")[:, :5]
    assert np.array_equal(idx, ref)
    assert np.allclose(val, np.take_along_axis(expected, ref, axis=1))
    ex = exclude.toarray() != 0
    assert not ex[np.arange(300)[:, None], idx].any()


def test_fewer_eligible_than_n_pads_with_minus_one() -> None:
    scores = np.array([[1.0, 3.0, 2.0]], dtype=np.float32)
    exclude = sp.csr_matrix(np.array([[1, 0, 1]]))
    idx, val = top_n(scores, 3, exclude)
    assert idx.tolist() == [[1, -1, -1]]
    assert val[0, 0] == 3.0 and np.isneginf(val[0, 1:]).all()


def test_recommend_dot_product() -> None:
    users = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    items = np.array([[0.9, 0.1], [0.1, 0.9], [0.5, 0.5]], dtype=np.float32)
    idx, _ = recommend(users, items, 2)
    assert idx.tolist() == [[0, 2], [1, 2]]


def _reference(scores: np.ndarray, n: int, exclude: sp.csr_matrix | None) -> tuple[np.ndarray, np.ndarray]:
    """Full stable sort: ties in ascending movie index; NaN and excluded movies never eligible."""
    s = np.where(np.isnan(scores), -np.inf, scores)
    if exclude is not None:
        s[exclude.toarray() != 0] = -np.inf
    idx = np.argsort(-s, axis=1, kind="stable")[:, : min(n, s.shape[1])]
    val = np.take_along_axis(s, idx, axis=1)
    return np.where(np.isfinite(val), idx, -1), val


KINDS = ["normal", "ties", "nan", "mostly_excluded"]


def _random_scores(rng: np.random.Generator, kind: str, b: int, m: int) -> np.ndarray:
    """(b, m) float32 scores: normal draws, few distinct values, some NaN, or mostly -inf."""
    scores = rng.normal(size=(b, m)).astype(np.float32)
    if kind == "ties":
        scores = rng.integers(0, 4, size=(b, m)).astype(np.float32)
    elif kind == "nan":
        scores[rng.random((b, m)) < 0.05] = np.nan
    elif kind == "mostly_excluded":
        scores[rng.random((b, m)) < 0.97] = -np.inf
    return scores


def _assert_top_n_is_the_full_sort(scores: np.ndarray, n: int, exclude: sp.csr_matrix | None) -> None:
    idx, val = top_n(scores.copy(), n, exclude)
    ref_idx, ref_val = _reference(scores, n, exclude)
    # exact on purpose: selection copies entries of the same input array (no arithmetic, no BLAS)
    assert np.array_equal(idx, ref_idx)
    assert np.array_equal(val, ref_val.astype(np.float32))


@pytest.mark.parametrize("seed, kind", list(enumerate(KINDS)))
def test_top_n_matches_a_full_sort_on_random_blocks(seed: int, kind: str) -> None:
    """Group bound + candidate sort against the reference, across block and group edges."""
    rng = np.random.default_rng(seed)
    for trial in range(15):
        b, m, n = int(rng.integers(2, 600)), int(rng.integers(1, 3000)), int(rng.integers(0, 40))
        exclude = sp.random(b, m, density=0.3, format="csr", random_state=trial) if trial % 2 else None
        _assert_top_n_is_the_full_sort(_random_scores(rng, kind, b, m), n, exclude)


@pytest.mark.parametrize("seed, kind", list(enumerate(KINDS, start=10)))
def test_top_n_of_one_row_matches_a_full_sort(seed: int, kind: str) -> None:
    """One row (a lone swipe's list) takes its own path: every score >= the bound in one pass."""
    rng = np.random.default_rng(seed)
    for trial in range(40):
        m, n = int(rng.integers(1, 30_000 if trial % 4 == 0 else 3000)), int(rng.integers(0, 40))
        exclude = sp.random(1, m, density=0.3, format="csr", random_state=trial) if trial % 2 else None
        _assert_top_n_is_the_full_sort(_random_scores(rng, kind, 1, m), n, exclude)


def test_top_n_argpartition_reference_agrees_without_ties() -> None:
    scores = np.random.default_rng(5).normal(size=(300, 1000)).astype(np.float32)
    # exact on purpose: both select from one array (no arithmetic); seeded normal draws have no ties
    assert np.array_equal(top_n(scores.copy(), 20)[0], top_n_argpartition(scores.copy(), 20)[0])


def test_recommend_blocks_equal_one_top_n() -> None:
    rng = np.random.default_rng(6)
    users = rng.normal(size=(700, 8)).astype(np.float32)  # more users than one block
    items = rng.normal(size=(500, 8)).astype(np.float32)
    seen = sp.random(700, 500, density=0.1, format="csr", random_state=7)
    idx, val = recommend(users, items, 15, seen)
    # one product for all users: BLAS kernels differ by shape, so scores agree up to float
    # noise and near-equal scores may swap; a float64 product is the reference scorer
    ref_idx, ref_val = top_n(users @ items.T, 15, seen)
    exact = users.astype(np.float64) @ items.T.astype(np.float64)
    exact[seen.toarray() != 0] = -np.inf
    for u in range(len(users)):
        assert_same_ranking(idx[u], val[u], ref_idx[u], ref_val[u], context=f"user {u}")
        assert_same_ranking(idx[u], scores_at(exact[u], idx[u]), ref_idx[u], scores_at(exact[u], ref_idx[u]),
                            context=f"user {u} (float64 scores)")
