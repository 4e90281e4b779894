"""Checks a worker makes before it joins its group, so a wrong setup stops it at once.

faust writes a user's state to the changelog partition numbered like the swipe's source
partition, and raises ``PartitionsMismatch`` on the first write when the two topics differ:
the agent then crashes and restarts forever while no list ever comes out. A source topic
auto-created by a producer that ran first (broker ``num.partitions``) is the usual cause.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from stream_app.kafka_config import KafkaConnection, LoginRefused

log = logging.getLogger(__name__)

EXIT_CONFIG = 78
"""EX_CONFIG: the worker cannot run with this topic layout; restarting will not help."""


@dataclass(frozen=True)
class Layout:
    """What the check found: the cluster's id and the swipes topic's partition count."""

    cluster_id: str | None
    source_partitions: int


class TopicLayoutError(RuntimeError):
    """The swipes topic and the state changelog cannot be used together; the message says how to fix it."""


def topic_layout_problem(existing: Mapping[str, int], *, source: str, changelog: str,
                         configured: int) -> str | None:
    """Why ``source`` and ``changelog`` cannot back one table, or None when they can.

    Args:
        existing: partition count of each topic that exists on the broker.
        source: the swipes topic; changelog: the table's changelog topic.
        configured: the partitions faust gives a changelog it creates (``MOVIEREC_PARTITIONS``).
    """
    if source not in existing:
        return None  # created by the worker with `configured` partitions, like the changelog
    have = existing[source]
    table = existing.get(changelog)
    if table is None and have == configured:
        return None
    if table == have:
        return None
    if table is None:
        what = (f"topic {source} has {have} partition(s) but MOVIEREC_PARTITIONS={configured}: the state "
                f"changelog {changelog} would be created with {configured}")
        fix = (f"set MOVIEREC_PARTITIONS={have}, or delete {source} and create it with {configured} partitions "
               f"(`movierec kafka start` creates the project's topics up front)")
    else:
        what = f"topic {source} has {have} partition(s) but the state changelog {changelog} has {table}"
        fix = (f"recreate {source} with {table} partitions (its swipes are lost), or use a new "
               f"MOVIEREC_APP_ID with MOVIEREC_PARTITIONS={have} (the users' state starts over)")
    return f"{what}; a user's swipes and state must share a partition number. Fix: {fix}."


def check_topic_layout(bootstrap_servers: str | KafkaConnection, topics: Mapping[str, int], *, changelog: str,
                       source: str, configured: int, timeout_s: float = 10.0) -> Layout | None:
    """Create the project's missing topics, then check ``source`` against ``changelog``;
    return what was found (None when no broker answered).

    Raises:
        TopicLayoutError: the layout cannot work (see :func:`topic_layout_problem`).
        LoginRefused: the broker refused the login (wrong credentials: a restart cannot help).
    A broker that does not answer within ``timeout_s`` skips the check (faust waits for it).
    """
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    from stream_app.admin import ensure_topics

    try:
        ensure_topics(bootstrap_servers, topics, timeout_s=timeout_s)
        admin = AdminClient(KafkaConnection.of(bootstrap_servers).client_config({"logger": log}))
        meta = admin.list_topics(timeout=timeout_s)
    except LoginRefused:
        raise
    except KafkaException as exc:
        log.warning("topic check skipped, no broker answered: %s", exc)
        return None
    existing = {name: len(t.partitions) for name, t in meta.topics.items() if t.error is None}
    if (problem := topic_layout_problem(existing, source=source, changelog=changelog, configured=configured)):
        raise TopicLayoutError(problem)
    return Layout(meta.cluster_id or None, existing[source])
