"""The worker's HTTP API: bound to every interface yet advertising a reachable address, an optional
bearer token, and no model loading on the request path."""
from __future__ import annotations

import json
import shutil
import socket
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from offline.artifacts import latest_version
from schemas.events import SwipeEvent
from stream_app.clients import SwipeProducer
from stream_app.runner import WorkerProcess
from stream_app.web import token_ok
from tests.conftest import free_port_pair

TOKEN = "s3cret-token-0b7d"


def call(port: str, path: str, body: bytes | None = None, token: str | None = None) -> tuple[int, dict, dict]:
    """(status, JSON body, headers) of one request to the worker on ``port``."""
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, headers=headers,
                                 method="POST" if body else "GET")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw, status, got = resp.read(), resp.status, dict(resp.headers)
    except urllib.error.HTTPError as exc:
        raw, status, got = exc.read(), exc.code, dict(exc.headers)
    try:
        return status, json.loads(raw), got
    except ValueError:
        return status, {"text": raw.decode(errors="replace")}, got


@pytest.mark.parametrize("header, ok", [
    (f"Bearer {TOKEN}", True), (f"bearer {TOKEN}", True), (f"Bearer {TOKEN}x", False), (f"Bearer {TOKEN[:-1]}", False),
    (TOKEN, False), (f"Basic {TOKEN}", False), ("Bearer ", False), ("", False), (None, False),
])
def test_token_check(header: str | None, ok: bool) -> None:
    assert token_ok(header, TOKEN) is ok


@pytest.mark.integration
def test_two_workers_on_every_interface_route_users_to_each_other_with_the_token(worker_factory) -> None:
    """Both bound to 0.0.0.0: each advertises its host name (it used to advertise 0.0.0.0, so in
    containers every worker took itself for every user's owner). A user's request reaches the
    owner, token and all; without the token the user routes and POST /swipes are 401."""
    settings = {"partitions": 4, "standby_replicas": 0, "session_timeout": 10, "strategy": "additive",
                "web_bind": "0.0.0.0", "api_token": TOKEN}
    first, second = worker_factory(**settings), worker_factory(**settings)
    ports = [w.env["WEB_PORT"] for w in (first, second)]
    for port in ports:  # /health and /metrics stay open
        status, health, _ = call(port, "/health")
        assert status in (200, 503) and health["url"] == f"http://{socket.gethostname()}:{port}", health
        assert call(port, "/metrics")[0] == 200
    swipe = SwipeEvent(user_id=20_000_001, movie_id=1, preference=4).to_bytes()
    for token in (None, "wrong"):
        status, body, headers = call(ports[0], "/users/1/recommendations", token=token)
        assert status == 401 and "token" in body["error"] and headers.get("WWW-Authenticate", "").startswith("Bearer")
        assert call(ports[0], "/swipes", swipe, token=token)[0] == 401
    assert call(ports[0], "/swipes", swipe, token=TOKEN)[0] == 202

    users = [20_000_000 + i for i in range(12)]  # new users: no state means a cold-start list
    with SwipeProducer(first.env["BOOTSTRAP_SERVERS"], first.env["SWIPES_TOPIC"]) as producer:
        for u in users:
            for movie in (1, 260, 318):  # three swipes: past the cold start
                producer.send(user_id=u, movie_id=movie, preference=4)
    served: dict[tuple[str, int], str] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        served = {(p, u): call(p, f"/users/{u}/recommendations", token=TOKEN)[1].get("strategy", "?")
                  for p in ports for u in users}
        if set(served.values()) == {"additive"}:
            break
        time.sleep(1)
    assert set(served.values()) == {"additive"}, served
    owned = [set(call(p, "/health")[1]["swipes_partitions"]) for p in ports]
    assert all(owned) and not owned[0] & owned[1], "each worker should own some partitions"


@pytest.mark.integration
def test_a_model_that_cannot_load_is_reported_not_reloaded_per_request(kafka_bootstrap: str, small_artifacts: Path,
                                                                        tmp_path: Path) -> None:
    """The handlers used to load (and verify) the model on the event loop when it was not loaded
    yet: with a broken artifact every request re-read it and answered 500."""
    root = tmp_path / "artifacts"
    shutil.copytree(small_artifacts, root)
    factors = root / latest_version(root) / "item_factors.npy"
    factors.write_bytes(factors.read_bytes()[:-8] + b"\0" * 8)
    run = uuid.uuid4().hex[:8]
    env = {"BOOTSTRAP_SERVERS": kafka_bootstrap, "ARTIFACTS": str(root), "APP_ID": f"movierec-broken-{run}",
           "SWIPES_TOPIC": f"swipes-{run}", "RECOMMENDATIONS_TOPIC": f"recs-{run}", "DLQ_TOPIC": f"dlq-{run}",
           "MODELS_TOPIC": f"models-{run}", "DATA_DIR": str(tmp_path / "faust"), "WEB_PORT": str(free_port_pair()),
           "PARTITIONS": "2"}
    worker = WorkerProcess(env, tmp_path / "worker.log").start(until="cannot load the served model")
    try:
        port = env["WEB_PORT"]
        status, health, _ = call(port, "/health")
        assert status == 503 and health["status"] == "unhealthy" and "checksum mismatch" in health["model_error"]
        for status, body, _ in (call(port, "/users/1/recommendations"), call(port, "/movies/1/similar"),
                                call(port, "/swipes", SwipeEvent(user_id=1, movie_id=1, preference=4).to_bytes())):
            assert status == 503 and "checksum mismatch" in body["error"], body
        assert worker.log_path.read_text().count("ArtifactError: checksum mismatch") == 1, "verified again"
    finally:
        worker.stop()
