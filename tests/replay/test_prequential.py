"""Prequential bookkeeping on hand-made sequences whose right answer is worked out by hand."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from offline.matrix import IdMap
from offline.models.popularity import PopularityModel
from offline.recommender import Recommender
from replay.events import events_from_table
from replay.local import DirectStep, WorkerStep, initial_lists, play_local
from replay.prequential import (
    PrequentialAccumulator,
    after_lists,
    list_changes,
    prequential_metrics,
    ranks_in_lists,
    rolling_mean,
)


def test_metrics_from_ranks_by_hand() -> None:
    ranks = [1, 0, 3, 12, 2]
    positive = [True, True, True, True, False]  # the rank-2 event is a dislike: not scored
    m = prequential_metrics(ranks, positive, ks=(10, 20))
    assert m["n_events"] == 5 and m["n_scored"] == 4
    assert m["hit@10"] == pytest.approx(2 / 4)
    assert m["ndcg@10"] == pytest.approx((1 + 1 / math.log2(4)) / 4)
    assert m["mrr@10"] == pytest.approx((1 + 1 / 3) / 4)
    assert m["hit@20"] == pytest.approx(3 / 4)
    assert m["ndcg@20"] == pytest.approx((1 + 0.5 + 1 / math.log2(13)) / 4)
    assert m["mrr@20"] == pytest.approx((1 + 1 / 3 + 1 / 12) / 4)


def test_no_scored_event_gives_nan() -> None:
    m = prequential_metrics([1, 2], [False, False])
    assert m["n_scored"] == 0 and math.isnan(m["ndcg@10"])


def test_ranks_in_lists_padding_and_absence() -> None:
    lists = np.array([[5, 7, 9], [5, -1, -1], [3, 4, 5], [1, 2, 3]])
    assert ranks_in_lists(lists, [9, 7, 3, -1]).tolist() == [3, 0, 1, 0]


def test_accumulator_matches_the_vector_form() -> None:
    acc = PrequentialAccumulator((1, 3))
    assert acc.add_list([4, 5, 6], 5, True) == 2
    assert acc.add_list([4, 5, 6], 4, False) == 1
    assert acc.add_list([4, 5, 6], 9, True) == 0
    assert acc.metrics() == prequential_metrics([2, 1, 0], [True, False, True], (1, 3))


def test_after_lists_and_changes() -> None:
    before = np.array([[1, 2, 3], [7, 8, 9], [2, 3, 4]])  # user A: events 0, 2; user B: event 1
    nxt = np.array([2, -1, -1])
    final = np.array([[3, 4, 5], [8, 9, 6], [3, 4, 5]])
    after = after_lists(before, nxt, final)
    assert after.tolist() == [[2, 3, 4], [8, 9, 6], [3, 4, 5]]
    assert list_changes(before, after, k=3).tolist() == [1, 1, 1]
    assert list_changes(before, after, k=1).tolist() == [1, 1, 1]
    assert list_changes(before, before, k=3).tolist() == [0, 0, 0]


def test_rolling_mean() -> None:
    assert rolling_mean([1, 0, 1, 1], 2).tolist() == [1.0, 0.5, 0.5, 1.0]


# --- a toy model whose lists are known: 7 movies scored 7 > 6 > ... > 1 for every user ----
MOVIES = np.arange(1, 8, dtype=np.int64) * 10  # ids 10..70, index i has score 7 - i


def toy_recommender(strategy: str = "static") -> Recommender:
    item_factors = np.c_[np.arange(7, 0, -1), np.zeros(7)].astype(np.float32)  # (7, 2)
    user_factors = np.array([[1.0, 0.0], [1.0, 0.0]], np.float32)  # users 1 and 2
    history = sp.csr_matrix((np.array([2.0], np.float32), ([0], [0])), shape=(2, 7))  # user 1 saw movie 10
    pop = PopularityModel().fit(sp.csr_matrix(np.ones((1, 7), np.float32) * 4.0))
    return Recommender(item_factors, user_factors, IdMap(np.array([1, 2])), IdMap(MOVIES), history, pop,
                       np.zeros((7, 1), np.float32), regularization=1.0, alpha=1.0, strategy=strategy,
                       model_version="toy")


def toy_events() -> pd.DataFrame:
    # global order: by timestamp; user 2's events interleave with user 1's
    return pd.DataFrame({
        "user_id": [1, 2, 1, 1, 2, 1],
        "movie_id": [30, 10, 50, 20, 20, 60],
        "rating": [5.0, 4.0, 4.0, 1.0, 5.0, 5.0],
        "preference": [2, 1, 1, -2, 2, 2],
        "timestamp": [1_700_000_100, 1_700_000_100, 1_700_000_200, 1_700_000_300, 1_700_000_300, 1_700_000_400],
    })


@pytest.mark.parametrize("step_kind", ["worker", "direct"])
def test_before_lists_on_a_known_sequence(step_kind: str) -> None:
    rec = toy_recommender()
    events = events_from_table(toy_events())
    # sorted by (timestamp, user, movie): u1-30, u2-10, u1-50, u1-20, u2-20, u1-60
    assert events.user_ids.tolist() == [1, 2, 1, 1, 2, 1]
    assert events.movie_ids.tolist() == [30, 10, 50, 20, 20, 60]
    n = 3
    initial = initial_lists(rec, [1, 2], n)
    assert initial[1].tolist() == [20, 30, 40] and initial[2].tolist() == [10, 20, 30]
    step = WorkerStep(rec, n, [events.swipe(i).to_bytes() for i in range(len(events))]) if step_kind == "worker" \
        else DirectStep(rec, n)
    play = play_local("static", events, step, initial, n)
    # user 1 (10 seen): [20 30 40] -30-> [20 40 50] -50-> [20 40 60] -20-> [40 60 70] -60-> [40 70]
    # user 2:           [10 20 30] -10-> [20 30 40] -20-> [30 40 50]
    assert play.before.tolist() == [[20, 30, 40], [10, 20, 30], [20, 40, 50], [20, 40, 60], [20, 30, 40],
                                    [40, 60, 70]]
    assert play.final[1].tolist() == [40, 70, -1] and play.final[2].tolist() == [30, 40, 50]
    ranks = ranks_in_lists(play.before, events.movie_ids)
    assert ranks.tolist() == [2, 1, 3, 1, 1, 2]
    m = prequential_metrics(ranks, events.positive, ks=(1, 3))
    # scored: ranks 2, 1, 3, 1, 2 (user 1's hate swipe on 20, at rank 1, is not scored)
    assert m["n_scored"] == 5
    assert m["hit@1"] == pytest.approx(2 / 5)
    assert m["hit@3"] == pytest.approx(1.0)
    assert m["mrr@3"] == pytest.approx((1 / 2 + 1 + 1 / 3 + 1 + 1 / 2) / 5)
    assert m["ndcg@3"] == pytest.approx((2 / math.log2(3) + 2 + 1 / math.log2(4)) / 5)
    assert play.applied == 6 and play.dead_lettered == 0


def test_an_unknown_movie_is_dead_lettered_and_the_user_goes_on() -> None:
    rec = toy_recommender()
    frame = toy_events()
    frame.loc[2, "movie_id"] = 999  # user 1's second event: not in the catalogue
    events = events_from_table(frame)
    payloads = [events.swipe(i).to_bytes() for i in range(len(events))]
    play = play_local("static", events, WorkerStep(rec, 3, payloads), initial_lists(rec, [1, 2], 3), 3)
    assert play.applied == 5 and play.dead_lettered == 1
    i = events.movie_ids.tolist().index(999)
    assert play.before[i].tolist() == play.before[i + 1].tolist()  # nothing changed for user 1


def test_rounds_keep_each_users_order() -> None:
    events = events_from_table(toy_events())
    rounds = events.rounds()
    assert [r.tolist() for r in rounds] == [[0, 1], [2, 4], [3], [5]]
    assert events.position_in_user().tolist() == [0, 0, 1, 2, 1, 3]
    assert events.next_of_user().tolist() == [2, 4, 3, 5, -1, -1]
