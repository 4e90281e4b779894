"""The Faust worker: swipes in, user vectors in RocksDB tables, top-N lists out.

Run with ``faust -A stream_app.app worker -l info`` or ``movierec stream worker``; every
setting comes from ``StreamSettings`` (environment prefix ``MOVIEREC_``).
"""
from __future__ import annotations

import logging
import sys
import time

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from threadpoolctl import threadpool_limits

from offline.artifacts import load_version
from offline.recommender import Recommender
from stream_app import metrics
from stream_app.logging_setup import log_handlers
from stream_app.processing import Incoming, process_batch
from stream_app.settings import StreamSettings
from stream_app.updates import AdditiveParams, FoldIn
from stream_app.user_state import UserState

log = logging.getLogger(__name__)
settings = StreamSettings()
# Per-event solves are tiny (k x k): a BLAS thread pool only adds hand-off cost (16x here).
threadpool_limits(1, "blas")

app = faust.App(
    settings.app_id,
    broker=[f"kafka://{h.strip()}" for h in settings.bootstrap_servers.split(",")],
    store=settings.store,
    datadir=str(settings.data_dir),
    topic_partitions=settings.partitions,
    web_host=settings.web_host,
    web_bind=settings.web_host,
    web_port=settings.web_port,
    loghandlers=log_handlers(settings.log_format),
    producer_acks=-1,
    consumer_auto_offset_reset="earliest",
)

swipes_topic = app.topic(settings.swipes_topic, key_type=bytes, value_type=bytes,
                         key_serializer="raw", value_serializer="raw", partitions=settings.partitions)
recommendations_topic = app.topic(settings.recommendations_topic, key_type=bytes, value_type=bytes,
                                  key_serializer="raw", value_serializer="raw", partitions=settings.partitions)
dlq_topic = app.topic(settings.dlq_topic, key_type=bytes, value_type=bytes,
                      key_serializer="raw", value_serializer="raw", partitions=settings.partitions)

user_states = app.Table("user-states", key_type=bytes, value_type=bytes, partitions=settings.partitions,
                        default=None)
"""str(user_id) bytes (the message key) → UserState bytes; raw codecs; changelog-backed."""


class ModelHolder:
    """The served Recommender, loaded on first use (tests inject one with ``set``)."""

    def __init__(self) -> None:
        self._recommender: Recommender | None = None

    def get(self) -> Recommender:
        if self._recommender is None:
            art = load_version(settings.artifacts, settings.artifact_version)
            s = settings.with_online_tuning(art.path)  # `movierec replay tune` output; env wins
            a = s.additive
            self._recommender = Recommender.from_artifact(
                art, strategy=s.strategy, history=s.history,
                additive=AdditiveParams(a.step, a.half_life_days * 86400.0, a.max_norm_factor),
                cold_start_swipes=s.cold_start_swipes,
            )
            if s.foldin_regularization is not None:
                self._recommender.foldin = FoldIn.from_factors(self._recommender.item_factors,
                                                               s.foldin_regularization)
            metrics.MODEL_INFO.info({"version": art.version, "strategy": settings.strategy})
            log.info("serving model %s (%s)", art.version, settings.strategy)
        return self._recommender

    def set(self, recommender: Recommender | None) -> None:
        self._recommender = recommender


model = ModelHolder()


@app.agent(swipes_topic)
async def process_swipes(stream: faust.StreamT) -> None:
    """Batches of swipes → states → lists; bad events → DLQ; never stops on bad input."""
    async for events in stream.take_events(settings.batch_size, within=settings.batch_within):
        recommender = model.get()
        t0 = time.perf_counter()
        messages = [Incoming(e.value, e.message.topic, e.message.partition, e.message.offset, e.key)
                    for e in events]

        def load(uid: int, _events=events) -> UserState | None:
            raw = user_states.get(str(uid).encode())
            return UserState.from_bytes(raw) if raw else None

        # Table reads and writes use the partition of the "current event": point it at the
        # user's own message so state lands in the changelog partition of the user's key.
        by_user = {}
        for e, m in zip(events, messages):
            try:
                by_user.setdefault(int(m.key or b"-1"), e)
            except ValueError:
                pass

        def load_in_partition(uid: int) -> UserState | None:
            if uid in by_user:
                stream._set_current_event(by_user[uid])
            return load(uid)

        result = process_batch(recommender, messages, load_in_partition, settings.top_n)
        for uid, state in result.states.items():
            stream._set_current_event(events[result.last_message[uid]])
            user_states[str(uid).encode()] = state.to_bytes()
        t1 = time.perf_counter()
        metrics.UPDATE_SECONDS.observe(t1 - t0)
        # send_soon: into the producer's buffer without a round trip per message
        for i, dead in result.dead_letters:
            dlq_topic.send_soon(key=events[i].key, value=dead.to_bytes())
            log.warning("dead-lettered %s[%d]@%d: %s", dead.source_topic, dead.source_partition,
                        dead.source_offset, dead.error)
        for rl in result.lists:
            recommendations_topic.send_soon(key=str(rl.user_id).encode(), value=rl.to_bytes())
        metrics.PUBLISH_SECONDS.observe(time.perf_counter() - t1)
        metrics.EVENTS.labels("applied").inc(result.applied)
        metrics.EVENTS.labels("duplicate").inc(result.duplicates)
        metrics.EVENTS.labels("dead_lettered").inc(len(result.dead_letters))
        metrics.BATCH_SIZE.observe(len(events))


@app.page("/metrics")
async def prometheus_metrics(web: faust.web.Web, request: faust.web.Request) -> faust.web.Response:
    """Prometheus exposition of the worker's counters and latency histograms."""
    return web.bytes(generate_latest(metrics.REGISTRY), content_type=CONTENT_TYPE_LATEST.split(";")[0])


from stream_app import web as _web  # noqa: E402  (the routes use the objects above)

_web.register(app, sys.modules[__name__])


def main() -> None:  # pragma: no cover - exercised by `movierec stream worker`
    app.main()
