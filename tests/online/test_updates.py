"""Tests for online.foldin and online.additive: fold-in against implicit, additive rule properties."""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from implicit.als import AlternatingLeastSquares
from threadpoolctl import threadpool_limits

from offline.preference import stored_value
from online.additive import AdditiveRule, additive_update, decay_for, initial_vector
from online.foldin import FoldIn, latest_wins

ALPHA = 15.0
REG = 0.1
K = 8
N_USERS, N_ITEMS = 60, 40
PREFS = np.array([-2, -1, 1, 2], dtype=np.int8)
Trained = tuple[Any, sp.csr_matrix]  # (implicit CPU ALS model, stored-value matrix)
VectorFactory = Callable[[int], tuple[np.ndarray, np.ndarray]]


def _random_preferences(seed: int) -> sp.csr_matrix:
    """(N_USERS, N_ITEMS) sparse preferences in {-2,-1,1,2}; every user has >= 3 items."""
    rng = np.random.default_rng(seed)
    shape = (N_USERS, N_ITEMS)
    dense = np.where(rng.random(shape) < 0.25, rng.choice(PREFS, shape), 0)
    dense[:, :3] = np.where(dense[:, :3] == 0, 1, dense[:, :3])
    return sp.csr_matrix(dense.astype(np.int8))


def _train(prefs: sp.csr_matrix, model_alpha: float = 1.0, use_cg: bool = True,
           iterations: int = 15) -> Trained:
    stored = prefs.astype(np.float32)
    stored.data = stored_value(prefs.data, ALPHA)
    with threadpool_limits(1, "blas"):  # implicit warns about (and is slowed by) BLAS threads
        model = AlternatingLeastSquares(
            factors=K, regularization=REG, alpha=model_alpha, use_gpu=False, use_cg=use_cg,
            iterations=iterations, num_threads=1, random_state=42,
        )
        model.fit(stored, show_progress=False)
    return model, stored


@pytest.fixture(scope="module")
def prefs() -> sp.csr_matrix:
    return _random_preferences(seed=7)


@pytest.fixture(scope="module")
def trained(prefs: sp.csr_matrix) -> Trained:
    return _train(prefs)


def _row(prefs: sp.csr_matrix, u: int) -> tuple[np.ndarray, np.ndarray]:
    start, end = prefs.indptr[u], prefs.indptr[u + 1]
    return prefs.indices[start:end], prefs.data[start:end].astype(np.int8)


def _close(a: np.ndarray, b: np.ndarray, tol: float) -> bool:
    """||a - b|| <= tol * ||b||: relative, so the tolerance does not depend on factor scale."""
    return float(np.linalg.norm(a - b)) <= tol * max(float(np.linalg.norm(b)), 1e-12)


# --- fold-in ------------------------------------------------------------------------------

def test_fold_in_matches_implicit_recalculate_user(prefs: sp.csr_matrix, trained: Trained) -> None:
    model, stored = trained
    fold = FoldIn.from_factors(model.item_factors, model.regularization)
    for u in range(N_USERS):
        idx, pref = _row(prefs, u)
        ours = fold.solve(idx, pref, ALPHA)
        theirs = model.recalculate_user(u, stored[u])
        assert ours.dtype == np.float32 and ours.shape == (K,)
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4 * np.abs(theirs).max())


def test_fold_in_value_scale_matches_implicit_model_alpha(prefs: sp.csr_matrix) -> None:
    model, stored = _train(prefs, model_alpha=2.5, iterations=5)
    fold = FoldIn.from_factors(model.item_factors, model.regularization, value_scale=2.5)
    for u in (0, 11, 42):
        idx, pref = _row(prefs, u)
        assert _close(fold.solve(idx, pref, ALPHA), model.recalculate_user(u, stored[u]), 1e-4)


def test_fold_in_of_training_row_approximates_trained_factor(prefs: sp.csr_matrix) -> None:
    # Cholesky training converges; the last half-step updated items, so only approximately.
    model, _ = _train(prefs, use_cg=False, iterations=40)
    fold = FoldIn.from_factors(model.item_factors, model.regularization)
    for u in range(N_USERS):
        idx, pref = _row(prefs, u)
        assert _close(fold.solve(idx, pref, ALPHA), model.user_factors[u], 0.05)


def test_regularization_is_plain_lambda_identity(prefs: sp.csr_matrix, trained: Trained) -> None:
    """Scaling lambda by the item count would change the answer: it must not be needed."""
    model, stored = trained
    idx, pref = _row(prefs, 3)
    theirs = model.recalculate_user(3, stored[3])
    scaled = FoldIn.from_factors(model.item_factors, model.regularization * len(idx))
    assert not _close(scaled.solve(idx, pref, ALPHA), theirs, 1e-3)


def test_empty_history_gives_zero_vector(trained: Trained) -> None:
    fold = FoldIn.from_factors(trained[0].item_factors, REG)
    out = fold.solve(np.array([], dtype=np.int64), np.array([], dtype=np.int8), ALPHA)
    np.testing.assert_array_equal(out, np.zeros(K, dtype=np.float32))


def test_solve_many_equals_solve_row_by_row(prefs: sp.csr_matrix, trained: Trained) -> None:
    fold = FoldIn.from_factors(trained[0].item_factors, REG)
    users = [_row(prefs, u) for u in range(10)] + [(np.array([5, 6, 5]), np.array([1, -2, 2]))]
    users.append((np.array([], dtype=np.int64), np.array([], dtype=np.int8)))
    batch = fold.solve_many(users, ALPHA)
    assert batch.shape == (len(users), K) and batch.dtype == np.float32
    for row, (idx, pref) in enumerate(users):
        np.testing.assert_array_equal(batch[row], fold.solve(idx, pref, ALPHA))


def test_duplicate_movies_latest_interaction_wins(trained: Trained) -> None:
    fold = FoldIn.from_factors(trained[0].item_factors, REG)
    with_dupes = fold.solve(np.array([4, 9, 4, 1, 9]), np.array([2, -1, -2, 1, 1]), ALPHA)
    deduped = fold.solve(np.array([4, 1, 9]), np.array([-2, 1, 1]), ALPHA)
    np.testing.assert_array_equal(with_dupes, deduped)
    idx, pref = latest_wins([3, 1, 3, 3], [1, 2, -1, -2])
    assert dict(zip(idx.tolist(), pref.tolist())) == {1: 2, 3: -2}


@pytest.mark.parametrize(
    ("indices", "preferences", "error"),
    [([0, 1], [1, 0], ValueError), ([0, 1], [1, 3], ValueError),
     ([0, N_ITEMS], [1, 1], IndexError), ([-1], [1], IndexError), ([0, 1], [1], ValueError)],
)
def test_fold_in_rejects_bad_input(
    trained: Trained, indices: list[int], preferences: list[int], error: type[Exception]
) -> None:
    fold = FoldIn.from_factors(trained[0].item_factors, REG)
    with pytest.raises(error):
        fold.solve(np.array(indices), np.array(preferences), ALPHA)


# --- additive rule ------------------------------------------------------------------------

@pytest.fixture
def vectors() -> VectorFactory:
    def make(seed: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        return (rng.standard_normal(K).astype(np.float32) * 3,
                rng.standard_normal(K).astype(np.float32) * 0.2)
    return make


def test_decay_halves_after_one_half_life() -> None:
    assert decay_for(3600.0, 3600.0) == pytest.approx(0.5)
    assert decay_for(7200.0, 3600.0) == pytest.approx(0.25)
    assert decay_for(0.0, 3600.0) == 1.0
    assert decay_for(-5.0, 3600.0) == 1.0
    assert decay_for(1e9, math.inf) == 1.0
    assert decay_for(1.0, 0.0) == 0.0 and decay_for(0.0, 0.0) == 1.0
    with pytest.raises(ValueError):
        decay_for(1.0, -1.0)


def test_pure_decay_scales_vector(vectors: VectorFactory) -> None:
    u, m = vectors(0)
    out = additive_update(u, m, 0, step=1.0, decay=0.5, max_norm=math.inf)
    np.testing.assert_allclose(out, 0.5 * u, rtol=1e-6)
    assert out.dtype == np.float32


@pytest.mark.parametrize("preference", [1, 2])
def test_positive_swipe_raises_score_negative_lowers_it(
    vectors: VectorFactory, preference: int
) -> None:
    for seed in range(5):
        u, m = vectors(seed)
        up = additive_update(u, m, preference, step=0.5, decay=1.0, max_norm=math.inf)
        down = additive_update(u, m, -preference, step=0.5, decay=1.0, max_norm=math.inf)
        assert up @ m > u @ m > down @ m


def test_norm_clip_holds(vectors: VectorFactory) -> None:
    u, m = vectors(1)
    cap = 0.5 * float(np.linalg.norm(u))
    out = additive_update(u, m, 2, step=1.0, decay=1.0, max_norm=cap)
    assert np.linalg.norm(out) == pytest.approx(cap, rel=1e-5)
    free = additive_update(u, m, 2, step=1.0, decay=1.0, max_norm=math.inf)
    np.testing.assert_allclose(out / np.linalg.norm(out), free / np.linalg.norm(free), rtol=1e-5)


def test_step_is_relative_to_typical_user_norm() -> None:
    rng = np.random.default_rng(3)
    users = rng.standard_normal((500, K)).astype(np.float32) * 4.0
    items = rng.standard_normal((300, K)).astype(np.float32) * 0.05
    items[:10] = 0.0  # never-rated movies do not count towards the typical norm
    rule = AdditiveRule.from_factors(users, items, 0.1, 3600.0, math.inf)
    item_norms = np.linalg.norm(items, axis=1)
    typical = int(np.argmin(np.abs(item_norms - np.median(item_norms[item_norms > 0]))))
    u = users[0]
    moved = rule.apply(u, items[typical], 2, elapsed_seconds=0.0) - u
    scale = np.linalg.norm(items[typical]) / rule.typical_item_norm
    assert np.linalg.norm(moved) == pytest.approx(0.1 * rule.typical_user_norm * scale, rel=1e-4)
    assert scale == pytest.approx(1.0, abs=0.05)
    half = rule.apply(u, items[typical], -1, elapsed_seconds=0.0) - u
    assert np.linalg.norm(half) == pytest.approx(0.5 * np.linalg.norm(moved), rel=1e-4)


def test_from_factors_max_norm_is_percentile_of_user_norms() -> None:
    rng = np.random.default_rng(4)
    users = rng.standard_normal((1000, K)).astype(np.float32)
    items = rng.standard_normal((50, K)).astype(np.float32)
    rule = AdditiveRule.from_factors(users, items, 0.1, 60.0, 2.0)
    p99 = np.percentile(np.linalg.norm(users.astype(np.float64), axis=1), 99)
    assert rule.max_norm == pytest.approx(2.0 * p99)
    u = users[0] * 100
    assert np.linalg.norm(rule.apply(u, items[0], 1, 0.0)) <= rule.max_norm * (1 + 1e-6)
    assert rule.apply(users[0], items[0], 0, 60.0) == pytest.approx(0.5 * users[0], rel=1e-6)


def test_initial_vector() -> None:
    users = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(initial_vector("zero", users), np.zeros(4, np.float32))
    np.testing.assert_allclose(initial_vector("mean", users), users.mean(axis=0))
    assert initial_vector("mean", users).dtype == np.float32
    with pytest.raises(ValueError):
        initial_vector("median", users)  # type: ignore[arg-type]
