"""JSON log lines and the Prometheus exposition of the worker."""
from __future__ import annotations

import json
import logging

from prometheus_client import generate_latest

from stream_app import metrics
from stream_app.logging_setup import JsonFormatter, log_handlers


def test_json_formatter_writes_one_object_per_line() -> None:
    record = logging.LogRecord("stream_app.app", logging.WARNING, __file__, 1, "dead-lettered %s", ("x",), None)
    line = JsonFormatter().format(record)
    payload = json.loads(line)
    assert payload["level"] == "WARNING" and payload["message"] == "dead-lettered x"
    assert payload["logger"] == "stream_app.app" and "T" in payload["time"]
    assert "\n" not in line


def test_handlers_only_when_json_asked() -> None:
    assert log_handlers("text") == []
    (handler,) = log_handlers("json")
    assert isinstance(handler.formatter, JsonFormatter)


def test_metrics_exposition_names() -> None:
    metrics.EVENTS.labels("applied").inc(0)
    text = generate_latest(metrics.REGISTRY).decode()
    for name in ("movierec_swipes_total", "movierec_update_seconds", "movierec_publish_seconds", "movierec_batch_size"):
        assert name in text
