"""Log handlers for the worker: plain text, or JSON lines for log shippers."""
from __future__ import annotations

import json
import logging
from datetime import datetime, timezone


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (+ exception)."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload)


def log_handlers(log_format: str) -> list[logging.Handler]:
    """Extra handlers for Faust's ``loghandlers`` setting: a JSON stderr handler when asked."""
    if log_format != "json":
        return []
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    return [handler]
