"""Per-user online state: what one user's swipes changed on top of the artifact (pure).

The artifact already knows each trained user's history and vector, so the state holds only
the delta: the vector after the newest swipe, the recent swipes (oldest first, bounded:
``MAX_SWIPES``, never a catalogue-length array), the recent event ids (for de-duplication),
the time of the last swipe, and which model version and strategy computed the vector. It
serialises to compact JSON bytes for the Faust/RocksDB table and its changelog.

Byte format: a JSON object. Version 1 (no ``"f"`` key) is what workers wrote before the
strategy tag existed; it still loads, with ``strategy = ""`` ("unknown": its vector is taken
as the serving strategy's, as those workers did). Version 2 adds ``"f": 2`` and ``"s"``, the
strategy whose rule computed ``vector``. A newer version than this code knows is refused.
"""
from __future__ import annotations

import binascii
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from pydantic_core import from_json, to_json

from online.frozen import unchecked

MAX_SWIPES = 500
MAX_EVENT_IDS = 256
FORMAT_VERSION = 2


def _b64(a: np.ndarray) -> str:
    return binascii.b2a_base64(np.ascontiguousarray(a).tobytes(), newline=False).decode("ascii")


def _unb64(s: str, dtype: npt.DTypeLike) -> np.ndarray:
    """A read-only array over the decoded bytes (states are never changed in place)."""
    return np.frombuffer(binascii.a2b_base64(s), dtype=dtype)


def _appended(a: np.ndarray, value: int, dtype: type[np.generic], keep: int) -> np.ndarray:
    """(min(n, keep) + 1,) the newest ``keep`` of ``a`` then ``value`` (fewer numpy calls than
    a concatenate and a cast)."""
    old = a[-keep:] if len(a) > keep else a
    out = np.empty(len(old) + 1, dtype)
    out[:-1] = old
    out[-1] = value
    return out


@dataclass(frozen=True)
class UserState:
    """One user's online state.

    Attributes:
        user_id: the app's / MovieLens user id.
        vector: (k,) float32 after the latest swipe, or None (use the artifact's, or cold start).
        movies: (n,) int64 MovieLens ids of the movies swiped, oldest first, at most
            ``MAX_SWIPES`` (ids, not indices, so the state outlives a model version).
        preferences: (n,) int8 in {-2, -1, 1, 2}, aligned with ``movies``.
        last_event_at: unix seconds of the newest applied swipe (0 = none).
        event_ids: the newest applied event ids (hex), at most ``MAX_EVENT_IDS``.
        n_events: swipes applied in total.
        model_version: the artifact version ``vector`` belongs to.
        strategy: the strategy whose rule computed ``vector`` ("" = unknown: a version-1 state).
    """

    user_id: int
    vector: npt.NDArray[np.float32] | None = None
    movies: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    preferences: npt.NDArray[np.int8] = field(default_factory=lambda: np.zeros(0, np.int8))
    last_event_at: float = 0.0
    event_ids: tuple[str, ...] = ()
    n_events: int = 0
    model_version: str = ""
    strategy: str = ""

    @classmethod
    def of(cls, user_id: int, vector: npt.NDArray[np.float32] | None, movies: npt.NDArray[np.int64],
           preferences: npt.NDArray[np.int8], last_event_at: float, event_ids: tuple[str, ...], n_events: int,
           model_version: str, strategy: str) -> UserState:
        """``UserState(...)`` of all nine fields, without the dataclass ``__init__``
        (``online.frozen``: the worker builds a state per swipe)."""
        return unchecked(cls, user_id=user_id, vector=vector, movies=movies, preferences=preferences,
                         last_event_at=last_event_at, event_ids=event_ids, n_events=n_events,
                         model_version=model_version, strategy=strategy)

    def has_seen_event(self, event_id: str | None) -> bool:
        return event_id is not None and event_id in self.event_ids

    def with_swipe(
        self, movie: int, preference: int, occurred_at: float, event_id: str | None,
        vector: npt.NDArray[np.float32] | None, model_version: str, strategy: str = "",
    ) -> UserState:
        """A new state with one more swipe (bounded histories drop their oldest entries)."""
        keep = MAX_SWIPES - 1  # the newest keep, then the new swipe
        ids = (self.event_ids + ((event_id,) if event_id else ()))[-MAX_EVENT_IDS:]
        return UserState.of(self.user_id, vector, _appended(self.movies, movie, np.int64, keep),
                             _appended(self.preferences, preference, np.int8, keep),
                             max(self.last_event_at, occurred_at), ids, self.n_events + 1, model_version, strategy)

    def to_bytes(self) -> bytes:
        """Format-2 JSON bytes (see the module docstring)."""
        payload = {
            "f": FORMAT_VERSION,
            "u": self.user_id,
            "v": None if self.vector is None else _b64(self.vector.astype(np.float32)),
            "m": _b64(self.movies.astype(np.int64)),
            "p": _b64(self.preferences.astype(np.int8)),
            "t": self.last_event_at,
            "e": list(self.event_ids),
            "n": self.n_events,
            "mv": self.model_version,
            "s": self.strategy,
        }
        return to_json(payload)

    @classmethod
    def from_bytes(cls, data: bytes) -> UserState:
        """Read format 1 or 2; ValueError on a newer format."""
        d = from_json(data)
        version = int(d.get("f", 1))
        if version > FORMAT_VERSION:
            raise ValueError(f"user state format {version} is newer than this code's {FORMAT_VERSION}")
        return cls(
            user_id=int(d["u"]),
            vector=None if d["v"] is None else _unb64(d["v"], np.float32),
            movies=_unb64(d["m"], np.int64),
            preferences=_unb64(d["p"], np.int8),
            last_event_at=float(d["t"]),
            event_ids=tuple(d["e"]),
            n_events=int(d["n"]),
            model_version=str(d["mv"]),
            strategy=str(d.get("s", "")),
        )
