"""A batch is acknowledged only once everything it produced is on the broker.

Faust commits the offsets of acknowledged events on a timer, after ``producer.flush()``.
That flush drains faust's send buffer waiting at most 0.1 s for each message and returns
early when one send is slower (``ProducerBuffer.flush_atmost`` in faust-streaming 0.15):
under load, or when the producer is throttled, offsets are committed while the batch's
changelog writes still sit in the buffer, and a crash then loses that state for good
(the events are never redelivered). So the agent awaits the broker's acknowledgement
(``acks=all``) of its own changelog writes, lists and dead letters before ``take_events``
may ack the batch: a committed offset always implies durable state and published lists.
"""
from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import faust
from faust.types import FutureMessage


class DeliveryError(RuntimeError):
    """A batch's output was not acknowledged by the broker in time (the batch is not acked)."""


class ConfirmedTable(faust.Table):
    """A ``faust.Table`` that keeps the futures of its changelog sends until taken.

    Faust sends each ``table[key] = value`` to the changelog with ``send_soon`` and drops
    the future; this table hands them to the agent (``take_in_flight``) to await.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_flight: list[FutureMessage] = []

    def send_changelog(self, *args: Any, **kwargs: Any) -> FutureMessage:
        fut = super().send_changelog(*args, **kwargs)
        self._in_flight.append(fut)
        return fut

    def take_in_flight(self) -> list[FutureMessage]:
        """The changelog sends made since the last call (and forget them)."""
        out, self._in_flight = self._in_flight, []
        return out


async def delivered(futures: Iterable[asyncio.Future[Any]], timeout_s: float) -> int:
    """Wait until the broker has acknowledged every message; return how many.

    Raises:
        DeliveryError: a send failed, or was not acknowledged within ``timeout_s``.
    """
    sent = list(futures)
    if not sent:
        return 0
    # asyncio.wait, unlike wait_for(gather), leaves the sends alone when it gives up
    done, pending = await asyncio.wait(sent, timeout=timeout_s, return_when=asyncio.FIRST_EXCEPTION)
    for fut in done:
        if fut.cancelled() or fut.exception() is not None:
            reason = "cancelled" if fut.cancelled() else repr(fut.exception())
            raise DeliveryError(f"a send failed: {reason}")
    if pending:
        raise DeliveryError(f"{len(pending)} of {len(sent)} messages not acknowledged within {timeout_s} s")
    return len(sent)
