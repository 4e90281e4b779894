"""`movierec app`: the swipe app in the browser, served beside the worker (see stream_app/webapp)."""
from __future__ import annotations

import typer
from rich.console import Console

console = Console()


def serve(
    host: str | None = typer.Option(None, "--host", help="Interface to listen on (default: $MOVIEREC_APP_HOST "
                                                         "or 127.0.0.1)."),
    port: int | None = typer.Option(None, "--port", help="Port (default: $MOVIEREC_APP_PORT or 8000)."),
    worker_url: str | None = typer.Option(None, "--worker-url", help="The worker's HTTP API (default: "
                                          "$MOVIEREC_WORKER_URL or http://$MOVIEREC_WEB_HOST:$MOVIEREC_WEB_PORT)."),
) -> None:
    """Serve the swipe app until Ctrl-C: a movie card to swipe, the user's list updating live.

    Kafka, topics and artifacts come from the same MOVIEREC_* settings as the worker's."""
    from stream_app.webapp.server import run
    from stream_app.webapp.settings import AppSettings

    overrides = {k: v for k, v in {"app_host": host, "app_port": port, "worker_url": worker_url}.items()
                 if v is not None}
    settings = AppSettings(**overrides)
    run(settings, lambda url: console.print(f"movierec app on [bold]{url}[/] (Ctrl-C to stop)", highlight=False))
