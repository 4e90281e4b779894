"""One batch of swipe messages → new user states, recommendation lists and dead letters.

Kafka-free: the Faust agent (``stream_app.app``) feeds raw messages in and writes what comes
out; the replay (``--via local``) and the unit tests call it directly.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import ValidationError

from offline.recommender import Ranked, Recommender, UnknownMovieError
from schemas.events import DeadLetter, RankedList, SwipeEvent, utc_now
from stream_app.settings import StreamSettings
from stream_app.user_state import UserState

log = logging.getLogger(__name__)

DEFAULT_MAX_CLOCK_SKEW: float = StreamSettings.model_fields["max_clock_skew"].default
"""``StreamSettings.max_clock_skew``'s default (callers without settings, e.g. the replay)."""


@dataclass(frozen=True)
class Incoming:
    """A raw message as consumed (value may be anything)."""

    value: bytes | None
    topic: str
    partition: int
    offset: int
    key: bytes | None = None


@dataclass
class BatchResult:
    """What a batch produced. ``last_message`` maps a user to the index (in the batch) of
    their newest message, so the caller can write the state under that message's partition."""

    states: dict[int, UserState] = field(default_factory=dict)
    lists: list[RankedList] = field(default_factory=list)
    """One list per touched user (``to_bytes`` to publish, ``model`` for the contract object)."""
    dead_letters: list[tuple[int, DeadLetter]] = field(default_factory=list)
    last_message: dict[int, int] = field(default_factory=dict)
    applied: int = 0
    duplicates: int = 0
    unranked: list[int] = field(default_factory=list)
    """Users whose list could not be computed (logged with the error): their states are kept,
    no list is published for them this time."""


def check_not_ahead(event: SwipeEvent, max_skew: float, now: datetime | None = None) -> None:
    """Raise ValueError when ``event.occurred_at`` is more than ``max_skew`` seconds after
    ``now`` (default: this clock): a future time would freeze the user's time decay."""
    now = now or utc_now()
    ahead = (event.occurred_at - now).total_seconds()
    if ahead > max_skew:
        raise ValueError(f"occurred_at {event.occurred_at.isoformat()} is {ahead:.0f} s ahead of this clock "
                         f"({now.isoformat(timespec='seconds')}); at most {max_skew:g} s allowed")


def parse_swipe(msg: Incoming, max_clock_skew: float = DEFAULT_MAX_CLOCK_SKEW,
                now: datetime | None = None) -> SwipeEvent:
    """Validate one message (contract, key, clock skew); raises ValueError with a readable reason."""
    if msg.value is None:
        raise ValueError("empty message value (tombstone)")
    try:
        event = SwipeEvent.from_bytes(msg.value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "message"
        raise ValueError(f"invalid SwipeEvent: {where}: {first.get('msg')} ({exc.error_count()} error(s))") from None
    if msg.key is not None and msg.key != str(event.user_id).encode():
        raise ValueError(f"message key {msg.key!r} does not match user_id {event.user_id}")
    check_not_ahead(event, max_clock_skew, now)
    return event


ModelFor = Callable[[int], tuple[Recommender, str | None]]
"""user_id -> (the Recommender serving that user, their A/B variant or None)."""


def process_batch(
    models: Recommender | ModelFor,
    messages: Sequence[Incoming],
    load_state: Callable[[int], UserState | None],
    top_n: int,
    max_clock_skew: float = DEFAULT_MAX_CLOCK_SKEW,
) -> BatchResult:
    """Apply every valid swipe in order, then rank the touched users of each model in one product.

    A redelivered event (its id already in the user's state) changes nothing but still
    refreshes the user's list; an invalid one becomes a dead letter and the rest go on.
    ``models`` is one Recommender or, under an A/B test, a function giving each user's.
    A swipe dated more than ``max_clock_skew`` seconds ahead of the clock is dead-lettered.
    """
    model_for: ModelFor = (lambda uid: (models, None)) if isinstance(models, Recommender) else models
    out = BatchResult()
    causes: dict[int, SwipeEvent] = {}
    now = utc_now()
    for i, msg in enumerate(messages):
        try:
            event = parse_swipe(msg, max_clock_skew, now)
            uid = event.user_id
            recommender, _ = model_for(uid)
            state = out.states.get(uid) or load_state(uid) or recommender.new_state(uid)
            event_id = event.event_id.hex
            if state.has_seen_event(event_id):
                out.duplicates += 1
            else:
                state = recommender.apply(state, event.movie_id, event.signed_preference,
                                          event.occurred_at.timestamp(), event_id)
                out.applied += 1
        except (ValueError, UnknownMovieError) as exc:
            reason = exc.args[0] if isinstance(exc, UnknownMovieError) and exc.args else exc
            out.dead_letters.append((i, DeadLetter.for_message(msg.value, f"{type(exc).__name__}: {reason}",
                                                               msg.topic, msg.partition, msg.offset)))
            continue
        except Exception as exc:  # noqa: BLE001 - never stop the stream on one bad event
            log.exception("unexpected error on %s[%d]@%d", msg.topic, msg.partition, msg.offset)
            out.dead_letters.append((i, DeadLetter.for_message(msg.value, exc, msg.topic, msg.partition, msg.offset)))
            continue
        out.states[uid] = state
        out.last_message[uid] = i
        causes[uid] = event
    groups: dict[int, tuple[Recommender, str | None, list[int]]] = {}
    for uid in out.states:
        recommender, variant = model_for(uid)
        groups.setdefault(id(recommender), (recommender, variant, []))[2].append(uid)
    for recommender, variant, users in groups.values():
        ranked = _rank(recommender, [out.states[u] for u in users], top_n)
        generated_at = utc_now()  # one clock read for the group's lists
        for uid, r in zip(users, ranked):
            if r is None:
                out.unranked.append(uid)
                continue
            out.lists.append(RankedList(  # bytes without a pydantic object per item
                uid, r.movie_ids.tolist(), r.scores.tolist(), model_version=recommender.model_version,
                strategy=list_strategy(recommender, out.states[uid], r.source), variant=variant,
                cause_event_id=causes[uid].event_id, generated_at=generated_at,
            ))
    return out


def _rank(recommender: Recommender, states: list[UserState], top_n: int) -> list[Ranked | None]:
    """The lists of a batch's users in one call; should that fail, user by user, so that a
    user whose list cannot be computed (logged) costs only that user's list, never the stream."""
    try:
        return recommender.recommend_states(states, top_n)
    except Exception:  # noqa: BLE001 - isolate the user below
        log.exception("ranking %d users at once failed; ranking them one by one", len(states))
    out: list[Ranked | None] = []
    for state in states:
        try:
            out.append(recommender.recommend_states([state], top_n)[0])
        except Exception:  # noqa: BLE001 - never stop the stream on one user's state
            log.exception("no list for user %d this time: ranking failed", state.user_id)
            out.append(None)
    return out


def list_strategy(recommender: Recommender, state: UserState, source: str) -> str:
    """How the list's user vector came about: cold start, the static offline vector, or an update rule."""
    if source == "cold_start":
        return "cold_start"
    if recommender.strategy == "static" or (state.vector is None and not len(state.movies)):
        return "static"
    return recommender.strategy
