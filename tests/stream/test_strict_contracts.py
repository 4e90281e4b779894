"""Strict doors of the stream: swipes dated ahead of the clock are dead-lettered (worker) or
answered 400 (HTTP); POST /swipes takes JSON only (415), answers 202 only once the broker has
the swipe (503 otherwise); ids past signed 64 bits are a 400, never a 500."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from offline.artifacts import load_version
from offline.recommender import Recommender
from schemas.events import SwipeEvent
from stream_app.processing import DEFAULT_MAX_CLOCK_SKEW, Incoming, check_not_ahead, process_batch
from stream_app.settings import StreamSettings
from online.settings import DEFAULT_STRATEGY

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=timezone.utc)


def swipe(at: datetime, user: int = 3) -> SwipeEvent:
    return SwipeEvent(user_id=user, movie_id=260, preference=4, occurred_at=at)


# --- the pure check, and the worker's parsing -------------------------------------------------------

def test_the_skew_is_a_setting_with_one_default() -> None:
    assert StreamSettings().max_clock_skew == DEFAULT_MAX_CLOCK_SKEW == 300.0


def test_check_not_ahead_allows_the_skew_and_any_past() -> None:
    check_not_ahead(swipe(NOW + timedelta(seconds=300)), 300, NOW)
    check_not_ahead(swipe(datetime(1996, 3, 29, tzinfo=timezone.utc)), 300, NOW)  # a replayed MovieLens swipe
    with pytest.raises(ValueError, match=r"occurred_at 2024-06-01T12:05:01\+00:00 is 301 s ahead.*at most 300 s"):
        check_not_ahead(swipe(NOW + timedelta(seconds=301)), 300, NOW)
    with pytest.raises(ValueError, match="ahead"):
        check_not_ahead(swipe(datetime(9999, 12, 31, tzinfo=timezone.utc)), 300)  # against this clock


@pytest.fixture(scope="module")
def recommender(small_artifacts: Path) -> Recommender:
    return Recommender.from_artifact(load_version(small_artifacts), strategy="foldin")


def test_process_batch_dead_letters_future_swipes_with_the_reason(recommender: Recommender) -> None:
    now = datetime.now(timezone.utc)
    events = [swipe(now + timedelta(days=1)), swipe(datetime(9999, 12, 31, tzinfo=timezone.utc)),
              swipe(now + timedelta(seconds=60)), swipe(datetime(2001, 9, 9, 1, 46, 40, tzinfo=timezone.utc))]
    messages = [Incoming(e.to_bytes(), "swipes", 0, i, b"3") for i, e in enumerate(events)]
    result = process_batch(recommender, messages, lambda uid: None, 5)
    reasons = {i: d.error for i, d in result.dead_letters}
    assert set(reasons) == {0, 1} and all("ahead of this clock" in r for r in reasons.values()), reasons
    assert result.applied == 2
    strict = process_batch(recommender, messages, lambda uid: None, 5, max_clock_skew=10)
    assert {i for i, _ in strict.dead_letters} == {0, 1, 2} and strict.applied == 1


# --- HTTP: a real worker ------------------------------------------------------------------------------

def request(port: str, path: str, body: bytes | None = None, content_type: str | None = "application/json"
            ) -> tuple[int, dict]:
    headers = {"Content-Type": content_type} if content_type else {}
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, headers=headers,
                                 method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.integration
def test_http_doors(worker_factory) -> None:
    """One worker whose broker acknowledgements never come in time (1 µs): every request the
    doors let through ends in 503, and that swipe still reaches the worker afterwards."""
    worker = worker_factory(swipe_ack_timeout=1e-6, max_clock_skew=60)
    port = worker.env["WEB_PORT"]
    now = datetime.now(timezone.utc)
    good = SwipeEvent(user_id=1, movie_id=260, preference=4, occurred_at=now)

    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data", None):
        status, body = request(port, "/swipes", good.to_bytes(), content_type)
        assert status == 415 and "application/json" in body["error"], (content_type, status, body)

    plain = {"user_id": 1, "movie_id": 260, "preference": 4}
    for bad, where in (({"user_id": "1"}, "user_id"), ({"preference": True}, "preference"),
                       ({"movie_id": 260.0}, "movie_id"), ({"user_id": 2**63}, "user_id"),
                       ({"occurred_at": "9999-12-31T00:00:00Z"}, "ahead of this clock"),
                       ({"occurred_at": (now + timedelta(seconds=120)).isoformat()}, "at most 60 s"),
                       ({"occurred_at": "1994-06-01T00:00:00Z"}, "1995")):
        status, body = request(port, "/swipes", json.dumps({**plain, **bad}).encode())
        assert status == 400 and where in body["error"], (bad, status, body)

    for path in ("/users/99999999999999999999999/recommendations", "/users/9223372036854775808/recommendations",
                 "/users/-1/recommendations", "/users/007/recommendations", "/users/1e3/recommendations"):
        status, body = request(port, path)
        assert status == 400 and "user_id" in body["error"], (path, status, body)
    for path in ("/movies/99999999999999999999999/similar", "/movies/0/similar", "/movies/+1/similar"):
        status, body = request(port, path)
        assert status == 400 and "movie_id" in body["error"], (path, status, body)
    assert request(port, "/movies/9223372036854775807/similar")[0] == 404
    status, body = request(port, "/users/9223372036854775807/recommendations?n=3")
    assert status == 200 and body["user_id"] == 2**63 - 1 and len(body["items"]) == 3

    status, body = request(port, "/users/1/recommendations")
    assert status == 200 and body["strategy"] == "static"
    status, body = request(port, "/swipes", good.to_bytes(), "application/json; charset=utf-8")
    assert status == 503 and "did not acknowledge" in body["error"] and "event_id" in body["error"], body
    deadline = time.monotonic() + 30  # not acknowledged in time, but sent: the worker applies it
    while time.monotonic() < deadline and body.get("strategy") != DEFAULT_STRATEGY:
        time.sleep(0.5)
        status, body = request(port, "/users/1/recommendations")
    assert body["strategy"] == DEFAULT_STRATEGY and worker.running
