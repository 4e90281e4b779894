"""The app server's aiokafka clients, connected as the process's :class:`KafkaConnection` says.

The worker (faust) and the CLI (confluent-kafka) build their clients from the same
connection; this maps it onto aiokafka's arguments (TLS through the same verifying context).
"""
from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from stream_app.kafka_config import KafkaConnection


def aiokafka_kwargs(conn: KafkaConnection) -> dict[str, Any]:
    """``bootstrap_servers`` and the security arguments of an aiokafka client."""
    s = conn.security
    kwargs: dict[str, Any] = {"bootstrap_servers": conn.bootstrap_servers, "security_protocol": s.security_protocol}
    if s.uses_sasl:
        assert s.sasl_password is not None
        kwargs.update(sasl_mechanism=s.sasl_mechanism, sasl_plain_username=s.sasl_username,
                      sasl_plain_password=s.sasl_password.get_secret_value())
    if s.uses_tls:
        kwargs["ssl_context"] = conn.ssl_context()
    return kwargs


def list_consumer(conn: KafkaConnection) -> AIOKafkaConsumer:
    """A consumer outside any group that commits nothing (the caller assigns partitions)."""
    return AIOKafkaConsumer(group_id=None, enable_auto_commit=False, auto_offset_reset="latest",
                            client_id="movierec-app-lists", **aiokafka_kwargs(conn))


def swipe_producer(conn: KafkaConnection) -> AIOKafkaProducer:
    """Idempotent, ``acks=all``; aiokafka's default partitioner hashes keys with murmur2, as the worker does."""
    return AIOKafkaProducer(acks="all", enable_idempotence=True, client_id="movierec-app-swipes",
                            **aiokafka_kwargs(conn))
