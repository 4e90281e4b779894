"""Reading a topic's raw messages in tests (confluent-kafka, from the earliest offset)."""
from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, Message


def read_all(bootstrap: str, topic: str, n: int, timeout: float = 20.0) -> list[Message]:
    """Up to ``n`` messages of ``topic``, from its start, within ``timeout`` seconds."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"raw-{uuid.uuid4().hex}",
                        "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    messages: list[Message] = []
    deadline = time.monotonic() + timeout
    try:
        while len(messages) < n and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                messages.append(msg)
    finally:
        consumer.close()
    return messages
