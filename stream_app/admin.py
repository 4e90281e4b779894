"""Topic administration on confluent-kafka's AdminClient."""
from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from stream_app.kafka_config import KafkaConnection, RefusedLogin

log = logging.getLogger(__name__)


def ensure_topics(bootstrap_servers: str | KafkaConnection, partitions_by_topic: Mapping[str, int], *,
                  replication_factor: int = 1, timeout_s: float = 30.0) -> list[str]:
    """Create the topics that do not exist yet; existing ones are left as they are.

    Returns the names created. An existing topic with a different partition count is logged,
    not changed (repartitioning would move users between partitions). Raises ``LoginRefused``
    within about a second when the broker refuses the login, ``KafkaException`` when no broker
    answers within ``timeout_s``.
    """
    if not partitions_by_topic:
        return []
    refused = RefusedLogin()
    admin = AdminClient(KafkaConnection.of(bootstrap_servers).client_config({"logger": log, "error_cb": refused}))
    existing = _list_topics(admin, refused, timeout_s)
    for name in partitions_by_topic.keys() & existing.keys():
        have, want = len(existing[name].partitions), partitions_by_topic[name]
        if have != want:
            log.warning("topic %s has %d partitions, not %d; leaving it as is", name, have, want)
    new = [NewTopic(name, num_partitions=n, replication_factor=replication_factor)
           for name, n in partitions_by_topic.items() if name not in existing]
    if not new:
        return []
    created = []
    for name, future in admin.create_topics(new, operation_timeout=timeout_s, request_timeout=timeout_s).items():
        try:
            future.result(timeout=timeout_s + 5)
            created.append(name)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:  # lost a race: fine
                raise
    log.info("created topics %s", created)
    _wait_until_visible(admin, created, timeout_s)
    return created


def _list_topics(admin: AdminClient, refused: RefusedLogin, timeout_s: float) -> dict:
    """The cluster's topics; asks again every second until ``timeout_s``, and stops at once
    when the broker refused the login (librdkafka would retry it until the timeout)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return admin.list_topics(timeout=max(0.1, min(1.0, deadline - time.monotonic()))).topics
        except KafkaException:
            admin.poll(0)  # serves error_cb
            refused.check()
            if time.monotonic() >= deadline:
                raise


def _wait_until_visible(admin: AdminClient, names: list[str], timeout_s: float) -> None:
    """Wait until every partition of ``names`` has a leader, so clients can use them at once."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        topics = admin.list_topics(timeout=timeout_s).topics
        if all(n in topics and topics[n].error is None and topics[n].partitions
               and all(p.leader >= 0 for p in topics[n].partitions.values()) for n in names):
            return
        time.sleep(0.1)
    log.warning("topics %s created but not all partitions have a leader after %.0f s", names, timeout_s)
