"""Fixtures of the swipe app's tests: small catalogs, the app server as a child process, a headless Chromium."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest

from offline.movies import clean_movies
from stream_app.webapp.catalog import Catalog
from tests.conftest import free_port_pair

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from stream_app.runner import WorkerProcess

PROJECT = Path(__file__).resolve().parents[3]

Rows = list[tuple[int, str, str, int]]


@pytest.fixture
def catalog_factory() -> Callable[..., Catalog]:
    """``make(rows, users=(1, 2, 3)) -> Catalog``; rows are (movie_id, MovieLens title, genres, positive_count)."""

    def make(rows: Rows, users: tuple[int, ...] = (1, 2, 3)) -> Catalog:
        movies = clean_movies(pd.DataFrame([(m, t, g) for m, t, g, _ in rows], columns=["movie_id", "title", "genres"]))
        popularity = pd.DataFrame({"movie_id": [m for m, *_ in rows], "positive_count": [c for *_, c in rows]})
        return Catalog.from_tables(movies, popularity, np.array(users), "v1")

    return make


@pytest.fixture
def app_server_factory(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """``start(worker, **settings) -> url``: ``movierec app`` as a child process in front of a
    started ``WorkerProcess`` (same Kafka, topics and artifacts), on a free port; extra
    settings are MOVIEREC_* names without the prefix. Stopped with SIGTERM afterwards, and
    it must exit cleanly (0) within 10 s."""
    started: list[subprocess.Popen[bytes]] = []

    def start(worker: WorkerProcess, **overrides: object) -> str:
        port = free_port_pair()
        env = {**worker.env, "APP_PORT": str(port), **{k.upper(): str(v) for k, v in overrides.items()}}
        log_path = tmp_path / f"app{len(started) + 1}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", "movierec_cli.main", "app"], stdout=log,
                                    stderr=subprocess.STDOUT, env={**os.environ, **{f"MOVIEREC_{k}": v for k, v in env.items()}},
                                    cwd=PROJECT, start_new_session=True)
        started.append(proc)
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"movierec app exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url + "api/health", timeout=2) as resp:
                    if resp.status == 200:
                        return url
            except OSError:
                time.sleep(0.2)
        pytest.fail(f"movierec app not healthy after 60 s:\n{log_path.read_text()[-3000:]}")

    yield start
    codes = []
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        codes.append(proc.returncode)
    assert codes == [0] * len(started), f"movierec app did not stop cleanly on SIGTERM: exit codes {codes}"


def chromium_path() -> str | None:
    """Debian's ``chromium`` (``make install`` installs it), or ``$CHROMIUM``."""
    return os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def chromium() -> Iterator[Browser]:
    """A headless Chromium driven by Playwright (the system's browser: nothing is downloaded)."""
    path = chromium_path()
    if path is None:
        message = "no chromium on PATH: `make install` installs Debian's chromium (or set $CHROMIUM)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, headless=True)
        yield browser
        browser.close()
