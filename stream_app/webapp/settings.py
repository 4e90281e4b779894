"""Settings of the app server process: the stream settings plus the app's own (prefix ``MOVIEREC_``).

The Kafka connection, topics, artifacts and the worker's address (``web_host``/``web_port``)
are the stream settings' own fields, inherited, so each setting has one place::

    MOVIEREC_APP_PORT=8000 MOVIEREC_WEB_PORT=6066 movierec app
"""
from __future__ import annotations

from pydantic import Field

from stream_app.settings import StreamSettings


class AppSettings(StreamSettings):
    """One app server's settings."""

    app_host: str = "127.0.0.1"
    """Interface the app server listens on."""
    app_port: int = Field(8000, ge=0, le=65535)
    """Port of the app server (0: any free port)."""
    worker_url: str | None = None
    """Base URL of a worker's HTTP API; None: ``http://<web_host>:<web_port>``."""
    list_size: int = Field(10, ge=1, le=100)
    """How many items of the user's list the page shows."""
    explore_every: int = Field(5, ge=0)
    """Every this many cards, show a popular movie outside the user's list (0: never)."""
    sse_keepalive: float = Field(15.0, gt=0)
    """Seconds between keep-alive comments on an idle live stream (finds closed browsers)."""

    def worker_base(self) -> str:
        """The worker's base URL, without a trailing slash."""
        return (self.worker_url or f"http://{self.web_host}:{self.web_port}").rstrip("/")
