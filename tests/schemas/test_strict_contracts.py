"""Strict contracts: ids and preference are JSON integers (no strings, booleans or floats, 7.0
included), ids fit a signed 64-bit integer, and no swipe is dated before 1995."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from pydantic import ValidationError

from schemas.events import MAX_ID, DeadLetter, ModelAnnouncement, RecommendationList, SwipeEvent

GOOD = {"user_id": 7, "movie_id": 260, "preference": 4, "occurred_at": "2024-01-01T00:00:00Z"}


def parse(**changes: object) -> SwipeEvent:
    return SwipeEvent.from_bytes(json.dumps({**GOOD, **changes}))


def test_a_plain_swipe_is_accepted() -> None:
    assert parse().user_id == 7 and parse(user_id=0, movie_id=1, preference=1).preference == 1


@pytest.mark.parametrize("field", ["user_id", "movie_id", "preference"])
@pytest.mark.parametrize("value", ["7", "4", True, False, 4.0, 7.0, 4.5, None, [4], {"v": 4}])
def test_ids_and_preference_must_be_json_integers(field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=field):
        parse(**{field: value})


@pytest.mark.parametrize("raw", [b'"user_id": 7e0', b'"user_id": 7.0', b'"user_id": 0x7', b'"user_id": 07'])
def test_float_and_non_decimal_spellings_of_an_integer_are_rejected(raw: bytes) -> None:
    with pytest.raises(ValidationError):
        SwipeEvent.from_bytes(json.dumps(GOOD).encode().replace(b'"user_id": 7', raw))


def test_python_construction_rejects_bools_and_strings_too() -> None:
    with pytest.raises(ValidationError, match="preference"):
        SwipeEvent(user_id=1, movie_id=2, preference=True)
    with pytest.raises(ValidationError, match="user_id"):
        SwipeEvent(user_id="1", movie_id=2, preference=3)  # type: ignore[arg-type]


@pytest.mark.parametrize("version", [True, 1.0, "1"])
def test_schema_version_must_be_the_integer_1(version: object) -> None:
    with pytest.raises(ValidationError, match="schema_version"):
        parse(schema_version=version)
    assert parse(schema_version=1).schema_version == 1


@pytest.mark.parametrize("field", ["user_id", "movie_id"])
def test_ids_are_capped_at_signed_64_bit(field: str) -> None:
    assert getattr(parse(**{field: MAX_ID}), field) == 2**63 - 1
    for too_big in (2**63, 99999999999999999999999):
        with pytest.raises(ValidationError, match=field):
            parse(**{field: too_big})


def test_list_ids_are_strict_and_capped_as_well() -> None:
    good = RecommendationList.from_ranked(MAX_ID, [MAX_ID], [1.0], model_version="m", strategy="static")
    data = json.loads(good.to_bytes())
    assert RecommendationList.from_bytes(json.dumps(data)) == good
    for bad in ({"user_id": str(MAX_ID)}, {"user_id": 2**63}, {"items": [{"movie_id": 1.0, "score": 1.0, "rank": 1}]},
                {"schema_version": True}):
        with pytest.raises(ValidationError):
            RecommendationList.from_bytes(json.dumps({**data, **bad}))
    for model, fields in ((DeadLetter, {"raw_b64": "", "error": "x", "source_topic": "t", "source_partition": 0,
                                        "source_offset": 0}),
                          (ModelAnnouncement, {"version": "v", "alias": "champion"})):
        with pytest.raises(ValidationError, match="schema_version"):
            model.from_bytes(json.dumps({**fields, "schema_version": True}))


def test_swipes_before_1995_are_rejected_and_movielens_dates_accepted() -> None:
    with pytest.raises(ValidationError, match="1995"):
        parse(occurred_at="1994-12-31T23:59:59Z")
    with pytest.raises(ValidationError, match="1995"):
        SwipeEvent(user_id=1, movie_id=2, preference=3, occurred_at=datetime(1970, 1, 1, tzinfo=timezone.utc))
    assert parse(occurred_at="1995-01-01T00:00:00Z").occurred_at.year == 1995
    first_movielens = datetime.fromtimestamp(828124615, tz=timezone.utc)  # ml-latest-small's oldest rating
    assert SwipeEvent(user_id=1, movie_id=2, preference=3, occurred_at=first_movielens).occurred_at.year == 1996


def test_the_json_schema_states_the_64_bit_cap() -> None:
    props = SwipeEvent.model_json_schema()["properties"]
    assert props["user_id"]["maximum"] == props["movie_id"]["maximum"] == MAX_ID
    assert props["user_id"]["type"] == props["preference"]["type"] == "integer"


@pytest.mark.parametrize("at", [1700000000, 1700000000.5, "1700000000", True, "2024-01-01T00:00:00"])
def test_occurred_at_is_an_iso_string_with_a_timezone(at: object) -> None:
    with pytest.raises(ValidationError, match="occurred_at"):
        parse(occurred_at=at)
    assert parse(occurred_at="2024-01-01T02:00:00+02:00").occurred_at == datetime(2024, 1, 1, tzinfo=timezone.utc)
