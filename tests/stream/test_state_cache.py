"""``stream_app.state_cache``: decoded states beside the table, for one assignment."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from online.state import UserState
from stream_app.state_cache import StateCache


@pytest.fixture
def make_cache():
    """Factory: a cache of ``max_users`` filled with users 0..n-1 at generation 1."""

    def make(max_users: int = 10, n: int = 0) -> StateCache:
        cache = StateCache(max_users)
        cache.at_generation(1)
        for uid in range(n):
            cache.put(str(uid).encode(), UserState(uid))
        return cache

    return make


def test_a_written_state_is_read_back_as_the_same_object(make_cache) -> None:
    cache = make_cache()
    state = UserState(7).with_swipe(260, 2, 1.0, "e1", None, "v1", "recency")
    cache.put(b"7", state)
    assert cache.get(b"7") is state and cache.get(b"8") is None


def test_a_new_generation_or_a_rebalance_empties_it(make_cache) -> None:
    cache = make_cache(n=3)
    cache.at_generation(1)
    assert len(cache) == 3
    cache.at_generation(2)
    assert len(cache) == 0 and cache.get(b"0") is None
    cache.put(b"0", UserState(0))
    cache.clear()
    assert cache.get(b"0") is None


def test_at_most_max_users_least_recently_used_first_out(make_cache) -> None:
    cache = make_cache(max_users=3, n=3)
    assert cache.get(b"0") is not None  # 0 used again: 1 is now the oldest
    cache.put(b"3", UserState(3))
    assert len(cache) == 3 and cache.get(b"1") is None
    assert [cache.get(k) is not None for k in (b"0", b"2", b"3")] == [True, True, True]


def test_size_zero_keeps_nothing(make_cache) -> None:
    cache = make_cache(max_users=0, n=2)
    assert len(cache) == 0 and cache.get(b"0") is None


def test_the_worker_empties_its_cache_when_partitions_are_revoked_or_assigned(tmp_path: Path) -> None:
    code = """
import asyncio
import stream_app.app as w
from online.state import UserState

async def main():
    for signal in (w.app.on_partitions_revoked, w.app.on_partitions_assigned):
        w.state_cache.put(b"1", UserState(1))
        await signal.send(set())
        print(len(w.state_cache))

asyncio.run(main())
"""
    env = {**os.environ, "MOVIEREC_DATA_DIR": str(tmp_path), "MOVIEREC_STORE": "memory://"}
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["0", "0"]
