"""The Faust agent through ``test_context()`` with the in-memory store (no broker)."""
from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from unittest.mock import MagicMock, patch

import pytest

os.environ.setdefault("MOVIEREC_STORE", "memory://")

from offline.artifacts import load_version  # noqa: E402
from offline.recommender import Recommender  # noqa: E402
from schemas.events import DeadLetter, RecommendationList, SwipeEvent  # noqa: E402


@pytest.fixture
def faust_app(small_artifacts: Path):
    from stream_app import app as worker

    if worker.settings.store != "memory://":
        pytest.skip("stream_app.app was imported with a RocksDB store before this module")
    worker.model.set(Recommender.from_artifact(load_version(small_artifacts), strategy="foldin"))
    worker.model_ready.set()  # test_context() runs no app tasks (start_models loads it in a worker)
    worker.app.finalize()
    worker.app.conf.store = "memory://"
    worker.app.flow_control.resume()
    yield worker
    worker.model.set(None)


@pytest.mark.asyncio
async def test_agent_publishes_lists_and_dead_letters(faust_app) -> None:
    good = SwipeEvent(user_id=3, movie_id=260, preference=4, occurred_at=datetime.now(timezone.utc))
    with patch.object(faust_app.recommendations_topic, "send_soon", new=MagicMock()) as recs, \
            patch.object(faust_app.dlq_topic, "send_soon", new=MagicMock()) as dlq:
        async with faust_app.process_swipes.test_context() as agent:
            await agent.put(good.to_bytes(), key=b"3")
            await agent.put(b"garbage", key=b"3")
    lists = [RecommendationList.from_bytes(c.kwargs["value"]) for c in recs.call_args_list]
    letters = [DeadLetter.from_bytes(c.kwargs["value"]) for c in dlq.call_args_list]
    assert [rl.cause_event_id for rl in lists] == [good.event_id]
    assert 260 not in {it.movie_id for it in lists[0].items}
    assert len(letters) == 1 and letters[0].raw == b"garbage" and "invalid SwipeEvent" in letters[0].error
