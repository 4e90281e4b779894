"""The scoring product: both orders give the same scores, C-contiguous, at every batch size."""
from __future__ import annotations

import numpy as np
import pytest

from online.product import TALL_MAX_ROWS, dot_scores


@pytest.mark.parametrize("rows", [0, 1, 2, TALL_MAX_ROWS, TALL_MAX_ROWS + 1, 40])
def test_scores_are_the_product_in_c_order(rows: int) -> None:
    rng = np.random.default_rng(rows)
    y = rng.standard_normal((300, 8)).astype(np.float32)
    u = rng.standard_normal((rows, 8)).astype(np.float32)
    got = dot_scores(u, y)
    assert got.shape == (rows, 300) and got.dtype == np.float32
    assert got.flags.c_contiguous  # the selection and the seen mask write through its flat view
    # float64 reference; the two BLAS orders round differently, so a tolerance, never equality
    np.testing.assert_allclose(got, u.astype(np.float64) @ y.astype(np.float64).T, rtol=1e-5, atol=1e-5)


def test_a_list_of_vectors_is_accepted() -> None:
    y = np.eye(3, dtype=np.float32)
    assert dot_scores([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]], y).tolist() == [[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]]
