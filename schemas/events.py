"""Event contracts on the Kafka topics (pydantic v2), serialised as UTF-8 JSON.

Rules shared by every event:

* unknown fields are rejected (``extra="forbid"``) and instances are immutable (``frozen``);
* timestamps must carry a timezone: a naive datetime is **rejected** (it is ambiguous: the
  producer's local time or UTC?), an aware one is normalised to UTC;
* ``schema_version`` is a literal; an incompatible change means a new model and a new topic
  (``swipes.v2``), never a silent reinterpretation of ``swipes.v1``.

Their JSON Schemas are exported to ``schemas/json/`` (``movierec schemas export``) and a test
fails when the two drift apart.
"""
from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Annotated, Literal, Self
from uuid import UUID, uuid4

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from offline.preference import bucket_to_preference

UtcDatetime = Annotated[AwareDatetime, AfterValidator(lambda d: d.astimezone(timezone.utc))]
Strategy = Literal["additive", "foldin", "static", "cold_start"]


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
    user_id: int = Field(ge=0)
    """MovieLens user id, or a new app user's id (0 and up)."""
    movie_id: int = Field(ge=1)
    """MovieLens movie id."""
    preference: int = Field(ge=1, le=4)
    """The app's swipe scale: 1 hate, 2 dislike, 3 like, 4 love (the offline rating buckets)."""
    occurred_at: UtcDatetime = Field(default_factory=utc_now)
    """When the user swiped (timezone-aware; stored in UTC)."""
    schema_version: Literal[1] = 1

    @property
    def signed_preference(self) -> int:
        """The preference the model trains on: -2, -1, +1, +2 for swipes 1-4."""
        return int(bucket_to_preference(self.preference))


class RecommendedItem(Event):
    """One entry of a recommendation list."""

    movie_id: int = Field(ge=1)
    """MovieLens movie id."""
    score: float = Field(allow_inf_nan=False)
    """Model score (higher is better); comparable only within one list."""
    rank: int = Field(ge=1)
    """1 for the best item."""


class RecommendationList(Event):
    """A user's current top-N. Topic ``recommendations.v1``, key ``str(user_id)``.

    ``items`` are ordered best first with ranks 1, 2, ..., n.
    """

    user_id: int = Field(ge=0)
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
    schema_version: Literal[1] = 1

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
    schema_version: Literal[1] = 1

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
    schema_version: Literal[1] = 1


CONTRACTS: tuple[type[Event], ...] = (SwipeEvent, RecommendedItem, RecommendationList, DeadLetter, ModelAnnouncement)
"""Every contract whose JSON Schema is exported to ``schemas/json/``."""
