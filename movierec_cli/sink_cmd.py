"""`movierec sink`: append every valid swipe to date-partitioned Parquet (the swipe history).

``sink`` is a plain function, registered as a top-level command in ``movierec_cli.main``.
Defaults come from ``StreamSettings`` (``MOVIEREC_BOOTSTRAP_SERVERS``, ``MOVIEREC_SWIPES_TOPIC``,
``MOVIEREC_HISTORY_DIR``). SIGINT and SIGTERM stop it cleanly: it flushes and commits first.
"""
from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType

import typer
from confluent_kafka import KafkaException
from rich.console import Console
from rich.table import Table

from stream_app.history_sink import HistorySink, SinkStats
from stream_app.settings import StreamSettings

console = Console()


def stats_table(stats: SinkStats, out: Path) -> Table:
    """One row of the sink's counters."""
    table = Table(title=f"history sink -> {out}")
    for col in ("messages", "rows written", "files written", "invalid skipped", "commits"):
        table.add_column(col, justify="right")
    table.add_row(*(f"{v:,}" for v in (stats.messages, stats.rows_written, stats.files_written,
                                       stats.invalid, stats.commits)))
    return table


def sink(
    bootstrap: str | None = typer.Option(None, "--bootstrap", help="Kafka bootstrap servers "
                                         "[default: $MOVIEREC_BOOTSTRAP_SERVERS or 127.0.0.1:9092]."),
    out: Path | None = typer.Option(None, "--out", help="History folder [default: $MOVIEREC_HISTORY_DIR "
                                    "or .movierec/history]."),
    seconds: float | None = typer.Option(None, "--seconds", help="Stop after this many seconds (default: run "
                                         "until interrupted)."),
    topic: str | None = typer.Option(None, "--topic", help="Swipes topic [default: $MOVIEREC_SWIPES_TOPIC]."),
    group: str = typer.Option("movierec-history-sink", "--group", help="Consumer group (offsets are committed "
                              "only after the files are durable)."),
    flush_events: int = typer.Option(10_000, "--flush-events", min=1, help="Write once this many swipes wait."),
    flush_seconds: float = typer.Option(30.0, "--flush-seconds", min=0.001, help="Write at least this often."),
) -> None:
    """Consume swipes.v1 and append every valid swipe to OUT/date=YYYY-MM-DD/part-*.parquet."""
    settings = StreamSettings()
    out_dir = out if out is not None else settings.history_dir
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger(__name__).info("signal %d: flushing and stopping", signum)
        stop.set()

    previous = {s: signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        history = HistorySink(settings.connection(bootstrap), topic or settings.swipes_topic, out_dir,
                              group_id=group, flush_events=flush_events, flush_seconds=flush_seconds)
        stats = history.run(max_seconds=seconds, stop_event=stop)
    except KafkaException as exc:
        Console(stderr=True).print(f"[red]history sink failed:[/] {exc}")
        raise typer.Exit(1) from None
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    console.print(stats_table(stats, out_dir))
