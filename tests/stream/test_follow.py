"""The list follows what the user swipes now, through the real worker with default settings
(issue 10): four liked Animation films turn a new user's list and a known user's list."""
from __future__ import annotations

import json
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest

from offline.artifacts import load_version
from online.settings import DEFAULT_STRATEGY
from schemas.events import SwipeEvent
from tests.stream.test_worker import send_and_wait

pytestmark = pytest.mark.integration
GENRE = "Animation"


@pytest.fixture(scope="module")
def movies(small_artifacts: Path) -> pd.DataFrame:
    """The catalogue, most-liked first (the artifact's popularity counts)."""
    art = load_version(small_artifacts)
    pop = art.tables["popularity"].sort_values(["positive_count", "movie_id"], ascending=[False, True])
    return art.tables["movies"].set_index("movie_id").loc[pop["movie_id"]]


def animation(movies: pd.DataFrame, ids: list[int]) -> int:
    return sum(GENRE in movies.at[m, "genres"].split("|") for m in ids)


def http_list(worker, user: int, n: int = 10) -> list[int]:
    url = f"http://127.0.0.1:{worker.env['WEB_PORT']}/users/{user}/recommendations?n={n}"
    with urllib.request.urlopen(url, timeout=10) as r:
        return [it["movie_id"] for it in json.loads(r.read())["items"]]


def loves(user: int, films: list[int]) -> list[SwipeEvent]:
    t0 = datetime(2024, 6, 1, tzinfo=timezone.utc)
    return [SwipeEvent(user_id=user, movie_id=m, preference=4, occurred_at=t0 + timedelta(minutes=i))
            for i, m in enumerate(films)]


def test_four_liked_animation_films_turn_both_lists(kafka_bootstrap, worker_factory, movies, small_artifacts) -> None:
    worker = worker_factory()  # default settings: the default strategy
    art = load_version(small_artifacts)
    in_genre = [int(m) for m in movies.index if GENRE in movies.at[m, "genres"].split("|")]

    new_user = 10_000_900
    lists = send_and_wait(kafka_bootstrap, worker, events := loves(new_user, in_genre[:4]))
    last = lists[events[-1].event_id]
    top10 = [it.movie_id for it in last.items][:10]
    assert last.strategy == DEFAULT_STRATEGY
    assert animation(movies, top10) >= 5, [movies.at[m, "title"] for m in top10]

    rated = set(pd.concat([art.tables[p] for p in ("train", "val", "test")]).query("user_id == 1")["movie_id"])
    before = http_list(worker, 1)
    picks = [m for m in in_genre if m not in rated][:4]
    lists = send_and_wait(kafka_bootstrap, worker, events := loves(1, picks))
    after = [it.movie_id for it in lists[events[-1].event_id].items][:10]
    assert http_list(worker, 1) == after
    replaced = len(set(before) - set(after))
    assert replaced >= 4, ([movies.at[m, "title"] for m in before], [movies.at[m, "title"] for m in after])
