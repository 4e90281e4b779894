"""process_batch: the worker's per-batch logic, without Kafka."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from offline.artifacts import load_version
from offline.recommender import Recommender
from schemas.events import SwipeEvent
from stream_app.processing import Incoming, process_batch
from stream_app.user_state import UserState

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def recommender(small_artifacts: Path) -> Recommender:
    return Recommender.from_artifact(load_version(small_artifacts), strategy="foldin")


def msg(value: bytes | None, offset: int, key: bytes | None = None) -> Incoming:
    return Incoming(value, "swipes", 0, offset, key)


def swipe(user: int, movie: int, pref: int, minutes: int = 0) -> SwipeEvent:
    return SwipeEvent(user_id=user, movie_id=movie, preference=pref, occurred_at=T0 + timedelta(minutes=minutes))


def test_good_events_update_states_and_give_one_list_per_user(recommender) -> None:
    events = [swipe(1, 260, 4), swipe(2, 1, 3), swipe(1, 1196, 4, 1)]
    result = process_batch(recommender, [msg(e.to_bytes(), i, str(e.user_id).encode()) for i, e in enumerate(events)],
                           lambda uid: None, 10)
    assert result.applied == 3 and not result.dead_letters
    assert set(result.states) == {1, 2} and result.states[1].n_events == 2
    assert result.last_message == {1: 2, 2: 1}
    by_user = {rl.user_id: rl for rl in result.lists}
    assert by_user[1].cause_event_id == events[2].event_id and len(by_user[1].items) == 10
    assert not {260, 1196} & {it.movie_id for it in by_user[1].items}


def test_invalid_events_become_dead_letters_with_reasons(recommender) -> None:
    good = swipe(5, 1, 4)
    messages = [msg(b"{", 0), msg(None, 1), msg(swipe(5, 123456789, 4).to_bytes(), 2),
                msg(good.to_bytes(), 3), msg(swipe(6, 1, 4).to_bytes(), 4, key=b"7")]
    result = process_batch(recommender, messages, lambda uid: None, 5)
    reasons = {i: d.error for i, d in result.dead_letters}
    assert set(reasons) == {0, 1, 2, 4}
    assert "invalid SwipeEvent" in reasons[0] and "tombstone" in reasons[1]
    assert "UnknownMovieError" in reasons[2] and "123456789" in reasons[2]
    assert "does not match user_id" in reasons[4]
    assert result.applied == 1 and [rl.cause_event_id for rl in result.lists] == [good.event_id]
    assert result.dead_letters[0][1].source_offset == 0


def test_redelivered_event_is_not_applied_twice_but_list_is_refreshed(recommender) -> None:
    e = swipe(9, 260, 4)
    first = process_batch(recommender, [msg(e.to_bytes(), 0)], lambda uid: None, 10)
    stored = first.states[9].to_bytes()
    again = process_batch(recommender, [msg(e.to_bytes(), 0)], lambda uid: UserState.from_bytes(stored), 10)
    assert again.applied == 0 and again.duplicates == 1
    assert again.states[9].n_events == 1
    assert [i.movie_id for i in again.lists[0].items] == [i.movie_id for i in first.lists[0].items]


def test_unknown_user_starts_cold_then_gets_a_vector(recommender) -> None:
    user = 55_000_000
    state = None
    strategies = []
    for i, movie in enumerate((1, 2, 3114, 4886)):
        result = process_batch(recommender, [msg(swipe(user, movie, 4, i).to_bytes(), i)], lambda uid: state, 10)
        state = result.states[user]
        strategies.append(result.lists[0].strategy)
    assert strategies == ["cold_start", "cold_start", "foldin", "foldin"]
    assert recommender.vector(state) is not None and state.n_events == 4


def test_a_user_whose_list_cannot_be_computed_costs_only_that_list(small_artifacts: Path,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    """Vectors are derived for the whole batch when it is ranked: one user whose ranking raises
    must not take the batch (and, redelivered, the stream) down with it."""
    rec = Recommender.from_artifact(load_version(small_artifacts), strategy="recency_neighbours")
    derive_many = rec.rule.derive_many

    def failing_for_user_3(views):  # user 3's views raise, as a corrupt state or a solver error would
        if any(v.offline is not None and np.array_equal(v.offline, rec.user_factors[rec.users.get(3)])
               for v in views):
            raise FloatingPointError("solver failed")
        return derive_many(views)

    rec.rule.derive_many = failing_for_user_3  # type: ignore[method-assign]
    events = [swipe(1, 260, 4), swipe(3, 1, 4), swipe(2, 1196, 4)]
    with caplog.at_level("ERROR", logger="stream_app.processing"):
        result = process_batch(rec, [msg(e.to_bytes(), i, str(e.user_id).encode()) for i, e in enumerate(events)],
                               lambda uid: None, 10)
    assert result.applied == 3 and set(result.states) == {1, 2, 3}  # every swipe is kept
    assert sorted(rl.user_id for rl in result.lists) == [1, 2] and result.unranked == [3]
    assert any("no list for user 3" in r.getMessage() for r in caplog.records)


def test_a_batch_lists_share_one_generation_time_taken_after_ranking(recommender) -> None:
    events = [swipe(u, 260, 4) for u in (1, 2, 3)]
    before = datetime.now(timezone.utc)
    result = process_batch(recommender, [msg(e.to_bytes(), i, str(e.user_id).encode()) for i, e in enumerate(events)],
                           lambda uid: None, 10)
    after = datetime.now(timezone.utc)
    stamps = {rl.model.generated_at for rl in result.lists}
    assert len(result.lists) == 3 and len(stamps) == 1
    assert before <= stamps.pop() <= after
