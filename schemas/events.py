"""Event contracts on the Kafka topics (pydantic v2), serialised as UTF-8 JSON.

Rules shared by every event:

* unknown fields are rejected (``extra="forbid"``) and instances are immutable (``frozen``);
* timestamps are ISO 8601 strings and must carry a timezone: a naive datetime is **rejected**
  (it is ambiguous: the producer's local time or UTC?), so is a unix time (seconds or
  milliseconds?); an aware one is normalised to UTC;
* ``schema_version`` is a literal; an incompatible change means a new model and a new topic
  (``swipes.v2``), never a silent reinterpretation of ``swipes.v1``;
* ids, the preference and ``schema_version`` are strict JSON integers: no coercion from strings
  (``"7"``), booleans (``true``) or floats (``7.0`` and ``7e0`` are rejected too, even when
  integral: a producer sending floats has a bug worth seeing); ids fit a signed 64-bit integer.

Their JSON Schemas are exported to ``schemas/json/`` (``movierec schemas export``) and a test
fails when the two drift apart.
"""
from __future__ import annotations

import base64
import math
import re
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Annotated, Literal, Self
from uuid import UUID, uuid4

from pydantic import (AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, Strict,
                      model_validator)
from pydantic_core import to_json

from online.preference import PREFERENCE_OF_BUCKET

MAX_ID = 2**63 - 1
"""Largest user or movie id: ids fit a signed 64-bit integer (Java/Kafka clients, numpy int64)."""
EARLIEST_SWIPE = datetime(1995, 1, 1, tzinfo=timezone.utc)
"""No swipe is older than this (MovieLens ratings start in 1995)."""

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]")


def _iso_datetime(value: object) -> object:
    """Reject unix times (``1700000000`` or ``"1700000000"``: seconds or milliseconds?) before
    pydantic would coerce them; timestamps are ISO 8601 strings (datetimes in Python)."""
    if isinstance(value, (int, float)) or (isinstance(value, str) and not _ISO_DATE.match(value)):
        raise ValueError(f"must be an ISO 8601 date-time string, e.g. 2024-05-01T12:00:00Z, got {value!r:.40}")
    return value


UtcDatetime = Annotated[AwareDatetime, BeforeValidator(_iso_datetime),
                        AfterValidator(lambda d: d.astimezone(timezone.utc))]
UserId = Annotated[int, Strict(), Field(ge=0, le=MAX_ID)]
MovieId = Annotated[int, Strict(), Field(ge=1, le=MAX_ID)]


def _exact_int(value: object) -> object:
    """Reject bools and floats before a ``Literal`` int (which compares with ``==``: true == 1.0 == 1)."""
    if isinstance(value, (bool, float)):
        raise ValueError(f"must be a JSON integer, got {value!r}")
    return value


def _not_before_earliest(value: datetime) -> datetime:
    if value < EARLIEST_SWIPE:
        raise ValueError(f"must not be before {EARLIEST_SWIPE.isoformat()}, got {value.isoformat()}")
    return value


SchemaVersion1 = Annotated[Literal[1], BeforeValidator(_exact_int)]
SwipeTime = Annotated[UtcDatetime, AfterValidator(_not_before_earliest)]
Strategy = Literal["additive", "foldin", "static", "recency", "neighbours", "recency_neighbours", "cold_start"]
"""How a list came about: a strategy of ``online.rules.STRATEGIES``, or the cold start (a test
checks that every registered strategy is here)."""


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Event(BaseModel):
    """Base of every contract: strict shape, immutable, JSON bytes in and out."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    def to_bytes(self) -> bytes:
        """Compact UTF-8 JSON (the Kafka message value)."""
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | str) -> Self:
        """Parse and validate JSON; raises ``pydantic.ValidationError`` on bad input."""
        return cls.model_validate_json(data)


class SwipeEvent(Event):
    """A user swiped on a movie in the app. Topic ``swipes.v1``, key ``str(user_id)``."""

    event_id: UUID = Field(default_factory=uuid4)
    """Unique per swipe; consumers use it to drop duplicates."""
    user_id: UserId
    """MovieLens user id, or a new app user's id (0 to 2**63-1, a JSON integer)."""
    movie_id: MovieId
    """MovieLens movie id (1 to 2**63-1, a JSON integer)."""
    preference: Annotated[int, Strict(), Field(ge=1, le=4)]
    """The app's swipe scale: 1 hate, 2 dislike, 3 like, 4 love (the offline rating buckets)."""
    occurred_at: SwipeTime = Field(default_factory=utc_now)
    """When the user swiped (timezone-aware; stored in UTC; not before 1995-01-01). Consumers
    also reject times ahead of their clock by more than their ``max_clock_skew``."""
    schema_version: SchemaVersion1 = 1

    @property
    def signed_preference(self) -> int:
        """The preference the model trains on: -2, -1, +1, +2 for swipes 1-4."""
        return PREFERENCE_OF_BUCKET[self.preference]


class RecommendedItem(Event):
    """One entry of a recommendation list."""

    movie_id: MovieId
    """MovieLens movie id."""
    score: float = Field(allow_inf_nan=False)
    """Model score (higher is better); comparable only within one list."""
    rank: int = Field(ge=1)
    """1 for the best item."""


class RecommendationList(Event):
    """A user's current top-N. Topic ``recommendations.v1``, key ``str(user_id)``.

    ``items`` are ordered best first with ranks 1, 2, ..., n.
    """

    user_id: UserId
    """The user the list is for."""
    items: list[RecommendedItem]
    """Best first; ``items[i].rank == i + 1``."""
    model_version: str = Field(min_length=1)
    """The offline model the scores come from (its manifest version)."""
    strategy: Strategy
    """How the user's factors were obtained: an online update rule, the offline model or cold start."""
    variant: str | None = None
    """A/B variant name, if the user is in an experiment."""
    cause_event_id: UUID | None = None
    """The swipe that triggered this list; None for lists not caused by a swipe."""
    generated_at: UtcDatetime = Field(default_factory=utc_now)
    """When the list was computed (timezone-aware; stored in UTC)."""
    schema_version: SchemaVersion1 = 1

    @model_validator(mode="after")
    def _ranks_in_order(self) -> Self:
        ranks = [item.rank for item in self.items]
        if ranks != list(range(1, len(ranks) + 1)):
            raise ValueError(f"item ranks must be 1..{len(ranks)} in order, got {ranks[:10]}")
        return self

    @classmethod
    def from_ranked(cls, user_id: int, movie_ids: Sequence[int], scores: Sequence[float], **fields) -> Self:
        """Build a list from movie ids and scores already sorted best first (ranks 1..n)."""
        if len(movie_ids) != len(scores):
            raise ValueError(f"{len(movie_ids)} movie ids but {len(scores)} scores")
        items = [RecommendedItem(movie_id=int(m), score=float(s), rank=r)
                 for r, (m, s) in enumerate(zip(movie_ids, scores), start=1)]
        return cls(user_id=user_id, items=items, **fields)


_STRATEGIES = frozenset(Strategy.__args__)  # type: ignore[attr-defined]
_SCORE = b',"score":'
_RANK_TAILS: dict[int, list[bytes]] = {}
"""n -> the n byte strings that follow each item's score (its rank, the next item's opening)."""
_LIST_FRAMES: dict[tuple[object, ...], tuple[bytes, bytes] | None] = {}
"""(model_version, strategy, variant, generated_at) -> the bytes around a list's cause_event_id,
or None where the contract refuses those values (a batch's lists share all four)."""
_MAX_FRAMES = 64
_UNKNOWN = object()


def _rank_tails(n: int) -> list[bytes]:
    tails = _RANK_TAILS.get(n)
    if tails is None:
        tails = [b',"rank":%d},{"movie_id":' % r for r in range(1, n)] + [b',"rank":%d}' % n]
        _RANK_TAILS[n] = tails
    return tails


def _list_frame(model_version: object, strategy: object, variant: object,
                generated_at: datetime) -> tuple[bytes, bytes] | None:
    """The JSON after a list's items up to its cause_event_id, and after that to the end, each
    value serialised by ``to_json`` as in ``RankedList._fields``; None if the contract refuses one."""
    key = (model_version, strategy, variant, generated_at)
    try:
        known = _LIST_FRAMES.get(key, _UNKNOWN)  # one look-up: another thread may clear the dict
    except TypeError:  # an unhashable value: the model's path says what is wrong with it
        return None
    if known is not _UNKNOWN:
        return known  # type: ignore[return-value]
    frame = None
    if (type(model_version) is str and len(model_version) > 0 and strategy in _STRATEGIES
            and (variant is None or type(variant) is str) and isinstance(generated_at, datetime)
            and generated_at.utcoffset() == timedelta(0)):
        frame = (b'],"model_version":' + to_json(model_version) + b',"strategy":' + to_json(strategy)
                 + b',"variant":' + to_json(variant) + b',"cause_event_id":',
                 b',"generated_at":' + to_json(generated_at) + b',"schema_version":1}')
    if len(_LIST_FRAMES) >= _MAX_FRAMES:
        _LIST_FRAMES.clear()
    _LIST_FRAMES[key] = frame
    return frame


class RankedList:
    """A :class:`RecommendationList` not yet built as pydantic objects: what the worker
    publishes. ``to_bytes`` gives the bytes ``RecommendationList.to_bytes`` would (same
    serialiser for every value, same field order) without one object per item, after checking
    everything the contract checks; anything it cannot vouch for goes through the model, which
    raises the contract's ``ValidationError``. ``model`` (and ``items``) build the validated list."""

    __slots__ = ("user_id", "movie_ids", "scores", "model_version", "strategy", "variant", "cause_event_id",
                 "generated_at", "_model")

    def __init__(self, user_id: int, movie_ids: Sequence[int], scores: Sequence[float], *, model_version: str,
                 strategy: str, variant: str | None = None, cause_event_id: UUID | None = None,
                 generated_at: datetime | None = None) -> None:
        if len(movie_ids) != len(scores):
            raise ValueError(f"{len(movie_ids)} movie ids but {len(scores)} scores")
        self.user_id, self.movie_ids, self.scores = user_id, list(movie_ids), list(scores)
        self.model_version, self.strategy, self.variant = model_version, strategy, variant
        self.cause_event_id = cause_event_id
        self.generated_at = generated_at or utc_now()  # a batch's lists may share one
        self._model: RecommendationList | None = None

    def _fields(self) -> dict[str, object]:
        return {"user_id": self.user_id,
                "items": [{"movie_id": m, "score": s, "rank": r}
                          for r, (m, s) in enumerate(zip(self.movie_ids, self.scores), start=1)],
                "model_version": self.model_version, "strategy": self.strategy, "variant": self.variant,
                "cause_event_id": self.cause_event_id, "generated_at": self.generated_at, "schema_version": 1}

    def _plainly_valid_items(self) -> bool:
        """What ``RecommendationList`` validates of the user, the items and the cause, for the
        plain types the worker passes (``_list_frame`` checks the rest once per batch)."""
        ids, scores = self.movie_ids, self.scores
        # by map, no Python-level loop per item; a sum of finite floats that overflows only
        # sends the list down the model's path, which accepts it
        return (type(self.user_id) is int and 0 <= self.user_id <= MAX_ID
                and (not ids or (set(map(type, ids)) == {int} and 1 <= min(ids) and max(ids) <= MAX_ID
                                 and set(map(type, scores)) == {float} and math.isfinite(sum(scores))))
                and (self.cause_event_id is None or type(self.cause_event_id) is UUID))

    @property
    def model(self) -> RecommendationList:
        """The validated contract object (raises ``ValidationError`` like ``from_ranked``)."""
        if self._model is None:
            self._model = RecommendationList.model_validate(self._fields())
        return self._model

    @property
    def items(self) -> list[RecommendedItem]:
        return self.model.items

    def to_bytes(self) -> bytes:
        """Compact UTF-8 JSON, byte for byte ``self.model.to_bytes()``: the ids and the scores
        each serialised as one JSON array by ``to_json`` and interleaved with the fixed keys."""
        frame = None if self._model is not None else _list_frame(self.model_version, self.strategy, self.variant,
                                                                 self.generated_at)
        if frame is None or not self._plainly_valid_items():
            return self.model.to_bytes()
        n = len(self.movie_ids)
        items = b""
        if n:
            tokens = [_SCORE] * (4 * n)  # per item: id, ',"score":', score, rank and the next opening
            tokens[0::4] = to_json(self.movie_ids)[1:-1].split(b",")
            tokens[2::4] = to_json(self.scores)[1:-1].split(b",")
            tokens[3::4] = _rank_tails(n)
            items = b'{"movie_id":' + b"".join(tokens)
        return b"".join((b'{"user_id":%d,"items":[' % self.user_id, items, frame[0], to_json(self.cause_event_id),
                         frame[1]))


class DeadLetter(Event):
    """A message that could not be processed. Topic ``swipes.dlq.v1``, same key as the original."""

    raw_b64: str
    """The original message value, base64 (it may not be valid UTF-8 or JSON)."""
    error: str
    """Why it failed (exception type and message)."""
    source_topic: str
    source_partition: int = Field(ge=0)
    source_offset: int = Field(ge=0)
    failed_at: UtcDatetime = Field(default_factory=utc_now)
    """When processing failed (timezone-aware; stored in UTC)."""
    schema_version: SchemaVersion1 = 1

    @classmethod
    def for_message(cls, raw: bytes | None, error: str | BaseException, source_topic: str,
                    source_partition: int, source_offset: int) -> Self:
        """Wrap a failed message; an exception is recorded as ``"Type: message"``."""
        if isinstance(error, BaseException):
            error = f"{type(error).__name__}: {error}"
        return cls(raw_b64=base64.b64encode(raw or b"").decode("ascii"), error=error,
                   source_topic=source_topic, source_partition=source_partition, source_offset=source_offset)

    @property
    def raw(self) -> bytes:
        """The original message value."""
        return base64.b64decode(self.raw_b64)


class ModelAnnouncement(Event):
    """A model version was promoted or rolled back. Topic ``models.v1``, key the alias.

    Every worker reads every announcement (no consumer group) and swaps the model it serves.
    """

    version: str = Field(min_length=1)
    """The artifact version the alias now names."""
    alias: Literal["champion", "challenger"]
    """Which role the version takes."""
    action: Literal["promote", "rollback", "clear"] = "promote"
    """What happened; ``clear`` removes the challenger (``version`` is the one removed)."""
    by: str = ""
    """Who made the change."""
    announced_at: UtcDatetime = Field(default_factory=utc_now)
    schema_version: SchemaVersion1 = 1


CONTRACTS: tuple[type[Event], ...] = (SwipeEvent, RecommendedItem, RecommendationList, DeadLetter, ModelAnnouncement)
"""Every contract whose JSON Schema is exported to ``schemas/json/``."""
