"""One Kafka connection model: every client library's config from it, the password never shown."""
from __future__ import annotations

import logging
import ssl
from pathlib import Path

import pytest
from pydantic import ValidationError

from stream_app.kafka_config import KafkaConnection, KafkaSecurity
from stream_app.settings import StreamSettings

SECRET = "pw-9f3a-never-shown"


@pytest.fixture
def sasl_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOVIEREC_BOOTSTRAP_SERVERS", "k1:9093,k2:9093")
    monkeypatch.setenv("MOVIEREC_KAFKA__SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("MOVIEREC_KAFKA__SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("MOVIEREC_KAFKA__SASL_USERNAME", "alice")
    monkeypatch.setenv("MOVIEREC_KAFKA__SASL_PASSWORD", SECRET)


def test_plaintext_is_the_default_and_adds_nothing() -> None:
    conn = KafkaConnection.of("127.0.0.1:9092")
    assert conn.client_config({"acks": "all"}) == {"bootstrap.servers": "127.0.0.1:9092", "acks": "all"}
    assert conn.faust_broker_kwargs() == {"broker": ["kafka://127.0.0.1:9092"]}
    assert conn.worker_env() == {"BOOTSTRAP_SERVERS": "127.0.0.1:9092"}
    assert KafkaConnection.of(conn) is conn


def test_sasl_settings_from_the_environment_reach_every_client(sasl_env: None) -> None:
    conn = StreamSettings().connection()
    assert conn.client_config() == {
        "bootstrap.servers": "k1:9093,k2:9093", "security.protocol": "sasl_plaintext",
        "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "alice", "sasl.password": SECRET}
    faust_kwargs = conn.faust_broker_kwargs()
    assert faust_kwargs["broker"] == ["kafka://k1:9093", "kafka://k2:9093"]
    creds = faust_kwargs["broker_credentials"]
    assert (creds.username, creds.password, creds.mechanism.value, creds.protocol.value) == (
        "alice", SECRET, "SCRAM-SHA-512", "SASL_PLAINTEXT")
    assert StreamSettings().connection("other:1").client_config()["sasl.username"] == "alice"  # --bootstrap
    env = {f"MOVIEREC_{k}": v for k, v in conn.worker_env().items()}  # a child worker gets the same
    assert env["MOVIEREC_KAFKA__SASL_PASSWORD"] == SECRET


def test_the_password_never_shows_in_reprs_logs_or_errors(sasl_env: None, caplog: pytest.LogCaptureFixture,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    settings = StreamSettings()
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").info("settings %s %r %s", settings, settings.connection(),
                                       settings.connection().faust_broker_kwargs())
    assert SECRET not in caplog.text and "alice" in caplog.text
    assert SECRET not in str(settings.model_dump()) and SECRET not in settings.model_dump_json()
    monkeypatch.setenv("MOVIEREC_KAFKA__SECURITY_PROTOCOL", "PLAINTEXT")  # credentials without SASL: refused
    with pytest.raises(ValidationError) as err:
        StreamSettings()
    assert "SASL credentials are set" in str(err.value) and SECRET not in str(err.value)


@pytest.mark.parametrize("fields, message", [
    ({"security_protocol": "SASL_SSL", "sasl_username": "a"}, "needs sasl_username and sasl_password"),
    ({"security_protocol": "SSL", "ssl_certfile": "c.pem"}, "go together"),
    ({"ssl_cafile": "ca.pem"}, "TLS files are set"),
    ({"security_protocol": "SASL_PLAINTEXT", "sasl_username": "a", "sasl_password": "p",
      "sasl_mechanism": "GSSAPI"}, "sasl_mechanism"),
])
def test_inconsistent_security_is_refused(fields: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        KafkaSecurity(**fields)


def test_tls_files_go_to_librdkafka_and_to_faust_as_a_verifying_context(tmp_path: Path) -> None:
    ca = Path(ssl.get_default_verify_paths().cafile or "")
    if not ca.is_file():
        pytest.skip("no system CA bundle to stand in for a CA file")
    sec = KafkaSecurity(security_protocol="SASL_SSL", sasl_username="a", sasl_password="p", ssl_cafile=ca)
    conn = KafkaConnection(bootstrap_servers="k:9093", security=sec)
    conf = conn.client_config()
    assert conf["security.protocol"] == "sasl_ssl" and conf["ssl.ca.location"] == str(ca)
    creds = conn.faust_broker_kwargs()["broker_credentials"]
    assert creds.protocol.value == "SASL_SSL"
    assert creds.ssl_context.verify_mode == ssl.CERT_REQUIRED and creds.ssl_context.check_hostname
    tls_only = KafkaConnection(bootstrap_servers="k:9093", security=KafkaSecurity(security_protocol="SSL"))
    assert tls_only.faust_broker_kwargs()["broker_credentials"].protocol.value == "SSL"
