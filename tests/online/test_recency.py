"""The recency-weighted fold-in against its closed form and the exact fold-in."""
from __future__ import annotations

import numpy as np
import pytest

from online.foldin import FoldIn
from online.preference import confidence
from online.recency import RecencyFoldIn, recency_boost

ALPHA = 15.0
RNG = np.random.default_rng(3)
Y = RNG.normal(size=(40, 6)).astype(np.float32)
X0 = RNG.normal(size=6).astype(np.float32)


def make(**kw) -> RecencyFoldIn:
    args = {"regularization": 5.0, "alpha": ALPHA, "boost": 3.0, "decay": 0.8, "window": 50, "anchor": 0.5} | kw
    return RecencyFoldIn.from_factors(Y, **args)


def closed_form(idx, pref, x0, lam, anchor, boost, decay) -> np.ndarray:
    """x = (YtY + λI + Σ (c_s − 1) y_s y_sᵀ)⁻¹ (λ anchor x0 + Σ c_s p_s y_s), dense float64."""
    y = Y.astype(np.float64)
    c = confidence(np.asarray(pref), ALPHA).astype(np.float64) * recency_boost(len(idx), boost, decay)
    a = y.T @ y + lam * np.eye(y.shape[1])
    b = lam * anchor * x0.astype(np.float64)
    for i, p, ci in zip(idx, pref, c):
        a += (ci - 1.0) * np.outer(y[i], y[i])
        b += ci * (p > 0) * y[i]
    return np.linalg.solve(a, b)


def test_matches_the_closed_form() -> None:
    idx, pref = [3, 7, 11, 2], [2, -1, 1, -2]
    got = make().solve(X0, idx, pref)
    np.testing.assert_allclose(got, closed_form(idx, pref, X0, 5.0, 0.5, 3.0, 0.8), rtol=1e-5, atol=1e-6)


def test_no_boost_and_no_anchor_is_the_exact_fold_in_of_the_window() -> None:
    idx, pref = [1, 4, 9, 12, 30], [2, 1, -1, 2, -2]
    got = make(boost=1.0, anchor=0.0).solve(X0, idx, pref)
    np.testing.assert_allclose(got, FoldIn.from_factors(Y, 5.0).solve(idx, pref, ALPHA), rtol=1e-5, atol=1e-6)


def test_the_newest_swipe_weighs_most_and_a_movie_counts_once() -> None:
    rule = make(anchor=0.0)
    older_first = rule.solve(None, [5, 6], [2, 2])
    # 5 liked again last: counted once, with the newest (largest) boost
    np.testing.assert_allclose(rule.solve(None, [5, 6, 5], [1, 2, 2]), rule.solve(None, [6, 5], [2, 2]), atol=1e-6)
    newest_5 = rule.solve(None, [6, 5], [2, 2])
    assert newest_5 @ Y[5] > older_first @ Y[5] and newest_5 @ Y[6] < older_first @ Y[6]


def test_only_the_window_counts_and_no_swipe_leaves_the_anchor() -> None:
    rule = make(window=2)
    np.testing.assert_allclose(rule.solve(X0, [1, 2, 3], [2, 2, 2]), rule.solve(X0, [2, 3], [2, 2]), atol=1e-6)
    y = Y.astype(np.float64)
    expected = np.linalg.solve(y.T @ y + 5.0 * np.eye(6), 5.0 * 0.5 * X0)
    np.testing.assert_allclose(rule.solve(X0, [], []), expected, rtol=1e-5, atol=1e-6)


def test_bad_input_is_refused() -> None:
    with pytest.raises(IndexError):
        make().solve(X0, [40], [2])
    with pytest.raises(ValueError, match="preferences"):
        make().solve(X0, [1], [0])
