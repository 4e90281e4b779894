"""The app server's routes: the page, its JSON API and each user's live list (server-sent events).

``GET /`` the page; ``/static/*`` its files; ``GET /api/health``; ``GET /api/start`` (model,
known users, an id for a new user); ``GET /api/movies?q=`` title search;
``GET /api/users/{id}/list`` the current list (from the worker); ``GET /api/users/{id}/next?shown=``
the next card; ``POST /api/swipes`` (JSON, 202 once on the broker); ``GET /api/users/{id}/live``
each new list of the user as it arrives on the lists topic (``text/event-stream``).
"""
from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import aiohttp
from aiohttp import web
from aiokafka import AIOKafkaProducer
from pydantic import ValidationError

from schemas.events import MAX_ID, RecommendationList, SwipeEvent
from stream_app.webapp.catalog import Catalog
from stream_app.webapp.live import CLOSED, ListHub
from stream_app.webapp.next_card import next_card
from stream_app.webapp.payloads import list_payload, sse_message
from stream_app.webapp.settings import AppSettings

STATIC = Path(__file__).resolve().parent / "static"
SETTINGS = web.AppKey("settings", AppSettings)
CATALOG = web.AppKey("catalog", Catalog)
HUB = web.AppKey("hub", ListHub)
PRODUCER = web.AppKey("producer", AIOKafkaProducer)
HTTP = web.AppKey("http", aiohttp.ClientSession)
MAX_SHOWN = 500

routes = web.RouteTableDef()


def _error(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


def _fail(exc_class: type[web.HTTPException], reason: str) -> web.HTTPException:
    """An HTTP error to raise, with ``{"error": reason}`` as its JSON body."""
    return exc_class(text=json.dumps({"error": reason}), content_type="application/json")


def _user_id(request: web.Request) -> int:
    """The path's user id: canonical decimal digits within 0..2**63-1, else 400."""
    raw = request.match_info["user_id"]
    canonical = raw.isascii() and raw.isdigit() and (raw == "0" or raw[0] != "0") and len(raw) <= 19
    if not canonical or int(raw) > MAX_ID:
        raise _fail(web.HTTPBadRequest, f"user_id must be an integer 0..{MAX_ID}, got {raw[:40]!r}")
    return int(raw)


def _shown(request: web.Request) -> list[int]:
    """``?shown=1,2,3``: the movies already on a card this session (at most the last 500)."""
    raw = request.query.get("shown", "")
    try:
        ids = [int(x) for x in raw.split(",") if x.strip()]
    except ValueError:
        raise _fail(web.HTTPBadRequest, "shown must be comma-separated movie ids") from None
    return ids[-MAX_SHOWN:]


async def _current_list(request: web.Request, user_id: int, n: int) -> RecommendationList:
    """The user's list as the worker computes it now (502 when the worker cannot answer)."""
    url = f"{request.app[SETTINGS].worker_base()}/users/{user_id}/recommendations?n={n}"
    try:
        async with request.app[HTTP].get(url) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise _fail(web.HTTPBadGateway, f"worker answered {resp.status}: {body[:200]!r}")
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        raise _fail(web.HTTPBadGateway, f"worker unreachable at {url}: {exc!r}") from None
    return RecommendationList.from_bytes(body)


@routes.get("/")
async def index(request: web.Request) -> web.FileResponse:
    """The page."""
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


@routes.get("/api/health")
async def health(request: web.Request) -> web.Response:
    """200 while the live-list consumer runs, else 503."""
    running = request.app[HUB].running
    return web.json_response({"status": "ok" if running else "unhealthy", "live": running},
                             status=200 if running else 503)


@routes.get("/api/start")
async def start(request: web.Request) -> web.Response:
    """What the user picker needs: some known users, a fresh id for a new one, the model."""
    catalog, settings = request.app[CATALOG], request.app[SETTINGS]
    return web.json_response({"model_version": catalog.model_version, "known_users": list(catalog.known_users[:50]),
                              "new_user_id": catalog.fresh_user_id(random.SystemRandom()),
                              "list_size": settings.list_size})


@routes.get("/api/movies")
async def movies(request: web.Request) -> web.Response:
    """Title search: ``?q=toy story`` → up to 8 cards."""
    return web.json_response({"items": request.app[CATALOG].search(request.query.get("q", "")[:100])})


@routes.get("/api/users/{user_id}/list")
async def current_list(request: web.Request) -> web.Response:
    """The user's current list, shortened to ``list_size`` and with each movie's card."""
    settings = request.app[SETTINGS]
    rl = await _current_list(request, _user_id(request), settings.list_size)
    return web.json_response(list_payload(rl, request.app[CATALOG], settings.list_size))


@routes.get("/api/users/{user_id}/next")
async def next_movie(request: web.Request) -> web.Response:
    """The next card (see :mod:`stream_app.webapp.next_card`), ``reason`` saying why; 404 when none is left."""
    settings, catalog = request.app[SETTINGS], request.app[CATALOG]
    user_id, shown = _user_id(request), _shown(request)
    rl = await _current_list(request, user_id, min(1000, settings.top_n + len(shown)))
    choice = next_card([i.movie_id for i in rl.items], shown, catalog.popular, settings.explore_every)
    if choice is None:
        return _error(404, "you have seen every movie")
    return web.json_response({**catalog.card(choice.movie_id), "reason": choice.reason})


@routes.post("/api/swipes")
async def swipe(request: web.Request) -> web.Response:
    """``{"user_id", "movie_id", "preference"}`` (JSON only: 415 otherwise) → ``swipes.v1``; 202 with
    the event id once the broker has it, 400 invalid, 404 unknown movie, 503 not acknowledged in time."""
    if request.content_type != "application/json":
        return _error(415, f"Content-Type must be application/json, got {request.content_type!r}")
    settings = request.app[SETTINGS]
    try:
        event = SwipeEvent.from_bytes(await request.read())
    except ValidationError as exc:
        first = exc.errors()[0]
        return _error(400, f"invalid swipe: {'.'.join(str(p) for p in first.get('loc', ())) or 'body'}: "
                           f"{first.get('msg')}")
    if event.movie_id not in request.app[CATALOG]:
        return _error(404, f"unknown movie {event.movie_id}")
    try:
        await asyncio.wait_for(request.app[PRODUCER].send_and_wait(
            settings.swipes_topic, event.to_bytes(), key=str(event.user_id).encode()), settings.swipe_ack_timeout)
    except asyncio.TimeoutError:
        return _error(503, f"the broker did not acknowledge the swipe within {settings.swipe_ack_timeout:g} s")
    except Exception as exc:  # noqa: BLE001 - any send failure is the broker's answer
        return _error(503, f"the broker did not take the swipe ({type(exc).__name__}: {exc})")
    return web.json_response({"accepted": True, "event_id": str(event.event_id)}, status=202)


@routes.get("/api/users/{user_id}/live")
async def live(request: web.Request) -> web.StreamResponse:
    """Server-sent events: ``event: list`` with each new list of the user (the list payload),
    a comment every ``sse_keepalive`` seconds; ends when the browser leaves or the server stops."""
    settings, catalog, hub = request.app[SETTINGS], request.app[CATALOG], request.app[HUB]
    user_id = _user_id(request)
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                       "X-Accel-Buffering": "no"})
    with hub.subscribe(user_id) as queue:  # subscribed before the browser sees the stream open
        await resp.prepare(request)
        try:
            await resp.write(b"retry: 2000\n: subscribed\n\n")
            while True:
                try:
                    rl = await asyncio.wait_for(queue.get(), settings.sse_keepalive)
                except asyncio.TimeoutError:
                    await resp.write(b": keepalive\n\n")
                    continue
                if rl is CLOSED:
                    break
                data = json.dumps(list_payload(rl, catalog, settings.list_size), separators=(",", ":"))
                await resp.write(sse_message("list", data, None if rl.cause_event_id is None else str(rl.cause_event_id)))
        except ConnectionError:  # the browser went away
            pass
    return resp


def add_routes(app: web.Application) -> None:
    """The routes above plus the static files."""
    app.add_routes(routes)
    app.router.add_static("/static/", STATIC, append_version=False)

