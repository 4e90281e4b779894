"""The app server process: its clients (Kafka consumer and producer, HTTP to the worker), start and stop.

``movierec app`` and ``movierec demo --serve`` call :func:`run`; tests start ``movierec app``
as a child process. Why a process of its own rather than routes in the worker: see
:mod:`stream_app.webapp`.
"""
from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Callable

import aiohttp
from aiohttp import web

from stream_app.webapp.catalog import Catalog, load_catalog
from stream_app.webapp.kafka_clients import swipe_producer
from stream_app.webapp.live import ListHub
from stream_app.webapp.routes import CATALOG, HTTP, HUB, PRODUCER, SETTINGS, add_routes
from stream_app.webapp.settings import AppSettings


async def _clients(app: web.Application) -> AsyncIterator[None]:
    """Start the live-list consumer, the swipe producer and the worker's HTTP client; stop them after."""
    settings = app[SETTINGS]
    hub = ListHub(settings.connection(), settings.recommendations_topic)
    await hub.start()
    producer = swipe_producer(settings.connection())
    try:
        await producer.start()
    except BaseException:
        await hub.stop()
        raise
    app[HUB], app[PRODUCER] = hub, producer
    token = settings.api_token  # the worker's user routes may need it
    headers = {"Authorization": f"Bearer {token.get_secret_value()}"} if token is not None else None
    app[HTTP] = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10), headers=headers)
    try:
        yield
    finally:
        await app[HTTP].close()
        await producer.stop()
        await hub.stop()


async def _end_streams(app: web.Application) -> None:
    app[HUB].end_streams()  # open live streams return, so the shutdown does not wait for them


def make_app(settings: AppSettings, catalog: Catalog) -> web.Application:
    """The aiohttp application (its clients start with it)."""
    app = web.Application()
    app[SETTINGS], app[CATALOG] = settings, catalog
    app.cleanup_ctx.append(_clients)
    app.on_shutdown.append(_end_streams)
    add_routes(app)
    return app


async def serve(settings: AppSettings, catalog: Catalog, on_ready: Callable[[str], None]) -> None:
    """Serve until SIGINT or SIGTERM; ``on_ready`` gets the page's URL once it answers."""
    from stream_app.admin import ensure_topics

    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, ensure_topics, settings.connection(), settings.topic_partitions())
    runner = web.AppRunner(make_app(settings, catalog), handle_signals=False, shutdown_timeout=3.0)
    await runner.setup()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        site = web.TCPSite(runner, settings.app_host, settings.app_port)
        await site.start()
        host, port = runner.addresses[0][:2]
        on_ready(f"http://{host}:{port}/")
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await runner.cleanup()


def run(settings: AppSettings, on_ready: Callable[[str], None], catalog: Catalog | None = None) -> None:
    """Load the catalog of the served model (unless given) and :func:`serve` until Ctrl-C."""
    catalog = catalog or load_catalog(settings.artifacts, settings.artifact_version)
    asyncio.run(serve(settings, catalog, on_ready))
