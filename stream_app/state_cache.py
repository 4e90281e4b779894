"""The worker's decoded user states of its recent users, beside the RocksDB table.

A swipe reads its user's state from the table (a RocksDB get of the user's partition) and
decodes it (JSON and base64), and the batch writes it back. This process is the only writer
of the states of the partitions it owns, so the state it last wrote is the table's value
until the partitions move: ``StateCache`` keeps the ``UserState`` objects it wrote (immutable:
frozen, read-only arrays) and answers the next read without the table.

It is valid for one assignment only. Any rebalance (a revoked or assigned partition, a new
consumer generation) empties it: a partition that left and came back may have been changed
by another worker, and table recovery writes the changelog into RocksDB directly. It holds
at most ``max_users`` states, dropping the least recently used.
"""
from __future__ import annotations

from online.state import UserState


class StateCache:
    """user key (bytes) -> the ``UserState`` last written for it, for one consumer generation."""

    def __init__(self, max_users: int) -> None:
        self.max_users = max_users
        self._states: dict[bytes, UserState] = {}
        self._generation: object = None

    def __len__(self) -> int:
        return len(self._states)

    def clear(self) -> None:
        """Forget every state (a rebalance)."""
        self._states.clear()

    def at_generation(self, generation: object) -> None:
        """Empty the cache when the consumer generation differs from the one it was filled in."""
        if generation != self._generation:
            self._states.clear()
            self._generation = generation

    def get(self, key: bytes) -> UserState | None:
        """The cached state, or None (not cached: read the table)."""
        state = self._states.pop(key, None)
        if state is not None:
            self._states[key] = state  # most recently used last
        return state

    def put(self, key: bytes, state: UserState) -> None:
        """Record what was just written to the table for ``key``."""
        if self.max_users <= 0:
            return
        self._states.pop(key, None)
        self._states[key] = state
        if len(self._states) > self.max_users:
            del self._states[next(iter(self._states))]  # the least recently used
