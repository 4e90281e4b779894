"""The app server's aiokafka clients connect as the process's KafkaConnection says."""
from __future__ import annotations

import ssl

from stream_app.kafka_config import KafkaConnection, KafkaSecurity
from stream_app.webapp.kafka_clients import aiokafka_kwargs


def test_plaintext_adds_only_the_servers() -> None:
    assert aiokafka_kwargs(KafkaConnection(bootstrap_servers="k:9092")) == {
        "bootstrap_servers": "k:9092", "security_protocol": "PLAINTEXT"}


def test_sasl_over_tls_passes_the_login_and_a_verifying_context() -> None:
    conn = KafkaConnection(bootstrap_servers="k:9093", security=KafkaSecurity(
        security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512", sasl_username="app", sasl_password="s3cret"))
    kwargs = aiokafka_kwargs(conn)
    assert {k: v for k, v in kwargs.items() if k != "ssl_context"} == {
        "bootstrap_servers": "k:9093", "security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "app", "sasl_plain_password": "s3cret"}
    assert kwargs["ssl_context"].verify_mode == ssl.CERT_REQUIRED and kwargs["ssl_context"].check_hostname


def test_sasl_without_tls_has_no_context() -> None:
    conn = KafkaConnection(bootstrap_servers="k:9092", security=KafkaSecurity(
        security_protocol="SASL_PLAINTEXT", sasl_username="app", sasl_password="pw"))
    kwargs = aiokafka_kwargs(conn)
    assert "ssl_context" not in kwargs and kwargs["sasl_mechanism"] == "PLAIN" and kwargs["sasl_plain_password"] == "pw"
