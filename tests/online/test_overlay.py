"""The item-neighbour overlay: seeds, weights and the sparse sum against a dense reference."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from online.overlay import NeighbourOverlay, add_sparse, seed_weights, standardise


def test_standardise_rows() -> None:
    z = standardise(np.array([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]]))
    np.testing.assert_allclose(z[0], [-1.2247449, 0.0, 1.2247449], rtol=1e-6)
    assert z[1].tolist() == [0.0, 0.0, 0.0]


def test_seeds_are_the_newest_liked_movies_with_decayed_weights() -> None:
    # oldest first: 4 liked, 5 disliked, 4 liked again, 7 liked, 8 hated
    idx, w = seed_weights([4, 5, 4, 7, 8], [2, -1, 1, 2, -2], decay=0.5, max_seeds=10)
    assert idx.tolist() == [7, 4]  # newest first; dislikes are no seeds; 4 once, at its newest
    np.testing.assert_allclose(w, [0.5 ** 1, 0.5 ** 2])  # age counts every later swipe
    idx, _ = seed_weights([4, 5, 4, 7, 8], [2, -1, 1, 2, -2], decay=0.5, max_seeds=1)
    assert idx.tolist() == [7]


def test_overlay_equals_the_dense_sum() -> None:
    rng = np.random.default_rng(0)
    dense = np.where(rng.random((12, 12)) < 0.3, rng.random((12, 12)), 0.0).astype(np.float32)
    overlay = NeighbourOverlay(sp.csr_matrix(dense), beta=2.0, decay=0.9, max_seeds=20)
    recent = [(np.array([1, 3, 5]), np.array([2, -1, 1])), (np.zeros(0, np.int64), np.zeros(0, np.int8))]
    got = overlay.scores(recent).toarray()
    expected = 2.0 * (0.9 ** 2 * dense[1] + 0.9 ** 0 * dense[5])  # 3 is disliked: no seed
    np.testing.assert_allclose(got[0], expected, rtol=1e-6)
    assert not got[1].any()
    base = np.ones((2, 12), np.float32)
    np.testing.assert_allclose(add_sparse(base, overlay.scores(recent))[0], 1.0 + expected, rtol=1e-6)
