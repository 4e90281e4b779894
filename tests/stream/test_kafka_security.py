"""Secured Kafka: the worker, `movierec swipe`, `recs` and `replay --via kafka` work through a SASL
(and a SASL over TLS) listener with credentials, are refused without them, and never show the password.

One broker of its own for the module (about 10 s to start): PLAINTEXT for inter-broker traffic,
SASL_PLAINTEXT and, where `openssl` can make a CA and a certificate, SASL_SSL for the clients.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from movierec_cli.main import app as cli
from schemas.events import RecommendationList
from stream_app import local_kafka, runner
from stream_app.kafka_config import KafkaConnection, KafkaSecurity
from stream_app.runner import WorkerError, WorkerProcess
from tests.conftest import free_port_pair

pytestmark = pytest.mark.integration
PASSWORD = "alice-pw-4f1c9e7b"


@dataclass(frozen=True)
class SecuredBroker:
    sasl: KafkaConnection
    """SASL_PLAINTEXT, PLAIN, user alice."""
    tls: KafkaConnection | None
    """SASL_SSL with the test CA (None: no `openssl` to make one)."""


def _certificates(folder: Path) -> tuple[Path, Path]:
    """A throwaway CA and a broker certificate for 127.0.0.1: (CA PEM, broker keystore PEM)."""
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True, timeout=60)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=movierec-test-ca")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "broker.key", "-out", "broker.csr", "-subj", "/CN=127.0.0.1")
    (folder / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out",
        "broker.pem", "-days", "2", "-extfile", "san.cnf")
    run("pkcs8", "-topk8", "-nocrypt", "-in", "broker.key", "-out", "broker.pk8")
    keystore = folder / "keystore.pem"  # what Kafka's PEM keystore wants: PKCS#8 key, then the chain
    keystore.write_text((folder / "broker.pk8").read_text() + (folder / "broker.pem").read_text())
    return folder / "ca.pem", keystore


def _distinct_ports(n: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < n:
        if (p := free_port_pair()) not in ports and p + 1 not in ports and p - 1 not in ports:
            ports.append(p)
    return ports


@pytest.fixture(scope="module")
def secured_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredBroker]:
    if shutil.which("java") is None:
        pytest.skip("no `java` on PATH: cannot run the secured Kafka broker")
    if shutil.which("mvn") is None and not (local_kafka.default_libs_dir() / ".complete").is_file():
        pytest.skip("no `mvn` on PATH to fetch the Kafka jars")
    state = tmp_path_factory.mktemp("kafka-sasl")
    ca, keystore = _certificates(state) if shutil.which("openssl") else (None, None)
    port, sasl_port, tls_port = _distinct_ports(3)
    listeners = local_kafka.SaslListeners((("alice", PASSWORD),), sasl_port, tls_port if keystore else None, keystore)
    login = {"sasl_username": "alice", "sasl_password": PASSWORD}
    try:
        local_kafka.start(port=port, state_dir=state, timeout_s=120, sasl=listeners)
        yield SecuredBroker(
            KafkaConnection(bootstrap_servers=f"127.0.0.1:{sasl_port}",
                            security=KafkaSecurity(security_protocol="SASL_PLAINTEXT", **login)),
            None if ca is None else KafkaConnection(
                bootstrap_servers=f"127.0.0.1:{tls_port}",
                security=KafkaSecurity(security_protocol="SASL_SSL", ssl_cafile=ca, **login)))
    finally:
        local_kafka.stop(state)


def cli_env(conn: KafkaConnection, **settings: str) -> dict[str, str]:
    """The CLI's environment: ``conn`` (servers, TLS, SASL) and other MOVIEREC_* settings."""
    return {f"MOVIEREC_{k}": v for k, v in {**conn.worker_env(), **settings}.items()}


def flat(output: str) -> str:
    """CLI output with rich's line wrapping undone."""
    return " ".join(output.split())


def wrong_password(conn: KafkaConnection) -> KafkaConnection:
    return conn.model_copy(update={"security": conn.security.model_copy(update={"sasl_password": "not-it"})})


def plaintext(conn: KafkaConnection) -> KafkaConnection:
    return KafkaConnection(bootstrap_servers=conn.bootstrap_servers)


def test_worker_swipe_and_recs_with_credentials_and_refused_without(secured_broker: SecuredBroker,
                                                                     worker_factory) -> None:
    conn = secured_broker.sasl
    worker = worker_factory(**{k.lower(): v for k, v in conn.worker_env().items()})
    topics = {"SWIPES_TOPIC": worker.env["SWIPES_TOPIC"], "RECOMMENDATIONS_TOPIC": worker.env["RECOMMENDATIONS_TOPIC"]}
    invoke = CliRunner().invoke

    sent = invoke(cli, ["swipe", "--user", "7", "--movie", "260", "--preference", "4", "--wait", "30"],
                  env=cli_env(conn, **topics))
    # the list the swipe caused came back (strategy: whatever the worker's default rule is)
    assert sent.exit_code == 0 and "sent swipe" in sent.output and "user 7: " in sent.output, sent.output
    shown = invoke(cli, ["recs", "--user", "7", "--json", "--timeout", "15"], env=cli_env(conn, **topics))
    assert shown.exit_code == 0, shown.output
    assert RecommendationList.model_validate_json(shown.output.strip().splitlines()[-1]).user_id == 7

    t0 = time.monotonic()
    wrong = [invoke(cli, ["swipe", "--user", "7", "--movie", "1", "--preference", "4"],
                    env=cli_env(wrong_password(conn), **topics)),
             invoke(cli, ["recs", "--user", "7", "--timeout", "15"], env=cli_env(wrong_password(conn), **topics))]
    assert all(r.exit_code == 1 and "refused the login" in flat(r.output) for r in wrong), [r.output for r in wrong]
    assert time.monotonic() - t0 < 10, "a refused login should fail at once, not after the timeouts"
    none = [invoke(cli, ["swipe", "--user", "7", "--movie", "1", "--preference", "4", "--timeout", "3"],
                   env=cli_env(plaintext(conn), **topics)),
            invoke(cli, ["recs", "--user", "7", "--timeout", "3"], env=cli_env(plaintext(conn), **topics))]
    assert all(r.exit_code == 1 for r in none), [r.output for r in none]
    assert "not delivered" in flat(none[0].output) and "no recommendation list" in flat(none[1].output)

    outputs = [sent.output, shown.output, *(r.output for r in wrong + none), worker.log_path.read_text()]
    assert not [o for o in outputs if PASSWORD in o], "the password was printed or logged"


def test_a_worker_with_a_wrong_password_stops_at_once(secured_broker: SecuredBroker, small_artifacts: Path,
                                                      tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """EX_CONFIG (78) within seconds: librdkafka and aiokafka would retry a refused login forever."""
    env = {**wrong_password(secured_broker.sasl).worker_env(), "ARTIFACTS": str(small_artifacts),
           "APP_ID": "movierec-refused", "DATA_DIR": str(tmp_path / "faust"), "WEB_PORT": str(free_port_pair())}
    monkeypatch.setattr(runner, "ensure_topics", lambda *a, **k: [])  # the worker's own check, not the runner's
    worker = WorkerProcess(env, tmp_path / "worker.log")
    t0 = time.monotonic()
    with pytest.raises(WorkerError, match="exited with 78"):
        worker.start(timeout_s=60)
    log = worker.log_path.read_text()
    assert "refused the login" in log and "Authentication failed" in log and PASSWORD not in log
    assert time.monotonic() - t0 < 30


def test_replay_via_kafka_over_sasl_and_tls(secured_broker: SecuredBroker, small_artifacts: Path,
                                           tmp_path: Path) -> None:
    """`movierec replay --via kafka` runs a worker and its clients through SASL_SSL (SASL_PLAINTEXT
    where no `openssl` made a certificate); refused at once with a wrong password."""
    conn = secured_broker.tls or secured_broker.sasl
    args = ["replay", "--artifacts", str(small_artifacts), "--split", "val", "--via", "kafka", "--strategies",
            "static", "--limit", "30", "--partitions", "2", "--no-progress", "--out", str(tmp_path / "r.json")]
    done = CliRunner().invoke(cli, args, env=cli_env(conn))
    assert done.exit_code == 0, done.output
    assert "static via kafka: sent 30, lists 30" in done.output, done.output
    assert json.loads((tmp_path / "r.json").read_text())
    t0 = time.monotonic()
    refused = CliRunner().invoke(cli, args, env=cli_env(wrong_password(conn)))
    assert refused.exit_code == 1 and "refused the login" in flat(refused.output), refused.output
    assert time.monotonic() - t0 < 15 and PASSWORD not in done.output + refused.output
    if secured_broker.tls is not None:  # TLS without the CA: the broker's certificate is not trusted
        untrusted = conn.model_copy(update={"security": conn.security.model_copy(update={"ssl_cafile": None})})
        sent = CliRunner().invoke(cli, ["swipe", "--user", "1", "--movie", "1", "--preference", "4", "--timeout", "5"],
                                  env=cli_env(untrusted))
        assert sent.exit_code == 1 and "certificate verify failed" in flat(sent.output), sent.output
