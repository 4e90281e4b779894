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


@pytest.mark.parametrize("n", [1, 5, 6, 9])
def test_matches_the_closed_form_below_and_above_k_interactions(n: int) -> None:
    """Fewer distinct movies than factors (k = 6) solve by Woodbury, the others directly."""
    rng = np.random.default_rng(n)
    idx, pref = rng.choice(40, n, replace=False).tolist(), rng.choice([-2, -1, 1, 2], n).tolist()
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


# -- the batched (Woodbury) solve against the per-user one -------------------------------------
# A wider model than Y above (k = 16) so that a window < k takes the Woodbury path.
K_WIDE = 16
Y_WIDE = np.random.default_rng(11).normal(size=(60, K_WIDE)).astype(np.float32)


def make_wide(**kw) -> RecencyFoldIn:
    args = {"regularization": 5.0, "alpha": ALPHA, "boost": 3.0, "decay": 0.8, "window": 8, "anchor": 0.5} | kw
    return RecencyFoldIn.from_factors(Y_WIDE, **args)


def _mixed_batch(rng: np.random.Generator, window: int, n_movies: int = 60, k: int = K_WIDE):
    """(offline, recent) of a batch covering every case the batched solve special-cases."""
    cases: list[tuple[list[int], list[int]]] = [
        ([], []),  # no interactions
        ([3], [2]),  # one
        ([4, 9, 4], [1, -2, 2]),  # a repeat: the newest (liked) wins
        ([7, 7, 7, 7], [2, -1, 1, -2]),  # the same movie only, the newest disliked
        ([1, 2, 3], [-1, -2, -1]),  # all disliked
        ([5, 6, 5, 6, 5], [-2, 2, 1, -1, 2]),  # two movies alternating
        ([(10 + i) % n_movies for i in range(window)], [2, -1] * (window // 2) + [1] * (window % 2)),  # exactly the window
        ([(20 + i) % n_movies for i in range(3 * window)], ([-2, -1, 1, 2] * window)[:3 * window]),  # longer: tail only
        # longer, with a movie repeated inside and across the window's edge
        ([8, 8, 30, 31, 8, 32, 33, 34, 8, 35, 36, 37, 38, 8, 30], [2, 2, 1, 1, -1, 2, 2, -2, 1, 2, 1, 1, 2, -2, 2]),
        ([40, 41], [-1, -1]),
    ]
    for _ in range(14):  # random users, with heavy repeats from a small pool
        n = int(rng.integers(0, 3 * window))
        pool = rng.choice(n_movies, size=int(rng.integers(1, 6)), replace=False) if rng.random() < 0.4 else \
            np.arange(n_movies)
        cases.append((rng.choice(pool, size=n).tolist(), rng.choice([-2, -1, 1, 2], size=n).tolist()))
    recent = [(np.array(m, np.int64), np.array(p, np.int8)) for m, p in cases]
    offline = [None if i % 3 == 1 else (2.0 * rng.normal(size=k)).astype(np.float32) for i in range(len(recent))]
    return offline, recent


def _assert_rows_match_solve(rule: RecencyFoldIn, offline, recent) -> None:
    got = rule.solve_many(offline, recent)
    assert got.shape == (len(recent), rule.item_factors.shape[1]) and got.dtype == np.float32
    for row, (x0, (m, p)) in enumerate(zip(offline, recent)):
        ref = rule.solve(x0, m, p)
        scale = max(float(np.abs(ref).max()), 1e-3)
        # float32 Woodbury products vs a float64 Cholesky: ~1e-6..1e-5 of the scale here (9e-6 the
        # worst of 60 random batches), whatever BLAS; a wrong entry moves a row by far more
        np.testing.assert_allclose(got[row], ref, rtol=0, atol=2e-5 * scale,
                                   err_msg=f"user {row}: offline {'set' if x0 is not None else 'None'}, "
                                           f"movies {m.tolist()}, preferences {p.tolist()}")


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("anchor", [0.5, 0.0])
def test_solve_many_equals_solve_row_by_row(seed: int, anchor: float) -> None:
    rule = make_wide(anchor=anchor)
    offline, recent = _mixed_batch(np.random.default_rng(seed), rule.window)
    _assert_rows_match_solve(rule, offline, recent)


def test_solve_many_repeats_keep_the_newest_entry() -> None:
    """A movie liked then disliked is pushed away, disliked then liked pulled in (both paths)."""
    rule = make_wide(anchor=0.0)
    recent = [(np.array([5, 6, 5]), np.array([2, 2, -2])), (np.array([5, 6, 5]), np.array([-2, 2, 2])),
              (np.array([6, 5]), np.array([2, -2])), (np.array([6, 5]), np.array([2, 2]))]
    got = rule.solve_many([None] * 4, recent)
    np.testing.assert_allclose(got[0], got[2], atol=1e-5 * np.abs(got[2]).max())
    np.testing.assert_allclose(got[1], got[3], atol=1e-5 * np.abs(got[3]).max())


@pytest.mark.parametrize("window", [K_WIDE, K_WIDE + 5])
def test_solve_many_with_a_window_of_k_or_more_solves_one_by_one(window: int) -> None:
    rule = make_wide(window=window)
    offline, recent = _mixed_batch(np.random.default_rng(4), window)
    _assert_rows_match_solve(rule, offline, recent)


def test_solve_many_of_one_and_of_no_user() -> None:
    rule = make_wide()
    x0 = np.random.default_rng(5).normal(size=K_WIDE).astype(np.float32)
    for offline in (x0, None):
        _assert_rows_match_solve(rule, [offline], [(np.array([1, 2, 1, 9, 4]), np.array([2, -1, 1, -2, 2]))])
    _assert_rows_match_solve(rule, [x0], [(np.zeros(0, np.int64), np.zeros(0, np.int8))])
    for r in (rule, make_wide(window=K_WIDE)):
        empty = r.solve_many([], [])
        assert empty.shape == (0, K_WIDE) and empty.dtype == np.float32


@pytest.mark.parametrize("window", [8, K_WIDE])  # the Woodbury path and the per-user fallback
def test_solve_many_refuses_bad_input_like_solve(window: int) -> None:
    rule = make_wide(window=window)
    x0 = np.zeros(K_WIDE, np.float32)
    fine = (np.array([1, 2]), np.array([2, -1]))
    bad = {
        "preference 0": ((np.array([1, 2]), np.array([2, 0])), ValueError),
        "preference 3": ((np.array([1, 2]), np.array([3, 1])), ValueError),
        "movie == n_movies": ((np.array([1, 60]), np.array([2, 1])), IndexError),
        "negative movie": ((np.array([-1, 2]), np.array([2, 1])), IndexError),
        "lengths differ": ((np.array([1, 2, 3]), np.array([2, 1])), ValueError),
    }
    for name, ((m, p), error) in bad.items():
        with pytest.raises(error):
            rule.solve(x0, m, p)
        with pytest.raises(error):
            rule.solve_many([x0, None], [fine, (m, p)])
    with pytest.raises(ValueError):
        rule.solve_many([x0], [fine, fine])
    with pytest.raises(ValueError):
        rule.solve_many([x0, x0], [fine])


def test_lengths_that_differ_beyond_the_window_are_refused() -> None:
    """Both solves compare the whole arrays, not only the window's tail."""
    rng = np.random.default_rng(5)
    r = RecencyFoldIn.from_factors(rng.standard_normal((20, 16)).astype(np.float32), 1.0, 2.0, 3.0, 0.8, 8, 0.5)
    movies, prefs = np.arange(10), np.array([2, -1] * 6)
    with pytest.raises(ValueError, match="differ"):
        r.solve(None, movies, prefs)
    with pytest.raises(ValueError, match="differ"):
        r.solve_many([None, None], [(movies, prefs), (movies[:3], prefs[:3])])


@pytest.mark.parametrize(("alpha", "boost"), [(0.0, 1.0), (0.0, 2.0), (2.0, 1.0)])
def test_solve_many_when_entries_add_no_confidence(alpha: float, boost: float) -> None:
    """alpha 0 and boost 1: c_s = 1, the window changes only the right-hand side (no low-rank term)."""
    rng = np.random.default_rng(6)
    rule = RecencyFoldIn.from_factors(rng.standard_normal((40, 16)).astype(np.float32), 1.0, alpha, boost, 0.8, 8, 0.5)
    recent = [(rng.integers(0, 40, n), rng.choice([-2, -1, 1, 2], n)) for n in (0, 3, 9, 12)]
    offline = [None, rng.standard_normal(16).astype(np.float32), None, rng.standard_normal(16).astype(np.float32)]
    _assert_rows_match_solve(rule, offline, recent)


# -- the one-user solve (lists, Woodbury below k distinct movies) against the batched one -------
def _random_window(rng: np.random.Generator, n_movies: int, window: int) -> tuple[list[int], list[int]]:
    """A user's recent interactions: up to 2 windows long, with repeats from a small pool at times."""
    n = int(rng.integers(1, 2 * window))
    pool = int(rng.choice([3, 8, n_movies]))
    return rng.integers(0, pool, n).tolist(), rng.choice([-2, -1, 1, 2], n).tolist()


@pytest.mark.parametrize("window", [8, K_WIDE + 4])  # Woodbury below k distinct movies; direct at k and more
@pytest.mark.parametrize("anchor", [0.5, 0.0])
def test_the_one_user_solve_of_lists_equals_the_batched_solve_and_the_closed_form(anchor: float, window: int) -> None:
    """``solve`` on lists (the serving path: de-duplication and tables in Python, Woodbury with
    the precomputed Z rows) against ``solve_many`` and the dense float64 closed form."""
    rng = np.random.default_rng(21)
    rule = make_wide(anchor=anchor, window=window)
    y = Y_WIDE.astype(np.float64)
    for case in range(40):
        movies, prefs = _random_window(rng, len(Y_WIDE), rule.window)
        x0 = None if case % 4 == 0 else (2.0 * rng.normal(size=K_WIDE)).astype(np.float32)
        got = rule.solve(x0, movies, prefs)
        assert got.dtype == np.float32 and got.shape == (K_WIDE,)
        np.testing.assert_array_equal(got, rule.solve(x0, np.array(movies), np.array(prefs, np.int8)))
        batched = rule.solve_many([x0, None], [(np.array(movies), np.array(prefs)), (np.array([1]), np.array([2]))])[0]
        # closed form: the window's newest entry per movie, its slot's boost
        tail_m, tail_p = movies[-rule.window:], prefs[-rule.window:]
        boost = recency_boost(rule.window, rule.boost, rule.decay)[-len(tail_m):]
        a, b = y.T @ y + rule.regularization * np.eye(K_WIDE), np.zeros(K_WIDE)
        if x0 is not None:
            b += rule.regularization * anchor * x0.astype(np.float64)
        for i, (m, p) in enumerate(zip(tail_m, tail_p)):
            if m in tail_m[i + 1:]:
                continue  # a later entry of the same movie wins
            c = (1.0 + ALPHA * abs(p)) * boost[i]
            a += (c - 1.0) * np.outer(y[m], y[m])
            b += c * (p > 0) * y[m]
        expected = np.linalg.solve(a, b)
        scale = max(float(np.abs(expected).max()), 1e-3)
        context = f"case {case}: movies {movies}, preferences {prefs}"
        np.testing.assert_allclose(got, expected, rtol=0, atol=2e-5 * scale, err_msg=context)
        np.testing.assert_allclose(got, batched, rtol=0, atol=2e-5 * scale, err_msg=context)


def test_the_one_user_solve_falls_back_to_the_direct_solve_where_an_entry_adds_no_confidence() -> None:
    """alpha 0 and boost 1 (c_s = 1): no Woodbury; the direct Cholesky solve, same as batched."""
    rule = make_wide(alpha=0.0, boost=1.0)
    x0 = np.random.default_rng(2).normal(size=K_WIDE).astype(np.float32)
    movies, prefs = [3, 5, 3, 9], [2, -1, -2, 1]
    got = rule.solve(x0, movies, prefs)
    batched = rule.solve_many([x0], [(np.array(movies), np.array(prefs))])[0]
    np.testing.assert_allclose(got, batched, rtol=0, atol=2e-5 * float(np.abs(got).max()))
