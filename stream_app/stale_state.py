"""Local table state that the changelog does not back is discarded and rebuilt.

Each RocksDB partition store remembers the last changelog offset it applied. If that
offset lies beyond the changelog's end, the store was written against another broker (a
recreated cluster, a data dir copied from elsewhere) and faust stops the worker with
``ConsistencyError``. The changelog is the source of truth: such a partition's local store
is emptied, a warning is logged, and recovery rebuilds it from the changelog.

A store can also hold keys without an applied offset (written, then stopped before faust
recorded the offset), so offsets alone cannot tell another cluster's state from this one's:
the data dir also records the id of the cluster it was written against, and a worker that
starts against another cluster discards its whole local state (``forget_other_cluster``).
"""
from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from faust.types import TP

log = logging.getLogger(__name__)


CLUSTER_FILE = "kafka_cluster_id"


def forget_other_cluster(state_dir: Path, cluster_id: str) -> bool:
    """Empty ``state_dir`` (the app's faust data dir) if it was written against another Kafka
    cluster; record ``cluster_id`` there. Returns True when state was discarded.

    A data dir without a record (first start, or kept from before this check) is kept.
    """
    marker = Path(state_dir) / CLUSTER_FILE
    before = marker.read_text().strip() if marker.is_file() else None
    discarded = before is not None and before != cluster_id
    if discarded:
        log.warning("local state in %s was written against Kafka cluster %s, not %s (this broker): "
                    "discarded, rebuilding from the changelog", state_dir, before, cluster_id)
        shutil.rmtree(state_dir)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(cluster_id + "\n")
    return discarded


def stale_partitions(local_offsets: dict[TP, int], highwaters: dict[TP, int | None]) -> list[TP]:
    """Partitions whose locally applied offset is at or past the changelog's end (high watermark)."""
    return sorted((tp for tp, local in local_offsets.items()
                   if local >= 0 and (hw := highwaters.get(tp)) is not None and local >= hw),
                  key=lambda tp: (tp.topic, tp.partition))


def empty_partition_store(store: Any, partition: int) -> int:
    """Delete every key (the applied offset too) of one partition of a faust RocksDB store;
    returns how many. Other stores keep nothing on disk: nothing to do (0)."""
    if not hasattr(store, "_db_for_partition"):
        return 0
    db = store._db_for_partition(partition)
    keys = list(db.keys())
    for key in keys:
        db.delete(key)
    index = getattr(store, "_key_index", {})
    for key in [k for k, p in index.items() if p == partition]:
        del index[key]
    return len(keys)


def install(recovery: Any) -> None:
    """Wrap ``recovery._build_offsets`` (faust-streaming 0.15 ``Recovery``): after faust reads
    each partition's local offset, empty the stores that are ahead of their changelog and
    start those partitions from the changelog's beginning."""
    original = recovery._build_offsets

    async def build_offsets(consumer: Any, tps: Iterable[TP], destination: Any, title: str) -> None:
        tps = set(tps)
        await original(consumer, tps, destination, title)
        if not tps:
            return
        highwaters = await consumer.highwaters(*tps)
        stale = stale_partitions({tp: destination[tp] for tp in tps}, highwaters)
        if not stale:
            return
        earliest = await consumer.earliest_offsets(*stale)
        for tp in stale:
            table = recovery.tp_to_table[tp]
            dropped = empty_partition_store(table.data, tp.partition)
            log.warning("local state of %s[%d] (%s) is at offset %d but the changelog ends at %s: it was "
                        "written against another broker; discarded %d keys, rebuilding from the changelog",
                        tp.topic, tp.partition, title, destination[tp], highwaters.get(tp), dropped)
            first = earliest.get(tp)
            destination[tp] = first - 1 if first is not None else -1

    recovery._build_offsets = build_offsets
