"""HTTP face of the worker, served by Faust's web server (default 127.0.0.1:6066).

User routes go through ``table_route``: a request reaches the worker that owns the user's
partition of the ``user-states`` table, so it answers from local state. With
``MOVIEREC_API_TOKEN`` set, ``POST /swipes`` and the user routes need ``Authorization: Bearer
<token>`` (checked before routing; the forwarded request carries the header along).
Handlers never load a model: until the worker has loaded it they answer 503.
"""
from __future__ import annotations

import asyncio
import functools
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import faust
from faust.web import Request, Response, View
from pydantic import ValidationError

from offline.recommender import UnknownMovieError
from schemas.events import MAX_ID, RecommendationList, SwipeEvent
from stream_app.model_holder import ModelNotReady
from stream_app.processing import check_not_ahead, list_strategy
from stream_app.readiness import health_status
from stream_app.user_state import UserState

log = logging.getLogger(__name__)


def _error(web: View, status: int, reason: str) -> Response:
    return web.json({"error": reason}, status=status)


def _int_param(request: Request, name: str, default: int, lo: int = 1, hi: int = 1000) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    value = int(raw)  # ValueError → 400 by the caller
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be within {lo}..{hi}, got {value}")
    return value


def _id_param(raw: str, name: str, lo: int = 0) -> int:
    """A path id: ASCII digits in canonical form (``7``, not ``07``, ``+7`` or ``٧``, which
    would route to another partition than the key ``b"7"``), within ``lo``..2**63-1."""
    if not (raw.isascii() and raw.isdigit() and (raw == "0" or raw[0] != "0")):
        raise ValueError(f"{name} must be an integer in canonical decimal form, got {raw[:40]!r}")
    value = int(raw)
    if not lo <= value <= MAX_ID:
        raise ValueError(f"{name} must be within {lo}..{MAX_ID}, got {raw[:40]}")
    return value


async def _broker_reachable(bootstrap_servers: str, timeout: float = 2.0) -> bool:
    """True when a TCP connection to any bootstrap server opens within ``timeout``."""
    for server in bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), timeout)
        except (OSError, ValueError, asyncio.TimeoutError):
            continue
        writer.close()
        return True
    return False


async def _deliver(topic: faust.TopicT, key: bytes, value: bytes) -> None:
    """Send now (not attached to a current event) and wait for the broker's acknowledgement."""
    fut = await topic.send(key=key, value=value, force=True)
    await fut


def token_ok(header: str | None, token: str) -> bool:
    """True when ``header`` is ``Bearer <token>`` (constant-time comparison of the token)."""
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


Handler = Callable[..., Awaitable[Response]]


def require_token(worker: Any) -> Callable[[Handler], Handler]:
    """Decorate a handler ``(view, request, ...)``: 401 unless the request carries the API token
    (no token configured: every request passes)."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def checked(view: View, request: Request, *args: Any, **kwargs: Any) -> Response:
            token = worker.settings.api_token
            if token is not None and not token_ok(request.headers.get("Authorization"), token.get_secret_value()):
                response = _error(view, 401, "missing or wrong API token: send Authorization: Bearer <token>")
                response.headers["WWW-Authenticate"] = 'Bearer realm="movierec"'
                return response
            return await handler(view, request, *args, **kwargs)

        return checked

    return decorate


def _log_late_failure(delivery: asyncio.Future) -> None:
    if not delivery.cancelled() and delivery.exception() is not None:
        log.warning("swipe answered 503 then failed to send: %s", delivery.exception())


def register(app: faust.App, worker: Any) -> None:
    """Add the HTTP routes to ``app``; ``worker`` is the ``stream_app.app`` module."""

    @app.page("/users/{user_id}/recommendations")
    @require_token(worker)
    @app.table_route(table=worker.user_states, match_info="user_id")
    async def user_recommendations(web: View, request: Request, user_id: str) -> Response:
        """The user's current list (cold-start list for an unknown user)."""
        try:
            uid, n = _id_param(user_id, "user_id"), _int_param(request, "n", worker.settings.top_n)
        except ValueError as exc:
            return _error(web, 400, str(exc))
        try:
            recommender, variant = worker.model.for_user(uid)
        except ModelNotReady as exc:
            return _error(web, 503, str(exc))
        raw = worker.user_states.get(str(uid).encode())
        state = UserState.from_bytes(raw) if raw else recommender.new_state(uid)
        ranked = recommender.recommend_states([state], n)[0]
        rl = RecommendationList.from_ranked(uid, ranked.movie_ids.tolist(), ranked.scores.tolist(),
                                            model_version=recommender.model_version, variant=variant,
                                            strategy=list_strategy(recommender, state, ranked.source))
        return web.bytes(rl.to_bytes(), content_type="application/json")

    @app.page("/movies/{movie_id}/similar")
    async def similar(web: View, request: Request, movie_id: str) -> Response:
        """Movies similar to one movie: ``method=als`` (item factors) or ``genre`` (genres + year)."""
        method = request.query.get("method", "als")
        if method not in ("als", "genre", "jaccard"):
            return _error(web, 400, f"method must be als, genre or jaccard, got {method!r}")
        try:
            mid, n = _id_param(movie_id, "movie_id", lo=1), _int_param(request, "n", 10)
            items = worker.model.get().similar_movies(mid, n, "cosine" if method == "genre" else method)
        except ModelNotReady as exc:
            return _error(web, 503, str(exc))
        except ValueError as exc:
            return _error(web, 400, str(exc))
        except UnknownMovieError as exc:
            return _error(web, 404, str(exc.args[0]))
        return web.json({"movie_id": mid, "method": method,
                         "items": [{"movie_id": m, "score": s} for m, s in items]})

    @app.page("/swipes")
    class Swipes(View):
        @require_token(worker)
        async def post(self, request: Request) -> Response:
            """Validate a swipe and produce it to the swipes topic: 202 once the broker has it;
            415 unless JSON (a browser cannot send that cross-site without a CORS preflight),
            400 invalid or dated too far ahead, 404 unknown movie, 503 not acknowledged in time."""
            if request.content_type != "application/json":
                return _error(self, 415, f"Content-Type must be application/json, got {request.content_type!r}")
            body = await request.read()
            try:
                event = SwipeEvent.from_bytes(body)
                check_not_ahead(event, worker.settings.max_clock_skew)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first.get("loc", ())) or "body"
                return _error(self, 400, f"invalid swipe: {where}: {first.get('msg')}")
            except ValueError as exc:
                return _error(self, 400, f"invalid swipe: {exc}")
            try:
                worker.model.get().movie_index(event.movie_id)
            except ModelNotReady as exc:
                return _error(self, 503, str(exc))
            except UnknownMovieError as exc:
                return _error(self, 404, str(exc.args[0]))
            timeout = worker.settings.swipe_ack_timeout
            delivery = asyncio.ensure_future(_deliver(worker.swipes_topic, str(event.user_id).encode(),
                                                      event.to_bytes()))
            try:  # shielded: a timeout answers 503 but lets the send finish (or fail) in the background
                await asyncio.wait_for(asyncio.shield(delivery), timeout)
            except asyncio.TimeoutError:
                delivery.add_done_callback(_log_late_failure)
                return _error(self, 503, f"the broker did not acknowledge the swipe within {timeout:g} s; it may "
                                         "still arrive: retry with the same event_id (duplicates are dropped)")
            except Exception as exc:  # noqa: BLE001 - any send failure is the broker's answer
                return _error(self, 503, f"the broker did not take the swipe ({type(exc).__name__}: {exc}); "
                                         "retry with the same event_id")
            return self.json({"accepted": True, "event_id": str(event.event_id)}, status=202)

    @app.page("/health")
    async def health(web: View, request: Request) -> Response:
        """``status``: ok (200), recovering (503: models loading, rebalance or table recovery under
        way) or unhealthy (503: broker unreachable, model not loadable, agent stopped); broker
        reachable, model version (or why none), consumer lag, assigned partitions of the swipes
        topic and the URL other workers reach this one at. Reads state only: loads nothing."""
        body: dict[str, Any] = {"model_version": None, "strategy": worker.settings.strategy,
                                "url": str(app.conf.canonical_url)}
        try:
            body["model_version"] = worker.model.get().model_version
        except ModelNotReady as exc:
            body["model_error"] = str(exc)
        body["broker"] = await _broker_reachable(worker.settings.bootstrap_servers)
        lag, owned = 0, []
        for tp in app.consumer.assignment():
            if tp.topic == worker.settings.swipes_topic:
                owned.append(tp.partition)
                hw = app.consumer.highwater(tp)
                read = app.consumer._read_offset[tp]
                if hw is not None:
                    lag += max(0, hw - (read + 1 if read is not None else 0))
        body["lag"] = lag
        body["swipes_partitions"] = sorted(owned)  # this worker's share of the users
        if worker.health.agent_error is not None:
            body["agent_error"] = worker.health.agent_error
        status, code = health_status(worker.health, broker_reachable=body["broker"],
                                     partitions_ready=worker.partitions_ready(), model_error=worker.model.error)
        if body["model_version"] is None and status == "ok":
            status, code = "unhealthy", 503
        body["status"] = status
        return web.json(body, status=code)

