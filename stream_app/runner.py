"""Start and stop stream workers as child processes (for the demo, tests, benchmarks, replay).

A worker is ``python -m faust -A stream_app.app worker`` with its settings passed as
``MOVIEREC_*`` environment variables, so it runs exactly as in production.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stream_app.admin import ensure_topics
from stream_app.readiness import READY_MARK
from stream_app.settings import StreamSettings


class WorkerError(RuntimeError):
    """The worker did not become ready, or exited."""


@dataclass
class WorkerProcess:
    """One worker process.

    Attributes:
        env: ``MOVIEREC_*`` settings (without the prefix, e.g. ``{"ARTIFACTS": "..."}``).
        log_path: the worker's combined stdout/stderr.
        loglevel: Faust's log level; readiness is read from the log, so "info" or "debug".
    """

    env: dict[str, str]
    log_path: Path
    loglevel: str = "info"
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self, timeout_s: float = 90.0, until: str = READY_MARK) -> WorkerProcess:
        """Create the topics, spawn the worker and wait until it logs ``until`` (default: ready)."""
        settings_env = {f"MOVIEREC_{k}": str(v) for k, v in self.env.items()}
        s = self.settings()
        ensure_topics(s.connection(), s.topic_partitions())
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "faust", "-A", "stream_app.app", "worker", "-l", self.loglevel],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **settings_env},
            cwd=Path(__file__).resolve().parents[1], start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            text = self._log_since(offset)
            if until in text:
                return self
            if self.proc.poll() is not None:
                raise WorkerError(f"worker exited with {self.proc.returncode}:\n{text[-3000:]}")
            time.sleep(0.2)
        self.kill()
        raise WorkerError(f"worker not ready after {timeout_s:.0f}s:\n{self._log_since(offset)[-3000:]}")

    def settings(self) -> StreamSettings:
        """The worker's settings: ``env`` (nested names too, e.g. ``KAFKA__SASL_PASSWORD``) over
        this process's ``MOVIEREC_*`` environment, which the worker inherits."""
        fields: dict[str, Any] = {}
        for name, value in self.env.items():
            *outer, last = name.lower().split("__")
            level = fields
            for part in outer:
                level = level.setdefault(part, {})
            level[last] = str(value)
        return StreamSettings(**fields)

    def _log_since(self, offset: int) -> str:
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM (Faust shuts down cleanly, committing offsets), SIGKILL after the timeout."""
        if not self.running:
            return None if self.proc is None else self.proc.returncode
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return self.kill()

    def kill(self) -> int | None:
        """SIGKILL: no shutdown, nothing flushed or committed (the crash test)."""
        if not self.running:
            return None if self.proc is None else self.proc.returncode
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        return self.proc.wait(10)

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
