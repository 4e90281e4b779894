"""The A/B report read from real topics (stream_app.ab_kafka) and `movierec ab report`."""
from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Producer
from typer.testing import CliRunner

from schemas.events import RecommendationList, SwipeEvent
from stream_app.ab_kafka import kafka_ab_report

pytestmark = pytest.mark.integration
T0 = 1_700_000_000_000  # ms


def _list(user: int, variant: str, movies: list[int]) -> bytes:
    return RecommendationList.from_ranked(user, movies, [1.0 / r for r in range(1, len(movies) + 1)],
                                          model_version="v-test", strategy="foldin", variant=variant).to_bytes()


def _swipe(user: int, movie: int, preference: int) -> bytes:
    return SwipeEvent(user_id=user, movie_id=movie, preference=preference).to_bytes()


@pytest.fixture
def experiment(kafka_bootstrap: str, topic_factory: Callable[..., str]) -> tuple[str, str]:
    """Fresh (recommendations, swipes) topics holding a small experiment, produced out of time order."""
    recs, swipes = topic_factory("recs", partitions=2), topic_factory("swipes", partitions=2)
    # (topic, user, ms after T0, value); swipes go first so only the timestamps give the order
    messages = [
        (swipes, 1, 2000, _swipe(1, 11, 4)),    # user 1 champion: list@1000 hit
        (swipes, 1, 4000, _swipe(1, 13, 4)),    # list@3000 [12] missed
        (swipes, 2, 1500, _swipe(2, 20, 3)),    # user 2 challenger: list@1000 hit
        (swipes, 2, 2500, _swipe(2, 21, 2)),    # list@2000 [21] missed (a dislike)
        (swipes, 3, 500, _swipe(3, 30, 4)),     # user 3 challenger: the like is before the list: miss
        (recs, 1, 1000, _list(1, "champion", [10, 11])),
        (recs, 1, 3000, _list(1, "champion", [12])),
        (recs, 2, 1000, _list(2, "challenger", [20])),
        (recs, 2, 2000, _list(2, "challenger", [21])),
        (recs, 3, 600, _list(3, "challenger", [30])),
        (recs, 3, 700, b"not a list"),
    ]
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for topic, user, ms, value in messages:
        producer.produce(topic, key=str(user).encode(), value=value, timestamp=T0 + ms)
    assert producer.flush(20) == 0
    return recs, swipes


def _expected_z() -> tuple[float, float]:
    x1, n1, x2, n2 = 1, 2, 1, 3  # champion 1/2, challenger 1/3
    p = (x1 + x2) / (n1 + n2)
    z = (x2 / n2 - x1 / n1) / math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
    return z, math.erfc(abs(z) / math.sqrt(2))


def test_report_from_topics(kafka_bootstrap: str, experiment: tuple[str, str]) -> None:
    recs, swipes = experiment
    report, summary = kafka_ab_report(kafka_bootstrap, within=3, recommendations_topic=recs, swipes_topic=swipes,
                                      timeout=20)
    assert (summary.lists, summary.swipes, summary.malformed, summary.complete) == (5, 5, 1, True)
    champ, chall = report.variant("champion"), report.variant("challenger")
    assert report.control == "champion" and (champ.n, champ.hits, chall.n, chall.hits) == (2, 1, 3, 1)
    assert (chall.z, chall.p) == pytest.approx(_expected_z())
    assert (report.overall.n, report.overall.hits) == (5, 2)


def test_cli_report_writes_json(kafka_bootstrap: str, experiment: tuple[str, str], tmp_path: Path) -> None:
    from movierec_cli.ab_cmd import app

    recs, swipes = experiment
    out = tmp_path / "ab.json"
    result = CliRunner().invoke(app, ["report", "--bootstrap", kafka_bootstrap, "--within", "1", "--json", str(out),
                                      "--recommendations-topic", recs, "--swipes-topic", swipes])
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert payload["within"] == 1 and payload["read"] == {"lists": 5, "swipes": 5, "malformed": 1, "complete": True}
    assert payload["variants"]["champion"]["hits"] == 1 and payload["variants"]["challenger"]["hits"] == 1
    assert payload["overall"]["rate"] == pytest.approx(2 / 5) and "challenger" in result.output
