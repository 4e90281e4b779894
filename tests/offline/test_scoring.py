import numpy as np
import scipy.sparse as sp

from offline.scoring import recommend, top_n


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
