"""The pure rules behind the worker's reliability: topic layout, stale local state, key
routing, health, the shutdown deadline. The real-broker behaviour is in test_first_hour.py."""
from __future__ import annotations

import threading
import zlib
from pathlib import Path

import pytest
from aiokafka.partitioner import DefaultPartitioner
from faust.types import TP

from stream_app import worker as worker_module
from stream_app.preflight import topic_layout_problem
from stream_app.readiness import WorkerHealth, health_status
from stream_app.routing import key_partition, misrouted
from stream_app.stale_state import CLUSTER_FILE, empty_partition_store, forget_other_cluster, stale_partitions


@pytest.mark.parametrize(("existing", "problem"), [
    ({}, None),  # nothing yet: the worker creates both with the configured count
    ({"swipes": 4}, None),
    ({"swipes": 4, "changelog": 4}, None),
    ({"swipes": 1, "changelog": 1}, None),  # consistent, if not the configured count
    ({"swipes": 1}, "topic swipes has 1 partition(s) but MOVIEREC_PARTITIONS=4"),
    ({"swipes": 4, "changelog": 2}, "topic swipes has 4 partition(s) but the state changelog changelog has 2"),
])
def test_topic_layout(existing: dict[str, int], problem: str | None) -> None:
    got = topic_layout_problem(existing, source="swipes", changelog="changelog", configured=4)
    if problem is None:
        assert got is None
    else:
        assert got is not None and got.startswith(problem) and "Fix:" in got


def test_local_state_at_or_past_the_changelog_end_is_stale() -> None:
    a, b, c, d = (TP("log", p) for p in range(4))
    local = {a: 9, b: 10, c: -1, d: 3}
    highwaters = {a: 10, b: 10, c: 0, d: None}
    assert stale_partitions(local, highwaters) == [b]  # a: up to date; c: nothing local; d: unknown end


class FakeDb(dict):
    def delete(self, key: bytes) -> None:
        del self[key]


class FakeStore:
    def __init__(self) -> None:
        self.dbs = {0: FakeDb({b"1": b"x", b"__offset__": b"9"}), 1: FakeDb({b"2": b"y"})}
        self._key_index = {b"1": 0, b"2": 1}

    def _db_for_partition(self, partition: int) -> FakeDb:
        return self.dbs[partition]


def test_emptying_a_partition_store_leaves_the_others() -> None:
    store = FakeStore()
    assert empty_partition_store(store, 0) == 2
    assert store.dbs[0] == {} and store.dbs[1] == {b"2": b"y"} and store._key_index == {b"2": 1}
    assert empty_partition_store(object(), 0) == 0  # a memory store keeps nothing on disk


def test_key_partition_is_the_java_and_faust_murmur2() -> None:
    ours = [key_partition(str(u).encode(), 4) for u in range(500)]
    faust = [DefaultPartitioner()(str(u).encode(), [0, 1, 2, 3], [0, 1, 2, 3]) for u in range(500)]
    assert ours == faust


def test_misrouted_finds_swipes_a_crc32_producer_put_elsewhere() -> None:
    keys = [str(u).encode() for u in range(200)]
    crc32 = [zlib.crc32(k) % 4 for k in keys]  # librdkafka's consistent partitioner
    away = misrouted(keys, crc32, 4)
    assert away and all(crc32[i] != p == key_partition(keys[i], 4) for i, p in away.items())
    assert len(away) == sum(c != key_partition(k, 4) for k, c in zip(keys, crc32))
    assert misrouted([None, b"", b"abc", b"-5"], [3, 3, 3, 3], 4) == {}  # left for the dead-letter path


def test_health() -> None:
    h = WorkerHealth()
    assert health_status(h, broker_reachable=True, partitions_ready=True) == ("recovering", 503)
    h.model_loaded = h.watcher_started = True
    assert health_status(h, broker_reachable=True, partitions_ready=False) == ("recovering", 503)
    assert health_status(h, broker_reachable=True, partitions_ready=True) == ("ok", 200)
    assert health_status(h, broker_reachable=False, partitions_ready=True) == ("unhealthy", 503)
    h.agent_error = "PartitionsMismatch: ..."
    assert health_status(h, broker_reachable=True, partitions_ready=True) == ("unhealthy", 503)


def test_a_stop_that_hangs_is_cut_short_at_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    exited = threading.Event()
    monkeypatch.setattr(worker_module, "_exit_now", lambda why, after: exited.set())
    w = worker_module.Worker.__new__(worker_module.Worker)  # no event loop or app needed
    w.shutdown_timeout = 0.2
    w._arm_deadline("SIGTERM")
    w._arm_deadline("SIGTERM")  # a second signal does not re-arm
    assert exited.wait(5)


def test_state_written_against_another_cluster_is_discarded(tmp_path: Path) -> None:
    state = tmp_path / "movierec"
    (state / "v1" / "tables").mkdir(parents=True)
    (state / "v1" / "tables" / "user-states-0.db").write_text("old")
    assert not forget_other_cluster(state, "cluster-A")  # no record yet: kept, recorded
    assert (state / "v1" / "tables" / "user-states-0.db").exists()
    assert not forget_other_cluster(state, "cluster-A")  # same cluster: kept
    assert forget_other_cluster(state, "cluster-B")  # another cluster: discarded
    assert not (state / "v1").exists() and (state / CLUSTER_FILE).read_text().strip() == "cluster-B"
