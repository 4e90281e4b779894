"""The Faust worker: swipes in, user vectors in RocksDB tables, top-N lists out.

Run with ``faust -A stream_app.app worker -l info`` or ``movierec stream worker``; every
setting comes from ``StreamSettings`` (environment prefix ``MOVIEREC_``).
"""
from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
import weakref
from typing import NoReturn

import faust
import faust.streams as faust_streams
from faust.exceptions import PartitionsMismatch
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from threadpoolctl import threadpool_limits

from stream_app import gc_pauses, metrics, stale_state
from stream_app.logging_setup import log_handlers
from stream_app.preflight import EXIT_CONFIG, TopicLayoutError, check_topic_layout
from stream_app.readiness import READY_MARK, WorkerHealth
from stream_app.routing import misrouted
from stream_app.worker import Worker
from stream_app.processing import Incoming, process_batch
from stream_app.rewind import rewind_after_recovery
from stream_app.settings import StreamSettings
from stream_app.state_cache import StateCache
from stream_app.control import ModelWatcher
from stream_app.delivery import AckAfterDelivery, ConfirmedTable, DeliveryError
from stream_app.fetch_wait import cap_fetch_wait
from stream_app.intake import MovieRecApp
from stream_app.kafka_config import LoginRefused
from stream_app.model_choice import RejectedAnnouncement, announced_version
from stream_app.model_holder import ModelHolder
from stream_app.output import BatchOutput, FaustOutput, LibrdkafkaOutput
from stream_app.user_state import UserState

log = logging.getLogger(__name__)
EXIT_NOT_DURABLE = 75  # EX_TEMPFAIL: restart me
settings = StreamSettings()
# Per-event solves are tiny (k x k): a BLAS thread pool only adds hand-off cost (16x here).
threadpool_limits(1, "blas")

kafka = settings.connection()  # servers, TLS and SASL of every client of this process
app = MovieRecApp(  # faust.App, cheaper hand-over of fetched messages (stream_app/intake.py)
    settings.app_id,
    **kafka.faust_broker_kwargs(),
    store=settings.store,
    datadir=str(settings.data_dir / settings.app_id),  # one RocksDB folder per app id
    topic_partitions=settings.partitions,
    web_host=settings.web_host,  # advertised: other workers forward a user's requests here
    web_bind=settings.web_bind or settings.web_host,
    web_port=settings.web_port,
    loghandlers=log_handlers(settings.log_format),
    producer_acks=-1,
    producer_max_batch_size=settings.producer_max_batch_size,
    producer_linger=settings.producer_linger,
    broker_session_timeout=settings.session_timeout,
    table_standby_replicas=settings.standby_replicas,
    **({"broker_client_id": settings.client_id} if settings.client_id else {}),
    consumer_auto_offset_reset="earliest",
    # None: dynamic membership (a restarted worker waits out the dead one's session)
    consumer_group_instance_id=settings.instance_id(),
    Worker=Worker,
)
Worker.shutdown_timeout = settings.shutdown_timeout
health = WorkerHealth()
swipes_partitions: int | None = None
"""Partitions of the swipes topic, found by the start-up check (None: not checked)."""

swipes_topic = app.topic(settings.swipes_topic, key_type=bytes, value_type=bytes,
                         key_serializer="raw", value_serializer="raw", partitions=settings.partitions)
recommendations_topic = app.topic(settings.recommendations_topic, key_type=bytes, value_type=bytes,
                                  key_serializer="raw", value_serializer="raw", partitions=settings.partitions)
dlq_topic = app.topic(settings.dlq_topic, key_type=bytes, value_type=bytes,
                      key_serializer="raw", value_serializer="raw", partitions=settings.partitions)

user_states: ConfirmedTable = app.tables.add(ConfirmedTable(  # app.Table, with awaitable changelog sends
    app, name="user-states", key_type=bytes, value_type=bytes, partitions=settings.partitions, default=None,
    beacon=app.tables.beacon))
"""str(user_id) bytes (the message key) → UserState bytes; raw codecs; changelog-backed."""
state_cache = StateCache(settings.state_cache_users)
"""The states this worker last wrote, decoded, for the current assignment (state_cache.py)."""


async def _forget_cached_states(sender: faust.App, partitions: object, **_: object) -> None:
    """Partitions revoked or assigned: the cached states may no longer be the table's."""
    state_cache.clear()


app.on_partitions_revoked.connect(_forget_cached_states)
app.on_partitions_assigned.connect(_forget_cached_states)


@app.on_worker_init.connect
def _before_joining(sender: faust.App, **_: object) -> None:
    """Check the topic layout (stop at once if it cannot work); re-read swipes skipped while
    tables recovered (stream_app/rewind.py); rebuild local state the changelog does not back
    (stream_app/stale_state.py)."""
    global swipes_partitions
    settings.data_dir.mkdir(parents=True, exist_ok=True)  # Faust creates only the last level, at its start
    sys.setswitchinterval(settings.gil_switch_interval)  # GIL hand-overs to the consumer and delivery threads
    gc_pauses.observe()
    try:
        layout = check_topic_layout(kafka, settings.topic_partitions(),
                                    changelog=user_states.changelog_topic_name, source=settings.swipes_topic,
                                    configured=settings.partitions)
    except (TopicLayoutError, LoginRefused) as exc:  # a restart cannot help either
        stop_misconfigured(str(exc))
    if layout is not None:
        swipes_partitions = layout.source_partitions
        if layout.cluster_id is not None:  # local state written against another cluster: rebuilt from this one's
            stale_state.forget_other_cluster(settings.data_dir / settings.app_id, layout.cluster_id)
    rewind_after_recovery(sender.consumer, {settings.swipes_topic})
    stale_state.install(sender.tables.recovery)


model = ModelHolder(settings)
watcher: ModelWatcher | None = None


model_ready = asyncio.Event()


@app.task
async def start_models() -> None:
    """As the worker starts: watch ``models.v1`` from its current end, then load the served
    model(s) off the event loop (a 27k-movie artifact takes seconds to verify and index)."""
    global watcher
    loop = asyncio.get_running_loop()
    while watcher is None:
        try:
            watcher = await loop.run_in_executor(None, ModelWatcher, kafka, settings.models_topic)
        except Exception as exc:  # noqa: BLE001 - no broker yet: keep trying, /health says recovering
            log.warning("cannot watch %s yet (%s); retrying", settings.models_topic, exc)
            await asyncio.sleep(2.0)
    health.watcher_started = True
    try:  # once: a broken artifact is reported by /health, not re-read on every request
        await loop.run_in_executor(None, model.load)
    except Exception:  # noqa: BLE001 - /health says unhealthy; a valid announced champion recovers
        log.exception("cannot load the served model; /health reports it until a valid one is announced")
        return
    models_loaded()
    await app.tables.recovery.completed.wait()
    if settings.gc_freeze:  # start-up's objects and the model, for good: full collections skip them
        gc_pauses.freeze()
    log.info("%s: serving %s (%s), models.v1 watched", READY_MARK, model.get().model_version, settings.strategy)


def models_loaded() -> None:
    """A champion is loaded: swipes may be processed."""
    health.model_loaded = True
    model_ready.set()
    metrics.MODEL_INFO.info({"version": model.get().model_version, "strategy": settings.strategy})


def partitions_ready() -> bool:
    """Partitions assigned and their tables recovered (no rebalance or recovery under way)."""
    recovery = app.tables.recovery
    return recovery.completed.is_set() and not recovery.in_recovery and not app.rebalancing


@app.timer(interval=1.0)
async def watch_models() -> None:
    """Follow the registry when ``models.v1`` announces a change (no restart). An announcement
    is only a hint: the worker serves what its own ``aliases.json`` names (``model_choice``)."""
    if watcher is None:
        return
    loop = asyncio.get_running_loop()
    for ann in watcher.poll():
        said = f"{ann.version[:80]!r} as {ann.alias} ({ann.action} by {ann.by[:40]!r})"  # repr: no forged log lines
        if settings.artifact_version is not None:
            log.warning("ignoring announcement of %s: this worker is pinned to %s", said, settings.artifact_version)
            continue
        try:  # read the registry, load and verify off the event loop: swipes keep flowing meanwhile
            version = await loop.run_in_executor(None, announced_version, settings.artifacts, ann)
            new = None if version is None else await loop.run_in_executor(None, model.build, version)
        except RejectedAnnouncement as exc:
            log.warning("ignoring announcement of %s: %s", said, exc)
            continue
        except Exception:  # noqa: BLE001 - a bad artifact must not stop the worker
            log.exception("cannot load announced model %s; keeping the current one", said)
            continue
        (model.set if ann.alias == "champion" else model.set_challenger)(new)
        if settings.gc_freeze:  # the old model's cycles reclaimed, the new one frozen
            gc_pauses.freeze()
        log.info("now serving %s", said if new is not None else "no challenger")
        if ann.alias == "champion" and not model_ready.is_set():
            models_loaded()  # the first load failed; this one serves
        elif model_ready.is_set():
            metrics.MODEL_INFO.info({"version": model.get().model_version, "strategy": settings.strategy})


def in_partition_of(event: faust.types.EventT) -> None:
    """Point table reads and writes at ``event``'s partition for the rest of this task.

    Tables find their partition through ``faust.current_event()``, a ContextVar; this sets
    only that. Not ``stream._set_current_event``: it also replaces ``stream.current_event``,
    which the take buffer reads for each message that arrives while a batch is processed,
    so such a message was swapped for a stale event of the batch and never processed (the
    SIGKILL test found it: a restarted worker's backlog lost its later swipes).
    """
    faust_streams._current_event.set(weakref.ref(event))


@app.agent(swipes_topic)
async def process_swipes(stream: faust.StreamT) -> None:
    """Batches of swipes → states → lists; bad events → DLQ; never stops on bad input."""
    try:
        await _process_swipes(stream)
    except PartitionsMismatch as exc:  # the preflight check missed it (topic changed since)
        stop_misconfigured(str(exc))
    except Exception as exc:
        health.agent_error = f"{type(exc).__name__}: {exc}"  # /health says unhealthy until restarted
        raise


async def _process_swipes(stream: faust.StreamT) -> None:
    await model_ready.wait()
    fetch_wait = cap_fetch_wait(app.consumer, settings.fetch_max_wait)  # stream_app/fetch_wait.py
    if fetch_wait is not None:
        metrics.FETCH_MAX_WAIT.set(fetch_wait)
    # Faust stops feeding every stream while more than ``max_messages`` (100) sends wait in its
    # producer buffer; one batch's lists and state writes are more than that, so each batch
    # stalled the next one's intake (batches of ~15 under a backlog). What may wait is bounded
    # by the acks instead: at most ``batches_in_flight`` batches of output.
    app.producer.buffer.max_messages = max(app.producer.buffer.max_messages,
                                           3 * settings.batch_size * (settings.batches_in_flight + 1))
    acks = AckAfterDelivery(stream.ack, settings.delivery_timeout, settings.batches_in_flight, fail_stop,
                            metrics.PUBLISH_SECONDS.observe)
    output = open_output()
    # noack_take: a batch is acked (and so committable) only once its output is on the broker
    async for batch in stream.noack_take(settings.batch_size, within=settings.batch_within):
        t0 = time.perf_counter()
        # a swipe outside its key's murmur2 partition (a CRC32 producer) goes there first, so
        # each user's state is kept by one partition; acked once the forward is on the broker
        # (the count the start-up check found; unknown, e.g. under test_context: nothing moves)
        away = (misrouted([e.key for e in batch], [e.message.partition for e in batch], swipes_partitions)
                if swipes_partitions else {})
        for i, p in away.items():
            output.send(settings.swipes_topic, batch[i].key, batch[i].value, p)
        events = [e for i, e in enumerate(batch) if i not in away]
        messages = [Incoming(e.value, e.message.topic, e.message.partition, e.message.offset, e.key)
                    for e in events]

        # Table reads and writes use the partition of the "current event": point it at the
        # user's own message so state lands in the changelog partition of the user's key.
        by_user = {}
        for e, m in zip(events, messages):
            try:
                by_user.setdefault(int(m.key or b"-1"), e)
            except ValueError:
                pass

        state_cache.at_generation(app.consumer_generation_id)  # a rebalance since: empty

        def load_in_partition(uid: int) -> UserState | None:
            key = str(uid).encode()
            cached = None if app.rebalancing else state_cache.get(key)
            if cached is not None:
                return cached
            if uid in by_user:
                in_partition_of(by_user[uid])
            raw = user_states.get(key)
            return UserState.from_bytes(raw) if raw else None

        result = process_batch(model.for_user, messages, load_in_partition, settings.top_n,
                               settings.max_clock_skew)
        for uid, state in result.states.items():
            in_partition_of(events[result.last_message[uid]])
            key = str(uid).encode()
            user_states[key] = state.to_bytes()  # + its changelog record, into ``output``
            state_cache.put(key, state)
        t1 = time.perf_counter()
        metrics.UPDATE_SECONDS.observe(t1 - t0)
        # queued without a round trip per message; the batch is acked in the background once
        # the broker acknowledged all of its output
        for i, dead in result.dead_letters:
            output.send(settings.dlq_topic, events[i].key, dead.to_bytes())
            log.warning("dead-lettered %s[%d]@%d: %s", dead.source_topic, dead.source_partition,
                        dead.source_offset, dead.error)
        for rl in result.lists:
            output.send(settings.recommendations_topic, str(rl.user_id).encode(), rl.to_bytes())
        sent = output.seal()
        await acks.submit(batch, sent, t1)
        metrics.EVENTS.labels("rerouted").inc(len(away))
        metrics.EVENTS.labels("applied").inc(result.applied)
        metrics.EVENTS.labels("duplicate").inc(result.duplicates)
        metrics.EVENTS.labels("dead_lettered").inc(len(result.dead_letters))
        metrics.UNRANKED.inc(len(result.unranked))
        metrics.BATCH_SIZE.observe(len(batch))


def open_output() -> BatchOutput:
    """The agent's output client (``settings.output_client``); the table's changelog records
    go through it too, so that each batch has one delivery to await."""
    if settings.output_client == "faust":
        user_states.output = None
        return FaustOutput({t.get_topic_name(): t for t in (swipes_topic, recommendations_topic, dlq_topic)},
                           user_states.take_in_flight)
    global librdkafka_output
    if librdkafka_output is None:
        librdkafka_output = LibrdkafkaOutput(
            kafka, linger_s=settings.producer_linger, max_batch_bytes=settings.producer_max_batch_size,
            timeout_s=settings.delivery_timeout, client_id=settings.client_id or f"{settings.app_id}-output",
            on_changelog=user_states.record_delivered)
    user_states.output = librdkafka_output
    return librdkafka_output


librdkafka_output: LibrdkafkaOutput | None = None


@app.on_before_shutdown.connect
async def _close_output(sender: faust.App, **_: object) -> None:
    """Give queued output a moment to reach the broker (what does not is processed again)."""
    if librdkafka_output is not None:
        loop = asyncio.get_running_loop()
        left = await loop.run_in_executor(None, librdkafka_output.close, min(2.0, settings.shutdown_timeout / 4))
        if left:
            log.warning("%d output messages unacknowledged at shutdown; their swipes are processed again", left)


def stop_misconfigured(reason: str) -> NoReturn:
    """Exit at once with EX_CONFIG: a restart cannot help until the setup is fixed."""
    log.critical("exiting: the worker cannot run with this configuration: %s", reason)
    logging.shutdown()
    os._exit(EXIT_CONFIG)


def fail_stop(exc: DeliveryError) -> NoReturn:
    """Exit at once: a batch's output did not reach the broker, and the worker cannot tell
    which of its later batches' sends will. Nothing unacknowledged is committed; the
    supervisor restarts the worker and the unacked batches are processed again."""
    log.critical("exiting: this batch's output is not durable: %s", exc)
    logging.shutdown()
    os._exit(EXIT_NOT_DURABLE)


@app.page("/metrics")
async def prometheus_metrics(web: faust.web.Web, request: faust.web.Request) -> faust.web.Response:
    """Prometheus exposition of the worker's counters and latency histograms."""
    return web.bytes(generate_latest(metrics.REGISTRY), content_type=CONTENT_TYPE_LATEST.split(";")[0])


from stream_app import web as _web  # noqa: E402  (the routes use the objects above)

_web.register(app, sys.modules[__name__])


def main() -> None:  # pragma: no cover - exercised by `movierec stream worker`
    app.main()
