"""``delivered``: a batch counts as done only once the broker acknowledged all its output."""
from __future__ import annotations

import asyncio

import pytest

from stream_app.delivery import DeliveryError, delivered


def acked(loop: asyncio.AbstractEventLoop, value: object = None) -> asyncio.Future[object]:
    fut = loop.create_future()
    fut.set_result(value)
    return fut


@pytest.mark.asyncio
async def test_waits_for_every_acknowledgement() -> None:
    loop = asyncio.get_running_loop()
    late = loop.create_future()
    waiting = asyncio.ensure_future(delivered([acked(loop), late, acked(loop)], timeout_s=5))
    await asyncio.sleep(0.05)
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
