"""The tie-aware list comparison passes on float noise and ties, fails on ordering bugs."""
from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from tests.ranking import (assert_same_ranking, ranking_difference, scores_at, settle, wait_until,
                           wait_until_async)

IDS = np.array([10, 11, 12, 13, 14])
SCORES = np.array([0.9, 0.7, 0.5, 0.3, 0.1])


def test_identical_lists_pass() -> None:
    assert ranking_difference(IDS, SCORES, IDS.copy(), SCORES.copy()) is None


def test_noise_of_1e_6_passes() -> None:
    noise = np.random.default_rng(0).uniform(-1e-6, 1e-6, size=len(SCORES))
    assert_same_ranking(IDS, SCORES, IDS, SCORES + noise)


def test_a_permutation_inside_a_tie_passes() -> None:
    scores = np.array([0.9, 0.5, 0.5 - 1e-6, 0.5 - 2e-6, 0.1])
    assert_same_ranking(IDS, scores, [10, 13, 11, 12, 14], scores + 1e-7)


def test_a_different_movie_tied_for_the_last_place_passes() -> None:
    scores = np.array([0.9, 0.7, 0.5, 0.3, 0.1])
    assert_same_ranking(IDS, scores, [10, 11, 12, 13, 99], scores - np.r_[0, 0, 0, 0, 1e-6])


def test_padding_passes_when_at_the_same_places() -> None:
    assert_same_ranking([1, 2, -1], [0.5, 0.4, -np.inf], [1, 2, -1], [0.5, 0.4, -np.inf])
    assert ranking_difference([1, 2, -1], [0.5, 0.4, -np.inf], [1, -1, -1], [0.5, -np.inf, -np.inf])


def test_swapped_items_with_clearly_different_scores_fail() -> None:
    # ids swapped, scores still sorted: the two movies' scores disagree between the lists
    why = ranking_difference(IDS, SCORES, [10, 12, 11, 13, 14], SCORES)
    assert why is not None and "not a tie" in why
    # ids and scores swapped together: rank by rank the scores disagree
    with pytest.raises(AssertionError, match="rank 2"):
        assert_same_ranking(IDS, SCORES, [10, 12, 11, 13, 14], [0.9, 0.5, 0.7, 0.3, 0.1])


def test_a_missing_item_with_a_high_score_fails() -> None:
    # rank by rank the scores agree, but movie 11 (0.7) is gone, far above b's cut-off (0.1)
    why = ranking_difference(IDS, SCORES, [10, 99, 12, 13, 14], SCORES)
    assert why is not None and "missing" in why and "movie 11" in why
    # movie 14 dropped and everything moved up: rank by rank the scores disagree
    assert ranking_difference(IDS, SCORES, [10, 12, 13, 14, 99], [0.9, 0.5, 0.3, 0.1, 0.1]) is not None


def test_a_score_off_by_1e_2_fails() -> None:
    with pytest.raises(AssertionError, match="rank 3"):
        assert_same_ranking(IDS, SCORES, IDS, SCORES + np.r_[0, 0, 1e-2, 0, 0])


def test_a_repeated_movie_fails() -> None:
    assert ranking_difference([1, 1], [0.5, 0.5], [1, 2], [0.5, 0.5]) is not None


def test_scores_at_pads_with_minus_inf() -> None:
    assert scores_at([1.0, 2.0, 3.0], [2, 0, -1]).tolist() == [3.0, 1.0, -np.inf]


def test_wait_until_returns_the_value_or_fails_at_the_deadline() -> None:
    box: list[int] = []
    threading.Timer(0.05, box.append, args=(7,)).start()
    assert wait_until(lambda: box, timeout=10) == [7]
    t0 = time.monotonic()
    with pytest.raises(AssertionError, match="never: not met within 0.05 s"):
        wait_until(lambda: False, timeout=0.05, message="never")
    assert time.monotonic() - t0 < 5


def test_wait_until_async_lets_other_tasks_run() -> None:
    async def main() -> None:
        box: list[int] = []
        asyncio.get_running_loop().call_later(0.02, box.append, 1)
        assert await wait_until_async(lambda: box, timeout=10) == [1]
        with pytest.raises(AssertionError):
            await wait_until_async(lambda: False, timeout=0.02)
        fut = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(fut.set_result, None)
        await settle()
        assert fut.done()

    asyncio.run(main())
