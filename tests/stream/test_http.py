"""The worker's HTTP API over real HTTP, against a running worker and broker."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from schemas.events import RecommendationList, SwipeEvent

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
        if now["strategy"] == "foldin":
            break
        time.sleep(0.5)
    assert now["strategy"] == "foldin" and top not in [i["movie_id"] for i in now["items"]]


def test_a_user_is_served_by_whichever_worker_is_asked(worker_factory, tmp_path) -> None:
    """Two workers split the partitions; asking either for a user's list routes the request
    to the worker that holds the user's state (no standby copies, so only the owner has it)."""
    import socket

    from stream_app.clients import SwipeProducer
    from stream_app.runner import WorkerProcess

    first = worker_factory(partitions=4, standby_replicas=0, session_timeout=10, strategy="additive")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        other_port = s.getsockname()[1]
    second = WorkerProcess({**first.env, "DATA_DIR": str(tmp_path / "faust-b"), "WEB_PORT": str(other_port)},
                           tmp_path / "worker-b.log").start()
    try:
        users = [20_000_000 + i for i in range(12)]  # new users: no state means a cold-start list
        with SwipeProducer(first.env["BOOTSTRAP_SERVERS"], first.env["SWIPES_TOPIC"]) as producer:
            for u in users:
                for movie in (1, 260, 318):  # three swipes: past the cold start
                    producer.send(user_id=u, movie_id=movie, preference=4)
        served: dict[tuple[str, int], str] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            served = {(port, u): call(port, f"/users/{u}/recommendations")[1]["strategy"]
                      for port in (first.env["WEB_PORT"], str(other_port)) for u in users}
            if set(served.values()) == {"additive"}:
                break
            time.sleep(1)
        assert set(served.values()) == {"additive"}, served
        owners = {u: _owner(first, second, u) for u in users}
        assert len(set(owners.values())) == 2, "both workers should own some of these users"
    finally:
        second.stop()


def _owner(first, second, user: int) -> str:
    """Which worker's log shows it processing ``user``'s partition (by assignment)."""
    from aiokafka.partitioner import DefaultPartitioner

    partition = DefaultPartitioner()(str(user).encode(), [0, 1, 2, 3], [0, 1, 2, 3])
    return "first" if partition in _assigned(first) else "second" if partition in _assigned(second) else "?"


def _assigned(worker) -> set[int]:
    status, health = call(worker.env["WEB_PORT"], "/health")
    assert status == 200
    return set(health.get("swipes_partitions", []))
