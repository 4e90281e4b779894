"""Event contracts: committed JSON Schemas match the models; validation; JSON bytes round trips.

Naive datetimes are *rejected* (ambiguous); aware ones are normalised to UTC.
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError

from schemas import export, topics
from schemas.events import CONTRACTS, DeadLetter, Event, RecommendationList, RecommendedItem, SwipeEvent

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


# --- drift between models and committed schemas ---------------------------------------------------

def test_committed_json_schemas_match_the_models() -> None:
    problems = export.check()
    assert not problems, "JSON Schemas out of date; run `movierec schemas export`:\n" + "\n".join(problems)


def test_every_contract_has_a_committed_file() -> None:
    assert {p.name for p in export.JSON_DIR.glob("*.json")} == {f"{m.__name__}.json" for m in CONTRACTS}


def test_check_detects_a_changed_model(tmp_path: Path) -> None:
    export.export(tmp_path)
    assert export.check(tmp_path) == []

    class SwipeEvent(Event):  # same name, one more field: the committed file no longer matches
        user_id: int
        movie_id: int
        preference: int
        device: str

    assert export.check(tmp_path, (SwipeEvent,) + CONTRACTS[1:]) == ["SwipeEvent.json: differs from the model"]


def test_check_detects_missing_and_stale_files(tmp_path: Path) -> None:
    export.export(tmp_path)
    (tmp_path / "DeadLetter.json").unlink()
    (tmp_path / "Gone.json").write_text("{}\n")
    assert sorted(export.check(tmp_path)) == ["DeadLetter.json: missing",
                                              "Gone.json: no model produces it (delete it or re-export)"]
    export.export(tmp_path)
    assert export.check(tmp_path) == [] and not (tmp_path / "Gone.json").exists()


def test_files_are_sorted_indented_and_end_with_a_newline() -> None:
    text = (export.JSON_DIR / "SwipeEvent.json").read_text()
    assert text.endswith("}\n") and text == json.dumps(json.loads(text), sort_keys=True, indent=2) + "\n"


# --- SwipeEvent -----------------------------------------------------------------------------------

def test_swipe_defaults_and_signed_preference() -> None:
    a, b = SwipeEvent(user_id=1, movie_id=318, preference=4), SwipeEvent(user_id=0, movie_id=1, preference=1)
    assert a.event_id != b.event_id and a.schema_version == 1
    assert a.occurred_at.tzinfo is not None and abs(datetime.now(timezone.utc) - a.occurred_at) < timedelta(minutes=1)
    assert [SwipeEvent(user_id=1, movie_id=1, preference=p).signed_preference for p in (1, 2, 3, 4)] == [-2, -1, 1, 2]


@pytest.mark.parametrize("preference", [0, 5, -1])
def test_preference_outside_1_to_4_is_rejected(preference: int) -> None:
    with pytest.raises(ValidationError, match="preference"):
        SwipeEvent(user_id=1, movie_id=1, preference=preference)


@pytest.mark.parametrize("missing", ["user_id", "movie_id", "preference"])
def test_missing_fields_are_rejected(missing: str) -> None:
    fields = {"user_id": 1, "movie_id": 2, "preference": 3}
    del fields[missing]
    with pytest.raises(ValidationError, match=missing):
        SwipeEvent(**fields)


def test_extra_fields_are_rejected() -> None:
    with pytest.raises(ValidationError, match="extra"):
        SwipeEvent(user_id=1, movie_id=2, preference=3, rating=4.5)
    with pytest.raises(ValidationError, match="extra"):
        SwipeEvent.from_bytes(b'{"user_id": 1, "movie_id": 2, "preference": 3, "rating": 4.5}')


def test_bad_ids_and_versions_are_rejected() -> None:
    for bad in ({"user_id": -1}, {"movie_id": 0}, {"schema_version": 2}, {"event_id": "nope"}):
        with pytest.raises(ValidationError):
            SwipeEvent(**{"user_id": 1, "movie_id": 2, "preference": 3, **bad})


def test_naive_datetimes_are_rejected_and_aware_ones_become_utc() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        SwipeEvent(user_id=1, movie_id=2, preference=3, occurred_at=datetime(2024, 5, 1, 12, 0))
    with pytest.raises(ValidationError, match="timezone"):
        SwipeEvent.from_bytes(b'{"user_id":1,"movie_id":2,"preference":3,"occurred_at":"2024-05-01T12:00:00"}')
    paris = SwipeEvent(user_id=1, movie_id=2, preference=3,
                       occurred_at=datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))))
    assert paris.occurred_at == T0 and paris.occurred_at.utcoffset() == timedelta(0)


def test_events_are_immutable() -> None:
    event = SwipeEvent(user_id=1, movie_id=2, preference=3)
    with pytest.raises(ValidationError, match="frozen"):
        event.preference = 4


def test_swipe_round_trips_through_bytes() -> None:
    event = SwipeEvent(user_id=42, movie_id=318, preference=2, occurred_at=T0)
    data = event.to_bytes()
    assert isinstance(data, bytes) and json.loads(data)["occurred_at"] == "2024-05-01T12:00:00Z"
    assert SwipeEvent.from_bytes(data) == event
    assert SwipeEvent.from_bytes(data.decode()) == event
    with pytest.raises(ValidationError):
        SwipeEvent.from_bytes(b"not json")


# --- RecommendationList, DeadLetter ----------------------------------------------------------------

def test_recommendation_list_round_trip_and_ranks() -> None:
    cause = uuid.uuid4()
    recs = RecommendationList.from_ranked(7, [318, 296, 2571], [2.5, 2.0, 1.5], model_version="als-20240501",
                                          strategy="additive", variant="B", cause_event_id=cause, generated_at=T0)
    assert [i.rank for i in recs.items] == [1, 2, 3] and recs.items[0] == RecommendedItem(movie_id=318, score=2.5,
                                                                                              rank=1)
    assert RecommendationList.from_bytes(recs.to_bytes()) == recs
    empty = RecommendationList(user_id=7, items=[], model_version="m", strategy="cold_start")
    assert empty.variant is None and empty.cause_event_id is None


def test_recommendation_list_rejects_bad_ranks_strategies_and_scores() -> None:
    items = [RecommendedItem(movie_id=1, score=1.0, rank=2), RecommendedItem(movie_id=2, score=0.5, rank=1)]
    with pytest.raises(ValidationError, match="ranks"):
        RecommendationList(user_id=1, items=items, model_version="m", strategy="static")
    with pytest.raises(ValidationError, match="strategy"):
        RecommendationList(user_id=1, items=[], model_version="m", strategy="magic")
    with pytest.raises(ValidationError, match="score"):
        RecommendedItem(movie_id=1, score=float("nan"), rank=1)
    with pytest.raises(ValueError, match="scores"):
        RecommendationList.from_ranked(1, [1, 2], [0.5], model_version="m", strategy="static")


def test_dead_letter_keeps_the_raw_bytes() -> None:
    raw = b"\xff\xfe not utf-8"
    dead = DeadLetter.for_message(raw, ValueError("bad swipe"), topics.SWIPES, 3, 17)
    assert dead.raw == raw and dead.error == "ValueError: bad swipe" and dead.failed_at.tzinfo is not None
    assert DeadLetter.from_bytes(dead.to_bytes()) == dead
    assert DeadLetter.for_message(None, "empty", topics.SWIPES, 0, 0).raw == b""


def test_topic_names_carry_a_version() -> None:
    assert (topics.SWIPES, topics.RECOMMENDATIONS, topics.SWIPES_DLQ, topics.MODELS) == (
        "swipes.v1", "recommendations.v1", "swipes.dlq.v1", "models.v1")
    assert all(name.rsplit(".", 1)[1].startswith("v") for name in topics.ALL)
