"""Settings of the stream processes, from the environment (prefix ``MOVIEREC_``, nesting ``__``).

Examples::

    MOVIEREC_BOOTSTRAP_SERVERS=kafka:9092
    MOVIEREC_STRATEGY=additive
    MOVIEREC_ADDITIVE__STEP=0.05
"""
from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from online.settings import AdditiveSettings, OnlineSettings
from schemas import topics
from stream_app.kafka_config import KafkaConnection, KafkaSecurity

_WILDCARDS = ("0.0.0.0", "::", "")
ONLINE_TUNING_FILE = "online_tuning.json"
"""Written by ``movierec replay tune`` into ``ARTIFACTS/<version>/``; read by the worker."""


class StreamSettings(BaseSettings, OnlineSettings):
    """One process's connection and behaviour settings (the online rules' fields, ``strategy``,
    ``additive``, ``recency``, ... come from ``online.settings.OnlineSettings``)."""

    # hide_input_in_errors: an error in ``kafka`` would otherwise print the SASL password
    model_config = SettingsConfigDict(env_prefix="MOVIEREC_", env_nested_delimiter="__", extra="ignore",
                                      use_attribute_docstrings=True, hide_input_in_errors=True)

    bootstrap_servers: str = "127.0.0.1:9092"
    """Kafka bootstrap servers, comma-separated host:port."""
    kafka: KafkaSecurity = KafkaSecurity()
    """TLS and SASL of every Kafka client (``MOVIEREC_KAFKA__SECURITY_PROTOCOL`` ...; see
    ``stream_app/kafka_config.py``)."""
    swipes_topic: str = topics.SWIPES
    recommendations_topic: str = topics.RECOMMENDATIONS
    dlq_topic: str = topics.SWIPES_DLQ
    models_topic: str = topics.MODELS
    partitions: int = Field(4, ge=1)
    """Partitions of the topics this app creates (and of its changelog topics)."""
    artifacts: Path = Path("artifacts")
    """Directory of the offline model artifacts (factors + manifest)."""
    top_n: int = Field(20, ge=1)
    """Length of each RecommendationList."""
    app_id: str = "movierec"
    """Faust application id (consumer group and table changelog prefix)."""
    artifact_version: str | None = None
    """Serve this artifact version instead of the one the LATEST pointer names."""
    batch_size: int = Field(128, ge=1)
    """At most this many swipes are processed (and scored) together."""
    batch_within: float = Field(0.01, gt=0)
    """Seconds to wait for a batch to fill before processing what arrived."""
    max_clock_skew: float = Field(300.0, ge=0)
    """Seconds a swipe's ``occurred_at`` may lie ahead of this process's clock; a later one is
    dead-lettered by the worker and answered 400 over HTTP (a future time would freeze the
    user's time decay until it passes)."""
    swipe_ack_timeout: float = Field(5.0, gt=0)
    """Seconds ``POST /swipes`` waits for the broker to acknowledge a swipe; past it: 503."""
    delivery_timeout: float = Field(60.0, gt=0)
    """Seconds to wait for the broker to acknowledge a batch's output; past it the worker
    stops (the batch is not committed, so it is processed again after a restart)."""
    state_cache_users: int = Field(20_000, ge=0)
    """Decoded states of this many recently written users kept beside the table, so that a
    user's next swipe skips the RocksDB read and decoding (``stream_app/state_cache.py``;
    emptied at every rebalance); 0: read the table every time."""
    batches_in_flight: int = Field(4, ge=1)
    """Processed batches that may await the broker's acknowledgement at once (the worker
    goes on with the next batch meanwhile)."""
    client_id: str | None = None
    """Kafka client id of the worker's consumer and producers (e.g. for broker quotas: the
    output producer shares it); None: faust's default, and ``<app_id>-output`` for the output."""
    session_timeout: float = Field(20.0, ge=6.0)
    """Seconds without a heartbeat after which the broker drops a worker from the group: a
    worker restarted after a crash waits this long for the dead one's partitions (measured:
    served again 18 s after the restart began). Heartbeats come from the consumer's own thread,
    so a busy event loop does not miss them; Kafka's own default is 45 s."""
    group_instance_id: str | None = None
    """Static group membership (``group.instance.id``, unique per worker), or None (default):
    dynamic membership. With an id, a restarted worker takes its partitions back at once
    (measured: served again in 5 s); experimental: in one of five full test runs the SIGKILL
    test lost swipes after such a restart (not reproduced in nine more; cause unknown)."""
    shutdown_timeout: float = Field(8.0, gt=0)
    """Seconds after SIGTERM/SIGINT within which the worker exits, even when the broker is gone
    (uncommitted batches are processed again after a restart)."""
    standby_replicas: int = Field(1, ge=0)
    """Standby copies of each table partition kept by other workers (faster failover)."""
    producer_max_batch_size: int = Field(16384, ge=1)
    """Upper bound in bytes of one producer batch per partition."""
    producer_linger: float = Field(0.005, ge=0)
    """Seconds the producer waits to fill a batch before sending it (faust ``producer_linger``,
    Kafka ``linger.ms``); 0 sends a request per message as soon as it can, which cost the broker
    a core on tiny requests. 5 ms: chosen by measurement (BENCHMARKS.md section 4, issue 11)."""
    fetch_max_wait: float = Field(0.1, gt=0, le=1.5)
    """Seconds the broker may hold the worker's fetch when its partitions have no new data
    (faust fixes 1.5 s, which stalled every swipe partition behind a fetch of faust's idle
    leader topic: ``stream_app/fetch_wait.py``)."""
    gil_switch_interval: float = Field(0.001, gt=0, le=0.1)
    """Seconds a thread may hold the GIL while another waits (``sys.setswitchinterval``;
    Python's default 0.005). The worker's event loop shares it with faust's consumer thread
    and the output's delivery-report thread; 1 ms measured better throughput and p99 at
    1,000 swipes/s than 5 ms (BENCHMARKS.md section 4, issue 11 fourth session)."""
    gc_freeze: bool = True
    """Freeze the heap after start-up and each model load (``gc.freeze``: full collections skip
    what the worker holds for good). Without it each full collection held the worker 16-111 ms
    at 1,000 swipes/s (BENCHMARKS.md section 4, issue 11 fifth session); ``stream_app/gc_pauses.py``."""
    output_client: Literal["librdkafka", "faust"] = "librdkafka"
    """Client that sends the agent's output (lists, state changelog, dead letters): librdkafka
    (confluent-kafka; sends and delivery reports off the event loop, measured faster in
    BENCHMARKS.md section 4) or faust's own producer (aiokafka, on the event loop)."""
    challenger_share: float = Field(0.5, ge=0.0, le=1.0)
    """Share of users (by a hash of user_id) served by the challenger while one is set."""
    history: Literal["train", "train+val", "all"] = "all"
    """Artifact splits that count as each user's known history (seen movies, fold-in base)."""
    web_host: str = "127.0.0.1"
    """Host name or address other workers (and the app server) reach this worker's HTTP API
    at: a user's request is forwarded to ``http://<web_host>:<web_port>`` of the worker that
    owns the user. Left unset with a wildcard ``web_bind``: this machine's host name."""
    web_bind: str | None = None
    """Address the HTTP server listens on (``0.0.0.0``: every interface); None: ``web_host``."""
    web_port: int = Field(6066, ge=1, le=65535)
    api_token: SecretStr | None = None
    """Bearer token that ``POST /swipes`` and ``/users/...`` require (``Authorization: Bearer
    <token>``); None or empty: no token needed. ``/health`` and ``/metrics`` stay open."""
    log_format: Literal["text", "json"] = "text"
    store: str = "rocksdb://"
    """Faust table store: ``rocksdb://`` or ``memory://`` (tests)."""
    data_dir: Path = Path(".movierec/faust")
    """Faust's data directory (RocksDB tables live in DATA_DIR/APP_ID)."""
    history_dir: Path = Path(".movierec/history")
    """Where the history sink writes every valid swipe (``date=YYYY-MM-DD/part-*.parquet``)."""

    @field_validator("api_token", mode="before")
    @classmethod
    def _empty_token_is_none(cls, value: Any) -> Any:
        return None if value in ("", None) else value

    @field_validator("web_host")
    @classmethod
    def _not_a_wildcard(cls, value: str) -> str:
        """A wildcard is a bind address, never one to advertise: other workers would forward
        to themselves (every worker would answer every user from its own, wrong, state)."""
        if value.strip("[]") in _WILDCARDS:
            raise ValueError(f"{value!r} is not an address other workers can reach: set MOVIEREC_WEB_BIND to it "
                             "(listen on every interface) and MOVIEREC_WEB_HOST to this worker's host name "
                             "(left unset, it is socket.gethostname())")
        return value

    @model_validator(mode="after")
    def _advertise_the_host_name(self) -> StreamSettings:
        """Bound to every interface with no ``web_host`` given: advertise the host name."""
        if "web_host" not in self.model_fields_set and self.web_bind is not None \
                and self.web_bind.strip("[]") in _WILDCARDS:
            self.web_host = socket.gethostname()
        return self

    def connection(self, bootstrap_servers: str | None = None) -> KafkaConnection:
        """The Kafka connection of every client of this process (``bootstrap_servers``, e.g. a
        CLI ``--bootstrap``, replaces the configured servers)."""
        return KafkaConnection(bootstrap_servers=bootstrap_servers or self.bootstrap_servers, security=self.kafka)

    def instance_id(self) -> str | None:
        """The worker's ``group.instance.id`` (see ``group_instance_id``), or None for dynamic membership."""
        return self.group_instance_id or None

    def topic_partitions(self) -> dict[str, int]:
        """The project's topics and their partition counts: created up front by ``movierec
        kafka start`` and by every worker, so no client's auto-create picks another count."""
        return {self.swipes_topic: self.partitions, self.recommendations_topic: self.partitions,
                self.dlq_topic: self.partitions, self.models_topic: 1}

    def with_online_tuning(self, version_dir: Path) -> StreamSettings:
        """These settings with ``version_dir/online_tuning.json``'s ``settings`` (strategy and
        the rules' knobs, ``OnlineSettings.with_tuned``) for every field not set explicitly; the
        environment and constructor arguments still win. No file: unchanged."""
        path = Path(version_dir) / ONLINE_TUNING_FILE
        if not path.is_file():
            return self
        tuned: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")).get("settings", {})
        return self.with_tuned(tuned)  # type: ignore[no-any-return]
