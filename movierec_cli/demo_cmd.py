"""`movierec demo`: placeholder until the demo is written."""
from __future__ import annotations


def demo() -> None:
    """Train, start Kafka and the worker, stream swipes, show recommendations changing."""
    raise SystemExit("demo not implemented yet")
