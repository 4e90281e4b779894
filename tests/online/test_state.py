"""UserState bytes: format 2 round-trips with its strategy tag; format 1 (before the tag) loads."""
from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from online.state import FORMAT_VERSION, UserState


def test_round_trip_keeps_the_strategy_tag() -> None:
    s = UserState(7).with_swipe(1, 2, 1.6e9, "a", np.arange(4, dtype=np.float32), "v1", "recency")
    back = UserState.from_bytes(s.to_bytes())
    assert back.strategy == "recency" and back.model_version == "v1"
    assert json.loads(s.to_bytes())["f"] == FORMAT_VERSION == 2
    np.testing.assert_array_equal(back.vector, s.vector)


def test_format_1_bytes_still_load_with_an_unknown_strategy() -> None:
    """Bytes as workers wrote them before the tag existed (RocksDB files, changelog topics)."""
    b64 = lambda a: base64.b64encode(a.tobytes()).decode()  # noqa: E731
    v1 = json.dumps({"u": 3, "v": b64(np.ones(2, np.float32)), "m": b64(np.array([10, 20], np.int64)),
                     "p": b64(np.array([2, -1], np.int8)), "t": 5.0, "e": ["x"], "n": 2, "mv": "old"}).encode()
    s = UserState.from_bytes(v1)
    assert s.strategy == "" and s.movies.tolist() == [10, 20] and s.preferences.tolist() == [2, -1]
    assert s.vector.tolist() == [1.0, 1.0] and s.model_version == "old" and s.n_events == 2


def test_a_newer_format_is_refused() -> None:
    data = json.loads(UserState(1).to_bytes())
    data["f"] = FORMAT_VERSION + 1
    with pytest.raises(ValueError, match="newer"):
        UserState.from_bytes(json.dumps(data).encode())
