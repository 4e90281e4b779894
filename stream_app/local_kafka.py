"""A local single-node Apache Kafka broker (KRaft, combined broker+controller) from Maven jars.

No Docker needed: ``fetch()`` copies the jars of ``kafka/pom.xml`` into a cache outside git;
``start()`` writes ``server.properties`` and ``log4j.properties`` into a state directory, formats
the storage once and launches ``java ... kafka.Kafka`` detached. The state directory (config, pid
file, logs, log.dirs) is all ``stop`` and ``status`` need. The controller listens on ``port + 1``.

Optionally (``BrokerConfig.sasl``) the broker also opens client listeners that need a login:
SASL_PLAINTEXT and, with a PEM key and certificate, SASL_SSL (mechanism PLAIN, users from the
config). Inter-broker and controller traffic stay on the PLAINTEXT listeners.
"""
from __future__ import annotations

import base64
import logging
import os
import re
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

log = logging.getLogger(__name__)

KAFKA_VERSION = "3.9.1"
POM = Path(__file__).resolve().parents[1] / "kafka" / "pom.xml"
DEFAULT_STATE_DIR = Path(".movierec/kafka")
HOST = "127.0.0.1"
_COMPLETE = ".complete"  # written into the libs dir after a successful fetch, one jar a line
_SAFE = re.compile(r"[A-Za-z0-9._-]{1,64}")  # SASL user names and passwords written into the JAAS line
# KRaft combined mode, one node, replication 1; written one key=value a line (see server_properties).
_SERVER_PROPERTIES = """
process.roles=broker,controller  node.id=1  controller.quorum.voters=1@{host}:{cport}
listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{cport}  advertised.listeners=PLAINTEXT://{host}:{port}
controller.listener.names=CONTROLLER  inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
num.partitions={partitions}  default.replication.factor=1  auto.create.topics.enable=true  delete.topic.enable=true
offsets.topic.replication.factor=1  offsets.topic.num.partitions={n}  group.initial.rebalance.delay.ms=0
transaction.state.log.replication.factor=1  transaction.state.log.min.isr=1
transaction.state.log.num.partitions={n}  num.network.threads=2  num.io.threads=4
"""
# log4j 1 (reload4j): the broker logs to <state>/logs/server.log, rolled at 20 MB.
_LOG4J_PROPERTIES = """\
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File={logfile}
log4j.appender.file.MaxFileSize=20MB
log4j.appender.file.MaxBackupIndex=2
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
"""


class LocalKafkaError(RuntimeError):
    """The local broker could not be fetched, started or stopped; the message says why."""


def default_libs_dir() -> Path:
    """``$MOVIEREC_KAFKA_LIBS``, else ``$XDG_CACHE_HOME`` (or ~/.cache)/movierec/kafka-<version>/libs."""
    if env := os.environ.get("MOVIEREC_KAFKA_LIBS"):
        return Path(env).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "movierec" / f"kafka-{KAFKA_VERSION}" / "libs"


@dataclass(frozen=True)
class SaslListeners:
    """Client listeners that need a SASL PLAIN login (inter-broker traffic stays PLAINTEXT).

    Attributes:
        users: (username, password) pairs the broker accepts; letters, digits, ``._-`` only.
        port: the SASL_PLAINTEXT listener's port.
        ssl_port: the SASL_SSL listener's port (needs ``ssl_keystore``), or None for none.
        ssl_keystore: a PEM file with the broker's unencrypted PKCS#8 key and its certificate chain.
    """

    users: tuple[tuple[str, str], ...]
    port: int
    ssl_port: int | None = None
    ssl_keystore: Path | None = None

    def __post_init__(self) -> None:
        if not self.users:
            raise ValueError("SASL listeners need at least one user")
        for name, password in self.users:
            if not (_SAFE.fullmatch(name) and _SAFE.fullmatch(password)):
                raise ValueError("SASL user names and passwords: letters, digits, '.', '_', '-' only")
        if (self.ssl_port is None) != (self.ssl_keystore is None):
            raise ValueError("a SASL_SSL listener needs both ssl_port and ssl_keystore")

    def listeners(self) -> list[str]:
        """``NAME://host:port`` of each client listener."""
        out = [f"SASL_PLAINTEXT://{HOST}:{self.port}"]
        return out + ([f"SASL_SSL://{HOST}:{self.ssl_port}"] if self.ssl_port is not None else [])

    def properties(self) -> str:
        """The server.properties lines of these listeners (after the listeners themselves)."""
        users = " ".join(f'user_{name}="{password}"' for name, password in self.users)
        jaas = f"org.apache.kafka.common.security.plain.PlainLoginModule required {users};"
        lines = ["sasl.enabled.mechanisms=PLAIN", f"listener.name.sasl_plaintext.plain.sasl.jaas.config={jaas}"]
        if self.ssl_keystore is not None:
            lines += [f"listener.name.sasl_ssl.plain.sasl.jaas.config={jaas}", "ssl.keystore.type=PEM",
                      f"ssl.keystore.location={Path(self.ssl_keystore).resolve()}"]
        return "".join(f"{line}\n" for line in lines)


@dataclass(frozen=True)
class BrokerConfig:
    """Everything needed to write the broker's config files and command line."""

    port: int = 9092
    state_dir: Path = DEFAULT_STATE_DIR
    heap_mb: int = 512
    libs_dir: Path | None = None  # None: default_libs_dir()
    offsets_partitions: int = 4  # __consumer_offsets partitions; few keeps startup fast
    default_partitions: int = 4  # num.partitions of auto-created topics: the app's (StreamSettings.partitions)
    sasl: SaslListeners | None = None  # extra client listeners that need a login

    @property
    def controller_port(self) -> int:
        return self.port + 1

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    def server_properties(self) -> str:
        filled = _SERVER_PROPERTIES.format(host=HOST, port=self.port, cport=self.controller_port,
                                           n=self.offsets_partitions, partitions=self.default_partitions)
        lines = [f"{kv}\n" for kv in filled.split()]
        if self.sasl is not None:
            extra = self.sasl.listeners()
            for i, line in enumerate(lines):
                key = line.split("=", 1)[0]
                if key in ("listeners", "advertised.listeners"):
                    lines[i] = line.rstrip("\n") + "".join(f",{x}" for x in extra) + "\n"
                elif key == "listener.security.protocol.map":
                    lines[i] = line.rstrip("\n") + "".join(f",{x.split(':')[0]}:{x.split(':')[0]}" for x in extra) + "\n"
        sasl = self.sasl.properties() if self.sasl is not None else ""
        return "".join(lines) + sasl + f"log.dirs={(self.state_dir / 'data').resolve()}\n"

    def log4j_properties(self) -> str:
        return _LOG4J_PROPERTIES.format(logfile=(self.state_dir / "logs" / "server.log").resolve())


@dataclass(frozen=True)
class BrokerStatus:
    """What the state directory says, checked against the live process and port."""

    state_dir: Path
    pid: int | None  # recorded pid, only if that process is a live kafka.Kafka
    port: int | None  # from the state dir's server.properties
    answering: bool  # the port accepts TCP connections

    @property
    def running(self) -> bool:
        return self.pid is not None and self.answering

    @property
    def bootstrap(self) -> str | None:
        return f"{HOST}:{self.port}" if self.port else None


@dataclass(frozen=True)
class StartResult:
    status: BrokerStatus
    already_running: bool
    elapsed_s: float


def fetch(libs_dir: Path | None = None, *, pom: Path = POM) -> Path:
    """Copy the broker's jars into ``libs_dir`` with Maven (log: ``../fetch.log``) unless already complete."""
    libs = Path(libs_dir) if libs_dir else default_libs_dir()
    if _is_complete(libs):
        return libs
    _require("java"), _require("mvn")
    if not pom.is_file():
        raise LocalKafkaError(f"{pom} not found: fetch runs from a source checkout")
    partial = libs.with_name(f"{libs.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    logfile = libs.parent / "fetch.log"
    logfile.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["mvn", "-B", "-Dstyle.color=never", "-f", str(pom), "dependency:copy-dependencies", "-DincludeScope=runtime",
           f"-Dkafka.version={KAFKA_VERSION}", f"-DoutputDirectory={partial}"]
    log.info("fetching Kafka %s jars into %s (log: %s)", KAFKA_VERSION, libs, logfile)
    with logfile.open("w") as out:
        rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False).returncode
    jars = sorted(p.name for p in partial.glob("*.jar")) if partial.is_dir() else []
    if rc != 0 or not any(j.startswith("kafka_2.13-") for j in jars):
        raise LocalKafkaError(f"mvn failed (exit {rc}); see {logfile}:\n{_tail(logfile)}")
    (partial / _COMPLETE).write_text("".join(j + "\n" for j in jars))
    if _is_complete(libs):  # a concurrent fetch finished first: keep its jars (a broker may use them)
        shutil.rmtree(partial)
    else:
        shutil.rmtree(libs, ignore_errors=True)
        partial.rename(libs)
    return libs


def start(port: int = 9092, state_dir: Path = DEFAULT_STATE_DIR, heap_mb: int = 512, *,
          libs_dir: Path | None = None, timeout_s: float = 60.0, default_partitions: int = 4,
          sasl: SaslListeners | None = None, jvm_options: Sequence[str] = ()) -> StartResult:
    """Start a broker on ``127.0.0.1:port`` (controller on ``port + 1``) and wait until it answers.

    ``default_partitions`` is the broker's ``num.partitions``: a topic a client auto-creates
    (a producer sending before the worker ever ran) gets as many partitions as the app's.
    ``sasl`` adds client listeners that need a login (see :class:`SaslListeners`).
    ``jvm_options`` go to ``java`` after the project's own (a GC log: ``-Xlog:gc:file=gc.log``).

    If the broker of ``state_dir`` already runs, returns it with ``already_running=True``.
    Raises :class:`LocalKafkaError` if a port is taken by something else or startup fails.
    """
    t0 = time.monotonic()
    cfg = BrokerConfig(port=port, state_dir=Path(state_dir), heap_mb=heap_mb, libs_dir=libs_dir,
                       default_partitions=default_partitions, sasl=sasl)
    current = status(cfg.state_dir)
    if current.pid is not None:
        if current.port != port:
            raise LocalKafkaError(f"the broker of {cfg.state_dir} already runs on port {current.port}, not {port}")
        _wait_until_answering(cfg, current.pid, t0 + timeout_s)
        return StartResult(status(cfg.state_dir), already_running=True, elapsed_s=time.monotonic() - t0)
    for p in (cfg.port, cfg.controller_port, *((sasl.port, sasl.ssl_port) if sasl else ())):
        if p is not None and _port_open(p):
            raise LocalKafkaError(f"port {p} on {HOST} is in use by another process (the broker needs "
                                  f"--port {port} and {port + 1}); pick another --port")
    libs = fetch(cfg.libs_dir)
    java, state = _require("java"), cfg.state_dir
    (state / "logs").mkdir(parents=True, exist_ok=True)  # StorageTool creates data/
    (state / "server.properties").write_text(cfg.server_properties())
    (state / "log4j.properties").write_text(cfg.log4j_properties())
    base = [java, f"-Xmx{heap_mb}m", f"-Xms{min(heap_mb, 256)}m", "-XX:+UseG1GC", "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{(state / 'log4j.properties').resolve()}",
            f"-Dkafka.logs.dir={(state / 'logs').resolve()}", *jvm_options, "-cp", f"{libs}/*"]
    if not (state / "data" / "meta.properties").exists():
        _format_storage(base, state)
    with (state / "logs" / "kafka.out").open("ab") as out:
        proc = subprocess.Popen([*base, "kafka.Kafka", str((state / "server.properties").resolve())],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    (state / "broker.pid").write_text(f"{proc.pid}\n")
    try:
        _wait_until_answering(cfg, proc.pid, t0 + timeout_s)
    except LocalKafkaError:
        stop(state, timeout_s=10)
        raise
    elapsed = time.monotonic() - t0
    log.info("kafka broker pid %d answers on %s after %.1f s", proc.pid, cfg.bootstrap, elapsed)
    return StartResult(status(state), already_running=False, elapsed_s=elapsed)


def stop(state_dir: Path = DEFAULT_STATE_DIR, *, timeout_s: float = 30.0) -> bool:
    """SIGTERM the broker of ``state_dir``, SIGKILL it after ``timeout_s``; True if one was running."""
    pid, pidfile = _live_pid(Path(state_dir)), Path(state_dir) / "broker.pid"
    if pid is None:
        pidfile.unlink(missing_ok=True)
        return False
    try:
        proc = psutil.Process(pid)
        proc.terminate()  # SIGTERM: a clean, controlled shutdown
        try:
            proc.wait(timeout_s)  # also reaps it when start() ran in this process
        except psutil.TimeoutExpired:
            log.warning("kafka broker pid %d ignored SIGTERM for %.0f s; killing it", pid, timeout_s)
            proc.kill()
            proc.wait(10)
    except psutil.NoSuchProcess:
        pass  # exited on its own meanwhile
    pidfile.unlink(missing_ok=True)
    return True


def status(state_dir: Path = DEFAULT_STATE_DIR) -> BrokerStatus:
    """Read the state directory and check the recorded process and port."""
    state_dir, port = Path(state_dir), _configured_port(Path(state_dir))
    return BrokerStatus(state_dir, _live_pid(state_dir), port, answering=bool(port and _port_open(port)))


def _require(tool: str) -> str:
    if (path := shutil.which(tool)) is None:
        raise LocalKafkaError(f"`{tool}` not on PATH: the local broker needs Java 17+ (and Maven 3.8+ to fetch it)")
    return path


def _is_complete(libs: Path) -> bool:
    marker = libs / _COMPLETE
    return marker.is_file() and all((libs / j).is_file() for j in marker.read_text().split())


def _format_storage(base: list[str], state: Path) -> None:
    """``kafka-storage format`` with a fresh cluster id (base64url of a UUID4, as Uuid.randomUuid)."""
    cluster_id = "-"
    while cluster_id.startswith("-"):  # Kafka avoids ids a command line would read as an option
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    props = str((state / "server.properties").resolve())
    fmt = subprocess.run([*base, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", props,
                          "--ignore-formatted"], capture_output=True, text=True, check=False)
    if fmt.returncode != 0:
        raise LocalKafkaError(f"StorageTool format failed:\n{(fmt.stdout + fmt.stderr)[-2000:]}")


def _wait_until_answering(cfg: BrokerConfig, pid: int, deadline: float) -> None:
    from confluent_kafka.admin import AdminClient  # imported late: fetch/stop/status don't need it

    admin, quiet = None, logging.getLogger(__name__ + ".librdkafka")  # librdkafka's retries: debug only
    while time.monotonic() < deadline:
        if not _alive(pid):
            raise LocalKafkaError(f"kafka broker exited during startup; log tail:\n{_log_tail(cfg.state_dir)}")
        if _port_open(cfg.port):
            admin = admin or AdminClient({"bootstrap.servers": cfg.bootstrap, "logger": quiet})
            try:
                if admin.list_topics(timeout=2).brokers:
                    return
            except Exception as exc:  # noqa: BLE001 - KafkaException while the broker warms up
                log.debug("metadata not ready: %s", exc)
        time.sleep(0.2)
    raise LocalKafkaError(f"kafka broker on {cfg.bootstrap} did not answer in time; log tail:\n"
                          f"{_log_tail(cfg.state_dir)}")


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((HOST, port)) == 0


def _configured_port(state_dir: Path) -> int | None:
    props = state_dir / "server.properties"
    text = props.read_text() if props.is_file() else ""
    found = re.search(r"^advertised\.listeners=(?:.*,)?PLAINTEXT://[^,]*:(\d+)(?:,|$)", text, re.M)
    return int(found.group(1)) if found else None


def _live_pid(state_dir: Path) -> int | None:
    """The pid in ``broker.pid`` if that process lives and runs this state dir's kafka.Kafka."""
    try:
        pid = int((state_dir / "broker.pid").read_text().strip())
        cmdline = psutil.Process(pid).cmdline()
    except (FileNotFoundError, ValueError, psutil.Error):
        return None
    props = str((state_dir / "server.properties").resolve())
    return pid if _alive(pid) and "kafka.Kafka" in cmdline and props in cmdline else None


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return f"--- {path}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"--- {path}: missing"


def _log_tail(state_dir: Path) -> str:
    return _tail(state_dir / "logs" / "kafka.out", 15) + "\n" + _tail(state_dir / "logs" / "server.log")
