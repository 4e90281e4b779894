"""The compiled one-user kernels (``online.kernels``) against the numpy code they stand in for."""
from __future__ import annotations

import sys
from collections.abc import Callable, Iterator

import numpy as np
import pytest
import scipy.sparse as sp

import online
import online.compiled
from online.additions import RowAdditions, SeedAdditions
from online.overlay import FEW_USERS, NeighbourOverlay
from online.recency import RecencyFoldIn

N_MOVIES, K, WINDOW = 300, 16, 8
Parts = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def make_fold_in(seed: int = 0, **kw) -> RecencyFoldIn:
    rng = np.random.default_rng(seed)
    y = (0.3 * rng.normal(size=(N_MOVIES, K))).astype(np.float32)
    args = {"regularization": 30.0, "alpha": 10.0, "boost": 3.0, "decay": 0.8, "window": WINDOW,
            "anchor": 0.33} | kw
    return RecencyFoldIn.from_factors(y, **args)


def make_overlay(compiled: bool, seeds: int = 5) -> NeighbourOverlay:
    rows = sp.random(N_MOVIES, N_MOVIES, density=0.05, random_state=3, dtype=np.float32).tocsr()
    return NeighbourOverlay(rows, 3.0, 0.8, seeds, compiled)


def user_parts(rng: np.random.Generator, n_recent: int, n_swipes: int, repeats: bool = False) -> Parts:
    """Recent history as the artifact holds it (read-only int32 indices) and swipes as the
    state gives them (int64), preferences int8; ``repeats``: swipes on movies of the history."""
    recent_m = rng.integers(0, N_MOVIES, n_recent).astype(np.int32)
    recent_m.flags.writeable = False
    swipe_m = rng.integers(0, N_MOVIES, n_swipes).astype(np.int64)
    if repeats and n_recent and n_swipes:
        swipe_m[: min(n_swipes, n_recent)] = recent_m[-min(n_swipes, n_recent):]
    return ((recent_m, rng.choice([-2, -1, 1, 2], n_recent).astype(np.int8)),
            (swipe_m, rng.choice([-2, -1, 1, 2], n_swipes).astype(np.int8)))


def as_lists(parts: Parts) -> Callable[[], tuple[list[int], list[int]]]:
    (rm, rp), (sm, sp_) = parts
    return lambda: (rm.tolist() + sm.tolist(), rp.tolist() + sp_.tolist())


def lists_of(users: list[Parts]) -> Callable[[], list[tuple[list[int], list[int]]]]:
    return lambda: [as_lists(parts)() for parts in users]


def cases() -> Iterator[tuple[int, int, bool]]:
    """(history, swipes, repeats): empty, shorter than the window, longer, with repeats."""
    yield from [(0, 1, False), (3, 0, False), (0, 5, False), (2, 3, False), (30, 4, False), (30, 4, True),
                (5, 12, True), (WINDOW, 0, False)]


@pytest.mark.parametrize(("n_recent", "n_swipes", "repeats"), list(cases()))
@pytest.mark.parametrize("known", [True, False])
def test_the_compiled_solve_gives_numpys_vector(n_recent: int, n_swipes: int, repeats: bool, known: bool) -> None:
    """Same window, de-duplication and tables: equal to float32 rounding (sums in another order)."""
    fold_in = make_fold_in()
    assert fold_in._kernel is not None, "the kernel should apply: numba installed, window < k, c_s > 1"
    rng = np.random.default_rng(n_recent * 100 + n_swipes)
    x0 = rng.normal(size=K).astype(np.float32) if known else None
    for _ in range(5):
        parts = user_parts(rng, n_recent, n_swipes, repeats)
        got = fold_in.solve_parts(x0, *parts)
        want = fold_in.solve(x0, *as_lists(parts)())
        assert got.dtype == np.float32 and got.shape == (K,)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * max(1.0, float(np.abs(want).max())))


def test_a_movie_swiped_again_counts_once_at_its_newest_in_the_kernel_too() -> None:
    fold_in = make_fold_in()
    once = fold_in.solve_parts(None, (np.array([6], np.int32), np.array([2], np.int8)),
                               (np.array([5], np.int64), np.array([2], np.int8)))
    twice = fold_in.solve_parts(None, (np.array([5, 6], np.int32), np.array([1, 2], np.int8)),
                                (np.array([5], np.int64), np.array([2], np.int8)))
    np.testing.assert_allclose(twice, once, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(("movie", "preference", "error"),
                         [(3, 0, ValueError), (3, 3, ValueError), (-1, 2, IndexError), (N_MOVIES, 2, IndexError)])
def test_the_compiled_solve_rejects_what_numpy_rejects(movie: int, preference: int, error: type) -> None:
    fold_in = make_fold_in()
    parts = ((np.array([1], np.int32), np.array([2], np.int8)),
             (np.array([movie], np.int64), np.array([preference], np.int8)))
    with pytest.raises(error):
        fold_in.solve(None, *as_lists(parts)())
    with pytest.raises(error):
        fold_in.solve_parts(None, *parts)


def test_the_kernel_stands_aside_where_it_does_not_apply() -> None:
    """A window of k or more, or an entry with no extra confidence (alpha 0, boost 1), or the
    setting off: numpy solves, and ``solve_parts`` is ``solve`` on the joined lists."""
    rng = np.random.default_rng(7)
    parts = user_parts(rng, 10, 3)
    for fold_in in (make_fold_in(window=K), make_fold_in(alpha=0.0, boost=1.0), make_fold_in(compiled=False)):
        assert fold_in._kernel is None
        # exact on purpose: solve_parts then calls solve itself, on the same lists
        np.testing.assert_array_equal(fold_in.solve_parts(None, *parts), fold_in.solve(None, *as_lists(parts)()))


@pytest.mark.parametrize(("n_recent", "n_swipes", "repeats"), list(cases()))
def test_the_compiled_overlay_adds_what_numpy_adds(n_recent: int, n_swipes: int, repeats: bool) -> None:
    """The same float32 products, added in the same order (newest seed first, each row in
    order): equal here, but compared with a tolerance, as a compiler may fuse a multiply-add
    on one side only (another CPU, another SciPy build)."""
    compiled, reference = make_overlay(True), make_overlay(False)
    rng = np.random.default_rng(n_recent * 100 + n_swipes + 1)
    for _ in range(5):
        users = [user_parts(rng, n_recent, n_swipes, repeats)]
        base = rng.normal(size=(1, N_MOVIES)).astype(np.float32)
        additions = compiled.scores_parts(users, lists_of(users))
        assert isinstance(additions, SeedAdditions)
        want = reference.scores_parts(users, lists_of(users))
        assert isinstance(want, RowAdditions)
        np.testing.assert_allclose(additions.add_to(base.copy()), want.add_to(base.copy()), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(additions.toarray(), want.toarray(), rtol=1e-6, atol=1e-6)


def test_a_few_users_overlays_each_land_in_their_own_row() -> None:
    compiled, reference = make_overlay(True), make_overlay(False)
    rng = np.random.default_rng(11)
    users = [user_parts(rng, n_recent, n_swipes, True) for n_recent, n_swipes, _ in list(cases())[:FEW_USERS]]
    base = rng.normal(size=(len(users), N_MOVIES)).astype(np.float32)
    got = compiled.scores_parts(users, lists_of(users)).add_to(base.copy())
    want = reference.scores_parts(users, lists_of(users)).add_to(base.copy())
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    for row, parts in enumerate(users):  # and each row is that user's overlay alone
        alone = compiled.scores_parts([parts], lists_of([parts])).add_to(base[row:row + 1].copy())
        np.testing.assert_allclose(got[row], alone[0], rtol=1e-6, atol=1e-6)


def test_the_compiled_overlay_checks_its_scores_and_movies() -> None:
    overlay = make_overlay(True)
    bad = [((np.array([1], np.int32), np.array([2], np.int8)), (np.array([N_MOVIES], np.int64), np.array([2], np.int8)))]
    with pytest.raises(IndexError):
        overlay.scores_parts(bad, lists_of(bad)).toarray()
    fine = [((np.array([1], np.int32), np.array([2], np.int8)), (np.array([2], np.int64), np.array([1], np.int8)))]
    with pytest.raises(ValueError, match="C-contiguous float32"):
        overlay.scores_parts(fine, lists_of(fine)).add_to(np.zeros((1, N_MOVIES), np.float64))


def test_without_numba_the_numpy_code_serves(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where numba cannot be imported, ``compiled_kernels`` is None and both rules use numpy."""
    monkeypatch.setitem(sys.modules, "numba", None)  # `import numba` raises ImportError
    monkeypatch.delitem(sys.modules, "online.kernels", raising=False)
    monkeypatch.delattr(online, "kernels", raising=False)  # `from online import kernels` reads it first
    online.compiled.compiled_kernels.cache_clear()
    try:
        assert online.compiled.compiled_kernels() is None
        fold_in, overlay = make_fold_in(), make_overlay(True)
        assert fold_in._kernel is None
        parts = user_parts(np.random.default_rng(9), 10, 3)
        # exact on purpose: solve_parts then calls solve itself, on the same lists
        np.testing.assert_array_equal(fold_in.solve_parts(None, *parts), fold_in.solve(None, *as_lists(parts)()))
        assert isinstance(overlay.scores_parts([parts], lists_of([parts])), RowAdditions)
    finally:
        online.compiled.compiled_kernels.cache_clear()
