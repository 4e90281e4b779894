"""``delivered``: a batch counts as done only once the broker acknowledged all its output."""
from __future__ import annotations

import asyncio
from typing import NoReturn

import pytest

from stream_app.delivery import AckAfterDelivery, DeliveryError, delivered
from tests.ranking import settle, wait_until_async


def acked(loop: asyncio.AbstractEventLoop, value: object = None) -> asyncio.Future[object]:
    fut = loop.create_future()
    fut.set_result(value)
    return fut


@pytest.mark.asyncio
async def test_waits_for_every_acknowledgement() -> None:
    loop = asyncio.get_running_loop()
    late = loop.create_future()
    waiting = asyncio.ensure_future(delivered([acked(loop), late, acked(loop)], timeout_s=5))
    await settle()
    assert not waiting.done()  # one send still unacknowledged: the batch is not done
    late.set_result(None)
    assert await waiting == 3


@pytest.mark.asyncio
async def test_nothing_to_wait_for() -> None:
    assert await delivered([], timeout_s=0.01) == 0


@pytest.mark.asyncio
async def test_a_failed_send_is_an_error() -> None:
    loop = asyncio.get_running_loop()
    failed = loop.create_future()
    failed.set_exception(OSError("broker unreachable"))
    with pytest.raises(DeliveryError, match="broker unreachable"):
        await delivered([acked(loop), failed], timeout_s=5)


@pytest.mark.asyncio
async def test_an_unacknowledged_send_times_out() -> None:
    loop = asyncio.get_running_loop()
    with pytest.raises(DeliveryError, match="1 of 2 messages not acknowledged within 0.05 s"):
        await delivered([acked(loop), loop.create_future()], timeout_s=0.05)


def _fail(exc: DeliveryError) -> NoReturn:
    raise SystemExit(f"fail-stop: {exc}")


@pytest.mark.asyncio
async def test_batches_are_acked_in_order_once_delivered_while_the_next_goes_on() -> None:
    loop = asyncio.get_running_loop()
    acked: list[str] = []

    async def ack(event: str) -> None:
        acked.append(event)

    delivered_batches: list[float] = []  # observe_seconds runs once a batch's sends are all acknowledged
    acks = AckAfterDelivery(ack, timeout_s=5, max_in_flight=4, on_failure=_fail,
                            observe_seconds=delivered_batches.append)
    first, second = loop.create_future(), loop.create_future()
    await acks.submit(["a1", "a2"], [first], 0.0)
    await acks.submit(["b1"], [second], 0.0)  # does not wait for the first batch
    assert acks.in_flight == 2 and acked == []
    second.set_result(None)
    await wait_until_async(lambda: len(delivered_batches) == 1, message="second batch seen as delivered")
    await settle()
    assert acked == []  # delivered first, but acked only after the batch before it
    first.set_result(None)
    await wait_until_async(lambda: acks.in_flight == 0, message="both batches acked")
    assert acked == ["a1", "a2", "b1"]


@pytest.mark.asyncio
async def test_at_most_max_in_flight_batches_wait() -> None:
    loop = asyncio.get_running_loop()

    async def ack(event: str) -> None:
        pass

    acks = AckAfterDelivery(ack, timeout_s=5, max_in_flight=1, on_failure=_fail)
    first = loop.create_future()
    await acks.submit(["a"], [first], 0.0)
    blocked = asyncio.ensure_future(acks.submit(["b"], [acked(loop)], 0.0))
    await settle()
    assert not blocked.done()
    first.set_result(None)
    await asyncio.wait_for(blocked, 1)


@pytest.mark.asyncio
async def test_an_undelivered_batch_is_never_acked() -> None:
    loop = asyncio.get_running_loop()
    acked_events: list[str] = []
    failures: list[DeliveryError] = []

    async def ack(event: str) -> None:
        acked_events.append(event)

    def fail(exc: DeliveryError) -> NoReturn:
        failures.append(exc)
        raise asyncio.CancelledError  # stands in for the process exiting

    acks = AckAfterDelivery(ack, timeout_s=0.02, max_in_flight=2, on_failure=fail)
    await acks.submit(["a"], [loop.create_future()], 0.0)
    await wait_until_async(lambda: failures, message="the delivery timeout reported")
    await wait_until_async(lambda: acks.in_flight == 0, message="the failed batch given up")
    assert acked_events == [] and len(failures) == 1 and "not acknowledged" in str(failures[0])
