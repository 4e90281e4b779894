"""Shared fixtures: one real Kafka broker for the whole session, fresh topics per test.

Set ``KAFKA_BOOTSTRAP_SERVERS`` to use a running broker instead of starting one.
"""
from __future__ import annotations

import os
import random
import shutil
import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from stream_app import local_kafka

if TYPE_CHECKING:
    from stream_app.runner import WorkerProcess


@dataclass(frozen=True)
class SessionBroker:
    bootstrap: str
    state_dir: Path | None  # None: an external broker (KAFKA_BOOTSTRAP_SERVERS)
    port: int | None


def free_port_pair(host: str = local_kafka.HOST) -> int:
    """A free port p with p + 1 free too (the local broker's controller listens on p + 1).

    Drawn below the kernel's ephemeral range (``ip_local_port_range``, 32768+ here): a port
    bind(0) hands out is one that the many outgoing Kafka connections of the test processes
    can take as their source port before the broker binds it ("Unable to start acceptor").
    """
    low, _ = _ephemeral_range()
    rng = random.Random()  # not seeded on purpose: concurrent test sessions must not collide
    for _ in range(200):
        port = rng.randrange(10_000, low - 1)
        try:
            with socket.socket() as first, socket.socket() as second:
                first.bind((host, port))
                second.bind((host, port + 1))
        except OSError:
            continue
        return port
    raise RuntimeError("no free pair of ports found")


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = (int(x) for x in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
        return low, high
    except (OSError, ValueError):
        return 32768, 60999


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SessionBroker]:
    """The session's broker: ``$KAFKA_BOOTSTRAP_SERVERS`` or a local one on a free port."""
    if external := os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield SessionBroker(external, None, None)
        return
    if shutil.which("java") is None:
        pytest.skip("no `java` on PATH and no KAFKA_BOOTSTRAP_SERVERS: cannot run a Kafka broker")
    if shutil.which("mvn") is None and not (local_kafka.default_libs_dir() / ".complete").is_file():
        pytest.skip("no `mvn` on PATH to fetch the Kafka jars (or set KAFKA_BOOTSTRAP_SERVERS)")
    state_dir = tmp_path_factory.mktemp("kafka")
    port = free_port_pair()
    try:
        result = local_kafka.start(port=port, state_dir=state_dir, timeout_s=120)
        yield SessionBroker(result.status.bootstrap or f"{local_kafka.HOST}:{port}", state_dir, port)
    finally:
        local_kafka.stop(state_dir)


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: SessionBroker) -> str:
    """``host:port`` of the session's broker."""
    return kafka_broker.bootstrap


@pytest.fixture
def topic_factory(kafka_bootstrap: str) -> Iterator[Callable[..., str]]:
    """``make(prefix="test", partitions=1) -> name``: a fresh topic per call, deleted afterwards."""
    from confluent_kafka.admin import AdminClient

    from stream_app.admin import ensure_topics

    created: list[str] = []

    def make(prefix: str = "test", partitions: int = 1) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        ensure_topics(kafka_bootstrap, {name: partitions})
        created.append(name)
        return name

    yield make
    if created:  # best effort: an external broker should not fill up with test topics
        # Keep the client referenced until its futures resolve (a client collected mid-request
        # may leave them pending), and bound each wait: cleanup must never hang the suite.
        admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
        futures = admin.delete_topics(created, operation_timeout=10, request_timeout=15)
        for future in futures.values():
            try:
                future.result(timeout=30)
            except Exception:  # noqa: BLE001
                pass
        del admin


ML_SMALL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ml-latest-small"


@pytest.fixture
def producer_quota(kafka_bootstrap: str) -> Iterator[Callable[[str, int], None]]:
    """``throttle(client_id, bytes_per_s)``: a broker quota on that client's produce rate
    (Kafka's own ConfigCommand from the broker's jars), removed afterwards."""
    import subprocess

    throttled: list[str] = []

    def config(client_id: str, change: list[str]) -> None:
        java = shutil.which("java")
        assert java is not None, "java is needed to set a broker quota"
        cmd = [java, "-cp", f"{local_kafka.fetch()}/*", "kafka.admin.ConfigCommand", "--bootstrap-server",
               kafka_bootstrap, "--alter", *change, "--entity-type", "clients", "--entity-name", client_id]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stdout + done.stderr

    def throttle(client_id: str, bytes_per_s: int) -> None:
        config(client_id, ["--add-config", f"producer_byte_rate={bytes_per_s}"])
        throttled.append(client_id)

    yield throttle
    for client_id in throttled:
        config(client_id, ["--delete-config", "producer_byte_rate"])


@pytest.fixture(scope="session")
def ml_small() -> Path:
    """Real MovieLens (ml-latest-small) from ../shared/data; the suite needs it."""
    if not (ML_SMALL / "ratings.csv").is_file():
        pytest.fail(f"{ML_SMALL} is missing: tests read MovieLens from ../shared/data")
    return ML_SMALL


@pytest.fixture(scope="session")
def small_artifacts(tmp_path_factory: pytest.TempPathFactory, ml_small: Path) -> Path:
    """An artifacts root holding one version trained on ml-latest-small (built once)."""
    from offline.pipeline import run_pipeline

    root = tmp_path_factory.mktemp("artifacts")
    run_pipeline(ml_small, root, show_progress=False)
    return root


@pytest.fixture
def worker_factory(
    kafka_bootstrap: str, small_artifacts: Path, tmp_path: Path
) -> Iterator[Callable[..., "WorkerProcess"]]:
    """``make(**settings) -> WorkerProcess`` (started): a worker on fresh topics, app id,
    data dir and web port; extra settings are MOVIEREC_* names without the prefix, lower case.
    Calls within one test make workers of one group (same topics and app id), each with its
    own data dir, log and web port."""
    from stream_app.runner import WorkerProcess

    workers: list[WorkerProcess] = []
    run = uuid.uuid4().hex[:8]

    def make(**overrides: object) -> WorkerProcess:
        suffix = f"-{len(workers) + 1}" if workers else ""
        env = {
            "BOOTSTRAP_SERVERS": kafka_bootstrap,
            "ARTIFACTS": str(small_artifacts),
            "SWIPES_TOPIC": f"swipes-{run}",
            "RECOMMENDATIONS_TOPIC": f"recs-{run}",
            "DLQ_TOPIC": f"dlq-{run}",
            "MODELS_TOPIC": f"models-{run}",
            "APP_ID": f"movierec-{run}",
            "DATA_DIR": str(tmp_path / f"faust{suffix}"),
            "WEB_PORT": str(free_port_pair()),
            "PARTITIONS": "2",
            "STORE": "rocksdb://",
        }
        env.update({k.upper(): str(v) for k, v in overrides.items()})
        worker = WorkerProcess(env, tmp_path / f"worker{suffix}.log").start()
        workers.append(worker)
        return worker

    yield make
    for w in workers:
        w.stop()
