"""What the page reads: list payloads with movie cards, and server-sent event framing."""
from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import pytest

from schemas.events import RecommendationList
from stream_app.webapp.payloads import list_payload, sse_message
from stream_app.webapp.catalog import Catalog


def test_list_payload_cuts_to_n_and_adds_each_movies_card(catalog_factory: Callable[..., Catalog]) -> None:
    catalog = catalog_factory([(1, "Toy Story (1995)", "Animation|Children", 5), (2, "Heat (1995)", "Action", 9)])
    cause = uuid.uuid4()
    rl = RecommendationList.from_ranked(42, [2, 1, 99], [0.9, 0.5, 0.1], model_version="v1", strategy="foldin",
                                        cause_event_id=cause)
    payload = list_payload(rl, catalog, 2)
    assert payload["user_id"] == 42 and payload["strategy"] == "foldin" and payload["model_version"] == "v1"
    assert payload["cause_event_id"] == str(cause) and payload["generated_at"].startswith(str(rl.generated_at.year))
    assert [(i["movie_id"], i["rank"], i["title"]) for i in payload["items"]] == [(2, 1, "Heat"), (1, 2, "Toy Story")]
    assert payload["items"][1]["genres"] == ["Animation", "Children"] and payload["items"][0]["score"] == 0.9
    json.dumps(payload)  # serialisable as it is


def test_sse_message_framing() -> None:
    assert sse_message("list", '{"a":1}', "e1") == b'id: e1\nevent: list\ndata: {"a":1}\n\n'
    assert sse_message("list", "{}") == b"event: list\ndata: {}\n\n"
    with pytest.raises(ValueError):
        sse_message("list", "two\nlines")
