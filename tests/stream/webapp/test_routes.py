"""The app server's API against a real broker and a stand-in worker (the browser test uses a real one)."""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from schemas.events import RecommendationList
from stream_app.webapp.catalog import Catalog
from stream_app.webapp.server import make_app
from stream_app.webapp.settings import AppSettings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ROWS = [(1, "Toy Story (1995)", "Animation|Children", 50), (2, "Heat (1995)", "Action", 40),
        (3, "Babe (1995)", "Children|Drama", 30), (4, "Casino (1995)", "Crime|Drama", 20)]


async def stand_in_worker(token: str | None = None) -> TestServer:
    """``GET /users/{id}/recommendations``: always movies 3, 1, 2 (cold start); 401 without
    ``Authorization: Bearer <token>`` when a token is given."""

    async def recommendations(request: web.Request) -> web.Response:
        if token is not None and request.headers.get("Authorization") != f"Bearer {token}":
            return web.json_response({"error": "missing or wrong API token"}, status=401)
        rl = RecommendationList.from_ranked(int(request.match_info["user_id"]), [3, 1, 2], [3.0, 2.0, 1.0],
                                            model_version="v1", strategy="cold_start")
        return web.Response(body=rl.to_bytes(), content_type="application/json")

    app = web.Application()
    app.router.add_get("/users/{user_id}/recommendations", recommendations)
    server = TestServer(app)
    await server.start_server()
    return server


@pytest_asyncio.fixture
async def app_client(kafka_bootstrap: str, topic_factory: Callable[..., str],
                     catalog_factory: Callable[..., Catalog]) -> AsyncIterator[tuple[TestClient, AppSettings]]:
    """The app server on fresh topics (swipes: 4 partitions) in front of the stand-in worker."""
    worker = await stand_in_worker()
    settings = AppSettings(bootstrap_servers=kafka_bootstrap, swipes_topic=topic_factory("app-swipes", 4),
                           recommendations_topic=topic_factory("app-recs", 2), worker_url=str(worker.make_url("/")),
                           explore_every=0, sse_keepalive=0.5)
    client = TestClient(TestServer(make_app(settings, catalog_factory(ROWS))))
    await client.start_server()
    try:
        yield client, settings
    finally:
        await client.close()
        await worker.close()


async def read_event(resp: Any, timeout: float = 15.0) -> tuple[str, dict[str, Any]]:
    """The next ``event:``/``data:`` pair of a server-sent event stream (comments skipped)."""
    event = ""
    async with asyncio.timeout(timeout):
        while True:
            line = (await resp.content.readline()).decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event:
                return event, json.loads(line[6:])


@pytest.mark.asyncio
async def test_swipes_go_to_the_users_murmur2_partition_and_bad_ones_are_refused(app_client) -> None:
    client, settings = app_client
    assert (await client.post("/api/swipes", data=b"{}", headers={"Content-Type": "text/plain"})).status == 415
    bad = await client.post("/api/swipes", json={"user_id": 42, "movie_id": 1, "preference": 7})
    assert bad.status == 400 and "preference" in (await bad.json())["error"]
    assert (await client.post("/api/swipes", json={"user_id": 42, "movie_id": "1", "preference": 4})).status == 400
    assert (await client.post("/api/swipes", json={"user_id": 42, "movie_id": 999, "preference": 4})).status == 404
    ok = await client.post("/api/swipes", json={"user_id": 42, "movie_id": 1, "preference": 4})
    assert ok.status == 202
    event_id = (await ok.json())["event_id"]

    consumer = AIOKafkaConsumer(settings.swipes_topic, bootstrap_servers=settings.bootstrap_servers,
                                auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    try:
        msg = await asyncio.wait_for(consumer.getone(), 15)
    finally:
        await consumer.stop()
    assert msg.key == b"42" and json.loads(msg.value)["event_id"] == event_id
    assert msg.partition == DefaultPartitioner()(b"42", [0, 1, 2, 3], [0, 1, 2, 3])  # where the worker keeps user 42


@pytest.mark.asyncio
async def test_current_list_next_card_and_bad_ids(app_client) -> None:
    client, _ = app_client
    listed = await (await client.get("/api/users/42/list")).json()
    assert [(i["movie_id"], i["title"]) for i in listed["items"]] == [(3, "Babe"), (1, "Toy Story"), (2, "Heat")]
    assert listed["strategy"] == "cold_start" and listed["model_version"] == "v1"
    card = await (await client.get("/api/users/42/next?shown=3")).json()
    assert (card["movie_id"], card["reason"], card["genres"]) == (1, "#2 on your list", ["Animation", "Children"])
    assert (await (await client.get("/api/users/42/next?shown=3,1,2")).json())["movie_id"] == 4  # list used up
    for bad in ("042", "-1", "9" * 19, "9" * 5000):  # not canonical, negative, above 2**63-1, absurdly long
        assert (await client.get(f"/api/users/{bad}/list")).status == 400
    assert (await client.get("/api/users/42/next?shown=x")).status == 400
    found = await (await client.get("/api/movies?q=toy")).json()
    assert [m["movie_id"] for m in found["items"]] == [1]
    start = await (await client.get("/api/start")).json()
    assert start["known_users"] == [1, 2, 3] and start["new_user_id"] not in (1, 2, 3)


@pytest.mark.asyncio
async def test_live_stream_pushes_only_this_users_lists_from_after_the_start(
        kafka_bootstrap: str, topic_factory: Callable[..., str], catalog_factory: Callable[..., Catalog]) -> None:
    settings = AppSettings(bootstrap_servers=kafka_bootstrap, swipes_topic=topic_factory("app-swipes"),
                           recommendations_topic=topic_factory("app-recs", 2), worker_url="http://127.0.0.1:9",
                           sse_keepalive=0.3)

    def rl(user: int, movies: list[int]) -> bytes:
        return RecommendationList.from_ranked(user, movies, [1.0] * len(movies), model_version="v1",
                                              strategy="foldin").to_bytes()

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(settings.recommendations_topic, rl(42, [4]), key=b"42")  # before the app: not sent
        async with TestClient(TestServer(make_app(settings, catalog_factory(ROWS)))) as client:
            resp = await client.get("/api/users/42/live")
            assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
            await asyncio.sleep(0.5)  # keep-alive comments go by first
            for value, key in ((rl(43, [1]), b"43"), (b"not json", b"42"), (rl(42, [2, 3]), b"42")):
                await producer.send_and_wait(settings.recommendations_topic, value, key=key)
            event, payload = await read_event(resp)
            assert event == "list" and payload["user_id"] == 42
            assert [(i["movie_id"], i["title"]) for i in payload["items"]] == [(2, "Heat"), (3, "Babe")]
            resp.close()
    finally:
        await producer.stop()


@pytest.mark.asyncio
async def test_worker_down_is_a_bad_gateway(kafka_bootstrap: str, topic_factory: Callable[..., str],
                                           catalog_factory: Callable[..., Catalog]) -> None:
    settings = AppSettings(bootstrap_servers=kafka_bootstrap, swipes_topic=topic_factory("app-swipes"),
                           recommendations_topic=topic_factory("app-recs"), worker_url="http://127.0.0.1:9")
    async with TestClient(TestServer(make_app(settings, catalog_factory(ROWS)))) as client:
        resp = await client.get("/api/users/1/list")
        assert resp.status == 502 and "worker unreachable" in (await resp.json())["error"]
        assert (await client.get("/api/health")).status == 200


@pytest.mark.asyncio
async def test_the_api_token_goes_along_to_the_worker(kafka_bootstrap: str, topic_factory: Callable[..., str],
                                                      catalog_factory: Callable[..., Catalog]) -> None:
    worker = await stand_in_worker(token="t0k")
    try:
        for token, status in (("t0k", 200), (None, 502)):
            settings = AppSettings(bootstrap_servers=kafka_bootstrap, swipes_topic=topic_factory("app-swipes"),
                                   recommendations_topic=topic_factory("app-recs"),
                                   worker_url=str(worker.make_url("/")), api_token=token)
            async with TestClient(TestServer(make_app(settings, catalog_factory(ROWS)))) as client:
                resp = await client.get("/api/users/1/list")
                assert resp.status == status, await resp.text()
                if status == 502:
                    assert "401" in (await resp.json())["error"]
    finally:
        await worker.close()
