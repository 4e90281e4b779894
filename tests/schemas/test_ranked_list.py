"""RankedList (the worker's lists before they are pydantic objects) publishes the bytes
RecommendationList would, and refuses what the contract refuses."""
from __future__ import annotations

import uuid

import numpy as np
import pytest
from pydantic import ValidationError

from schemas.events import RankedList, RecommendationList


def test_same_bytes_and_model_as_the_contract() -> None:
    rng = np.random.default_rng(0)
    for k in range(2000):
        n = int(rng.integers(0, 25))
        ids = rng.integers(1, 2**62, n).tolist()
        scores = (rng.standard_normal(n) * 10.0 ** rng.integers(-30, 30)).astype(np.float32).tolist()
        kw = dict(model_version=f"v{k}", strategy=["foldin", "cold_start", "static"][k % 3],
                  variant=[None, "b"][k % 2], cause_event_id=[None, uuid.uuid4()][k % 2])
        fast = RankedList(int(rng.integers(0, 2**62)), ids, scores, **kw)
        slow = RecommendationList.from_ranked(fast.user_id, ids, scores, generated_at=fast.generated_at, **kw)
        assert fast.to_bytes() == slow.to_bytes()
        assert fast.model == slow and [i.movie_id for i in fast.items] == ids


@pytest.mark.parametrize("case", [
    {"scores": [float("nan")]}, {"scores": [float("inf")]}, {"scores": [1]}, {"ids": [0]}, {"ids": [True]},
    {"ids": [2**63]}, {"user_id": -1}, {"user_id": True}, {"strategy": "nope"}, {"model_version": ""},
])
def test_refuses_what_the_contract_refuses(case: dict) -> None:
    rl = RankedList(case.get("user_id", 1), case.get("ids", [1]), case.get("scores", [1.0]),
                    model_version=case.get("model_version", "v"), strategy=case.get("strategy", "foldin"))
    if case.get("scores") == [1]:  # an int score: the contract takes it as 1.0, so does the model path
        assert rl.to_bytes() == RecommendationList.from_ranked(1, [1], [1.0], model_version="v", strategy="foldin",
                                                               generated_at=rl.generated_at).to_bytes()
        return
    with pytest.raises(ValidationError):
        rl.to_bytes()


def test_a_generated_at_outside_utc_gives_the_contracts_utc_bytes() -> None:
    from datetime import datetime, timedelta, timezone

    paris = datetime(2026, 11, 30, 19, 0, tzinfo=timezone(timedelta(hours=1)))
    for generated_at in (paris, paris.astimezone(timezone.utc), paris):  # equal instants, one frame each way
        rl = RankedList(7, [1, 2], [0.5, 0.25], model_version="v", strategy="static", generated_at=generated_at)
        slow = RecommendationList.from_ranked(7, [1, 2], [0.5, 0.25], model_version="v", strategy="static",
                                              generated_at=generated_at)
        assert rl.to_bytes() == slow.to_bytes()
        assert b'"generated_at":"2026-11-30T18:00:00Z"' in rl.to_bytes()
    with pytest.raises(ValidationError):  # naive: the contract refuses it
        RankedList(7, [1], [0.5], model_version="v", strategy="static", generated_at=datetime(2026, 1, 1)).to_bytes()


def test_lists_of_one_batch_share_their_frame_and_keep_their_own_values() -> None:
    from datetime import datetime, timezone

    at = datetime(2026, 11, 30, 18, 0, tzinfo=timezone.utc)
    lists = [RankedList(u, list(range(1, u + 2)), [float(u)] * (u + 1), model_version="v9", strategy="foldin",
                        variant="b", cause_event_id=uuid.uuid4(), generated_at=at) for u in range(5)]
    for rl in lists:
        slow = RecommendationList.from_ranked(rl.user_id, rl.movie_ids, rl.scores, model_version="v9",
                                              strategy="foldin", variant="b", cause_event_id=rl.cause_event_id,
                                              generated_at=at)
        assert rl.to_bytes() == slow.to_bytes()
