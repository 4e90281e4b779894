"""The scoring product: the product's scores, C-contiguous, at every batch size; Y^T copied once."""
from __future__ import annotations

import numpy as np
import pytest

from online.product import KEPT_TRANSPOSES, dot_scores, one_user_scores, transposed


@pytest.mark.parametrize("rows", [0, 1, 2, 16, 17, 40])
def test_scores_are_the_product_in_c_order(rows: int) -> None:
    rng = np.random.default_rng(rows)
    y = rng.standard_normal((300, 8)).astype(np.float32)
    u = rng.standard_normal((rows, 8)).astype(np.float32)
    got = dot_scores(u, y)
    assert got.shape == (rows, 300) and got.dtype == np.float32
    assert got.flags.c_contiguous  # the selection and the seen mask write through its flat view
    # float64 reference; BLAS orders round differently, so a tolerance, never equality
    np.testing.assert_allclose(got, u.astype(np.float64) @ y.astype(np.float64).T, rtol=1e-5, atol=1e-5)


def test_a_list_of_vectors_is_accepted() -> None:
    y = np.eye(3, dtype=np.float32)
    assert dot_scores([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]], y).tolist() == [[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]]


def test_the_transpose_is_made_once_per_array_and_never_for_a_reused_id() -> None:
    rng = np.random.default_rng(5)
    y = rng.standard_normal((50, 4)).astype(np.float32)
    first = transposed(y)
    assert first.flags.c_contiguous and np.array_equal(first, y.T)
    assert transposed(y) is first  # kept
    others = [rng.standard_normal((50, 4)).astype(np.float32) for _ in range(KEPT_TRANSPOSES)]
    for other in others:
        assert np.array_equal(transposed(other), other.T)
    assert transposed(y) is not first and np.array_equal(transposed(y), y.T)  # evicted, made again
    y[0, 0] = 99.0  # a cached copy is of the array as it was: callers never change Y in place
    fresh = np.array(y)
    # a BLAS sum against numpy's: a tolerance, never equality
    np.testing.assert_allclose(dot_scores(np.ones((2, 4), np.float32), fresh)[:, 0], [y[0].sum()] * 2, rtol=1e-5)


@pytest.mark.parametrize("layout", ["c", "strided", "float64"])
def test_one_user_scores_are_the_scaled_product_for_any_layout(layout: str) -> None:
    """BLAS gemv on the F-ordered view of a C-ordered float32 Y, its alpha the scale; any other
    Y goes to numpy (SciPy's wrapper would copy it whole): the same scores either way."""
    rng = np.random.default_rng(7)
    base = rng.standard_normal((300, 16)).astype(np.float32)
    y = {"c": base[:, :8].copy(), "strided": base[:, :8], "float64": base[:, :8].astype(np.float64)}[layout]
    u = rng.standard_normal(8).astype(np.float32)
    got = one_user_scores(u, y, 0.25)
    assert got.shape == (1, 300) and got.dtype == np.float32 and got.flags.c_contiguous
    # BLAS and numpy sum in different orders: a tolerance, never equality
    np.testing.assert_allclose(got[0], 0.25 * (np.asarray(y, np.float64) @ u.astype(np.float64)), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dot_scores(u[None, :], y)[0], got[0] / 0.25, rtol=1e-5, atol=1e-5)
