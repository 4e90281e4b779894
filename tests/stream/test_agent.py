"""The Faust agent through ``test_context()`` with the in-memory store (no broker)."""
from __future__ import annotations

import asyncio
import os
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from unittest.mock import MagicMock, patch

import faust
import pytest

os.environ.setdefault("MOVIEREC_STORE", "memory://")
os.environ.setdefault("MOVIEREC_OUTPUT_CLIENT", "faust")  # sends through the topics' send_soon, patched below

from offline.artifacts import load_version  # noqa: E402
from offline.recommender import Recommender  # noqa: E402
from schemas.events import DeadLetter, RecommendationList, SwipeEvent  # noqa: E402


@pytest.fixture
def faust_app(small_artifacts: Path):
    from stream_app import app as worker

    if worker.settings.store != "memory://" or worker.settings.output_client != "faust":
        pytest.skip("stream_app.app was imported with a RocksDB store or librdkafka output before this module")
    worker.model.set(Recommender.from_artifact(load_version(small_artifacts), strategy="foldin"))
    worker.model_ready.set()  # test_context() runs no app tasks (start_models loads it in a worker)
    worker.app.finalize()
    worker.app.conf.store = "memory://"
    worker.app.flow_control.resume()
    yield worker
    worker.model.set(None)


def sent() -> MagicMock:
    """A stand-in for ``Topic.send_soon`` whose sends the broker has already acknowledged."""

    def send_soon(**_: object) -> asyncio.Future[None]:
        fut = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut

    return MagicMock(side_effect=send_soon)


@pytest.mark.asyncio
async def test_agent_publishes_lists_and_dead_letters(faust_app) -> None:
    good = SwipeEvent(user_id=3, movie_id=260, preference=4, occurred_at=datetime.now(timezone.utc))
    with patch.object(faust_app.recommendations_topic, "send_soon", new=sent()) as recs, \
            patch.object(faust_app.dlq_topic, "send_soon", new=sent()) as dlq:
        async with faust_app.process_swipes.test_context() as agent:
            await agent.put(good.to_bytes(), key=b"3")
            await agent.put(b"garbage", key=b"3")
    lists = [RecommendationList.from_bytes(c.kwargs["value"]) for c in recs.call_args_list]
    letters = [DeadLetter.from_bytes(c.kwargs["value"]) for c in dlq.call_args_list]
    assert [rl.cause_event_id for rl in lists] == [good.event_id]
    assert 260 not in {it.movie_id for it in lists[0].items}
    assert len(letters) == 1 and letters[0].raw == b"garbage" and "invalid SwipeEvent" in letters[0].error


async def _until(condition, timeout_s: float = 5.0) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


class _Sent(asyncio.Future):
    """An unacknowledged send (``FutureMessage`` stand-in: the table reads its partition)."""

    message = SimpleNamespace(partition=0)


@pytest.mark.asyncio
async def test_a_batch_is_acked_only_once_the_broker_acknowledged_its_output(faust_app) -> None:
    """Faust commits acked offsets: acking before the state change and the list are on the
    broker would let a crash lose them (stream_app/delivery.py)."""
    unacknowledged: list[asyncio.Future[None]] = []
    acked: list[object] = []
    real_ack = faust.Stream.ack

    def send(*_: object, **__: object) -> asyncio.Future[None]:
        unacknowledged.append(_Sent())
        return unacknowledged[-1]

    async def ack(stream: faust.Stream, event: object) -> bool:  # take_events acks a batch through this
        acked.append(event)
        return await real_ack(stream, event)

    good = SwipeEvent(user_id=5, movie_id=1, preference=3, occurred_at=datetime.now(timezone.utc))
    with patch.object(faust_app.recommendations_topic, "send_soon", new=MagicMock(side_effect=send)), \
            patch.object(faust.Table, "send_changelog", new=MagicMock(side_effect=send)), \
            patch.object(faust.Stream, "ack", new=ack):
        async with faust_app.process_swipes.test_context() as agent:
            event = await agent.put(good.to_bytes(), key=b"5", wait=False)
            assert await _until(lambda: len(unacknowledged) == 2), "no state change and list sent"
            await asyncio.sleep(0.1)
            assert acked == []
            unacknowledged[0].set_result(None)
            await asyncio.sleep(0.1)
            assert acked == []  # one of two acknowledged is not enough
            unacknowledged[1].set_result(None)
            assert await _until(lambda: bool(acked)), "the batch was never acked"
            assert acked == [event]


@pytest.mark.asyncio
async def test_an_agent_that_stops_on_an_error_makes_health_unhealthy(faust_app) -> None:
    """faust restarts a crashed agent in a loop while /health said ok: now it says unhealthy."""
    from stream_app.readiness import health_status

    good = SwipeEvent(user_id=3, movie_id=260, preference=4, occurred_at=datetime.now(timezone.utc))
    faust_app.health.agent_error = None
    with patch.object(faust_app, "process_batch", side_effect=RuntimeError("boom")):
        async with faust_app.process_swipes.test_context() as agent:
            await agent.put(good.to_bytes(), key=b"3")
            assert await _until(lambda: faust_app.health.agent_error is not None)
    assert faust_app.health.agent_error == "RuntimeError: boom"
    assert health_status(faust_app.health, broker_reachable=True, partitions_ready=True) == ("unhealthy", 503)
    faust_app.health.agent_error = None


@pytest.mark.asyncio
async def test_a_users_next_swipe_reads_the_state_the_worker_wrote_not_the_table(faust_app) -> None:
    """stream_app/state_cache.py: the table is read once per user and assignment."""
    faust_app.state_cache.clear()
    now = datetime.now(timezone.utc)
    swipes = [SwipeEvent(user_id=11, movie_id=m, preference=4, occurred_at=now) for m in (260, 1, 1196)]
    reads: list[bytes] = []
    real_get = faust_app.user_states.get

    def get(key: bytes, default: object = None) -> object:
        reads.append(key)
        return real_get(key, default)

    with patch.object(faust_app.recommendations_topic, "send_soon", new=sent()) as recs, \
            patch.object(faust_app.user_states, "get", side_effect=get):
        async with faust_app.process_swipes.test_context() as agent:
            for i, s in enumerate(swipes):  # one batch each: the next once the list of this one is out
                await agent.put(s.to_bytes(), key=b"11", wait=False)
                assert await _until(lambda: recs.call_count == i + 1), "no list"
    assert reads == [b"11"]
    assert faust_app.state_cache.get(b"11").n_events == 3
    lists = [RecommendationList.from_bytes(c.kwargs["value"]) for c in recs.call_args_list]
    assert [rl.cause_event_id for rl in lists] == [s.event_id for s in swipes]
    assert not {260, 1, 1196} & {it.movie_id for it in lists[-1].items}  # the cached swipes count as seen
    faust_app.state_cache.at_generation(object())  # a rebalance: the table is read again
    assert faust_app.state_cache.get(b"11") is None
