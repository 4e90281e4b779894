"""The worker's HTTP API over real HTTP, against a running worker and broker."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest
from aiokafka.partitioner import DefaultPartitioner

from schemas.events import RecommendationList, SwipeEvent
from stream_app.clients import SwipeProducer
from online.settings import DEFAULT_STRATEGY

pytestmark = pytest.mark.integration


def call(port: str, path: str, body: bytes | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body,
                                 headers={"Content-Type": "application/json"}, method="POST" if body else "GET")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_http_api(worker_factory) -> None:
    worker = worker_factory()
    port = worker.env["WEB_PORT"]

    status, health = call(port, "/health")
    assert status == 200 and health["broker"] is True and health["model_version"], health

    status, cold = call(port, "/users/123456789/recommendations?n=5")
    rl = RecommendationList.model_validate(cold)
    assert status == 200 and rl.strategy == "cold_start" and len(rl.items) == 5

    status, known = call(port, "/users/1/recommendations")
    assert status == 200 and known["strategy"] == "static" and len(known["items"]) == 20

    status, sim = call(port, "/movies/1/similar?n=5&method=genre")
    assert status == 200 and len(sim["items"]) == 5 and 1 not in [i["movie_id"] for i in sim["items"]]
    assert call(port, "/movies/999999999/similar")[0] == 404
    assert call(port, "/movies/1/similar?method=nope")[0] == 400

    top = known["items"][0]["movie_id"]
    swipe = SwipeEvent(user_id=1, movie_id=top, preference=4)
    status, accepted = call(port, "/swipes", swipe.to_bytes())
    assert status == 202 and accepted["event_id"] == str(swipe.event_id)
    bad_status, bad = call(port, "/swipes", b'{"user_id": 1, "movie_id": 1, "preference": 7}')
    assert bad_status == 400 and "preference" in bad["error"]
    assert call(port, "/swipes", SwipeEvent(user_id=1, movie_id=999999999, preference=4).to_bytes())[0] == 404

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the accepted swipe is applied by the worker
        status, now = call(port, "/users/1/recommendations")
        if now["strategy"] == DEFAULT_STRATEGY:
            break
        time.sleep(0.5)
    assert now["strategy"] == DEFAULT_STRATEGY and top not in [i["movie_id"] for i in now["items"]]


def test_a_user_is_served_by_whichever_worker_is_asked(worker_factory) -> None:
    """Two workers split the partitions; asking either for a user's list routes the request
    to the worker that holds the user's state (no standby copies, so only the owner has it)."""
    settings = {"partitions": 4, "standby_replicas": 0, "session_timeout": 10, "strategy": "additive"}
    first, second = worker_factory(**settings), worker_factory(**settings)
    users = [20_000_000 + i for i in range(12)]  # new users: no state means a cold-start list
    with SwipeProducer(first.env["BOOTSTRAP_SERVERS"], first.env["SWIPES_TOPIC"]) as producer:
        for u in users:
            for movie in (1, 260, 318):  # three swipes: past the cold start
                producer.send(user_id=u, movie_id=movie, preference=4)
    served: dict[tuple[str, int], str] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        served = {(w.env["WEB_PORT"], u): call(w.env["WEB_PORT"], f"/users/{u}/recommendations")[1]["strategy"]
                  for w in (first, second) for u in users}
        if set(served.values()) == {"additive"}:
            break
        time.sleep(1)
    assert set(served.values()) == {"additive"}, served
    owned = [set(call(w.env["WEB_PORT"], "/health")[1]["swipes_partitions"]) for w in (first, second)]
    partitions = {DefaultPartitioner()(str(u).encode(), [0, 1, 2, 3], [0, 1, 2, 3]) for u in users}
    assert all(partitions & mine for mine in owned), "both workers should own some of these users"
