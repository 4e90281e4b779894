"""The JSON the page reads: lists and cards with the movies' titles, years, genres and links. Pure."""
from __future__ import annotations

from typing import Any

from schemas.events import RecommendationList
from stream_app.webapp.catalog import Catalog


def list_payload(rl: RecommendationList, catalog: Catalog, n: int) -> dict[str, Any]:
    """The first ``n`` items of ``rl``, each a card plus its rank and score, and the list's provenance."""
    items = [{**catalog.card(item.movie_id), "rank": item.rank, "score": item.score} for item in rl.items[:n]]
    return {"user_id": rl.user_id, "model_version": rl.model_version, "strategy": rl.strategy,
            "variant": rl.variant, "cause_event_id": None if rl.cause_event_id is None else str(rl.cause_event_id),
            "generated_at": rl.generated_at.isoformat(), "items": items}


def sse_message(event: str, data: str, event_id: str | None = None) -> bytes:
    """One server-sent event (``data`` must be a single line, as compact JSON is)."""
    if "\n" in data or "\r" in data:
        raise ValueError("an SSE data line must not contain line breaks")
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\ndata: {data}\n\n".encode()
