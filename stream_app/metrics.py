"""Prometheus metrics of the stream worker (one registry, served at ``/metrics``)."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

REGISTRY = CollectorRegistry()
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

EVENTS = Counter("movierec_swipes_total", "Swipe events by outcome", ["outcome"], registry=REGISTRY)
"""outcome: applied, duplicate, dead_lettered, rerouted."""
UNRANKED = Counter("movierec_unranked_lists_total",
                   "Users whose list could not be computed in a batch (their state is kept; logged)",
                   registry=REGISTRY)
UPDATE_SECONDS = Histogram("movierec_update_seconds", "Seconds to apply a batch and rank its users",
                           buckets=_LATENCY_BUCKETS, registry=REGISTRY)
PUBLISH_SECONDS = Histogram("movierec_publish_seconds",
                            "Seconds until the broker acknowledged a batch's state changes, lists and dead letters",
                            buckets=_LATENCY_BUCKETS, registry=REGISTRY)
BATCH_SIZE = Histogram("movierec_batch_size", "Swipes per processed batch",
                       buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256), registry=REGISTRY)
MODEL_INFO = Info("movierec_model", "The served model version and update strategy", registry=REGISTRY)
FETCH_MAX_WAIT = Gauge("movierec_fetch_max_wait_seconds",
                       "Longest the broker may hold the worker's fetch (read back from the consumer; "
                       "stream_app/fetch_wait.py)", registry=REGISTRY)
GC_PAUSE = Histogram("movierec_gc_pause_seconds", "Seconds each garbage collection held the worker, by generation",
                     ["generation"], buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25),
                     registry=REGISTRY)
GC_FROZEN = Gauge("movierec_gc_frozen_objects",
                  "Objects moved to the permanent generation after start-up and model loads (gc.freeze; "
                  "stream_app/gc_pauses.py); 0: not frozen", registry=REGISTRY)
