"""Which partition a user's swipes belong in, whatever client produced them.

faust, the worker's HTTP API and Java clients hash a key with murmur2; clients built on
librdkafka (confluent-kafka, kcat, Go, .NET, Node) default to CRC32. The worker keeps one
state per user by forwarding a swipe found in another partition to its key's murmur2
partition, where the owner of that user's state applies it.
"""
from __future__ import annotations

from collections.abc import Sequence

from aiokafka.partitioner import murmur2


def key_partition(key: bytes, partitions: int) -> int:
    """The partition Java's default partitioner (and faust) picks for ``key``:
    ``(murmur2(key) & 0x7fffffff) % partitions``."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def misrouted(keys: Sequence[bytes | None], partitions: Sequence[int], count: int) -> dict[int, int]:
    """``{index: right partition}`` for the messages not in their key's partition.

    A message without a key, or whose key is not a user id, stays where it is (the worker
    dead-letters it there).
    """
    out: dict[int, int] = {}
    for i, (key, partition) in enumerate(zip(keys, partitions)):
        if not key or not key.isdigit():
            continue
        right = key_partition(key, count)
        if right != partition:
            out[i] = right
    return out
