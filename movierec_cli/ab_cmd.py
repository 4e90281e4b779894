"""`movierec ab`: the online A/B report (hit rate of shown lists per variant, z-test)."""
from __future__ import annotations

from pathlib import Path

import typer
from confluent_kafka import KafkaException
from rich.console import Console
from rich.table import Table

from offline.ab import ABReport
from offline.artifacts import write_json_atomic
from stream_app.ab_kafka import ReadSummary, kafka_ab_report
from stream_app.settings import StreamSettings

app = typer.Typer(no_args_is_help=True, help="Online A/B evaluation of champion and challenger.")
console = Console()
err = Console(stderr=True)


@app.callback()
def ab() -> None:
    """Online A/B evaluation of champion and challenger (a group even with one command)."""


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def report_table(report: ABReport, summary: ReadSummary) -> Table:
    """One row per variant plus the overall row."""
    table = Table(title=f"A/B hit rate: a positive swipe on a shown movie within the next {report.within} swipes "
                        f"({summary.lists:,} lists, {summary.swipes:,} swipes; control {report.control or '-'})")
    for col in ("variant", "lists", "hits", "hit rate", "z vs control", "p"):
        table.add_column(col, justify="left" if col == "variant" else "right")
    for v in (*report.variants, report.overall):
        table.add_row(v.variant, f"{v.n:,}", f"{v.hits:,}", _fmt(v.rate, ".4f"), _fmt(v.z, "+.3f"), _fmt(v.p, ".4f"))
    return table


@app.command()
def report(
    bootstrap: str | None = typer.Option(None, "--bootstrap", help="Kafka bootstrap servers "
                                         "[default: $MOVIEREC_BOOTSTRAP_SERVERS or 127.0.0.1:9092]."),
    within: int = typer.Option(5, "--within", min=1, help="A list hits when one of the user's next N swipes "
                               "likes (3 or 4) one of its movies."),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the report as JSON to this file "
                                         "(read by `movierec retrain --when-degraded`)."),
    control: str | None = typer.Option(None, "--control", help="Reference variant [default: champion, else "
                                       "the first by name]."),
    timeout: float = typer.Option(30.0, "--timeout", help="Seconds to read the topics to their end."),
    recommendations_topic: str | None = typer.Option(None, "--recommendations-topic",
                                                     help="[default: $MOVIEREC_RECOMMENDATIONS_TOPIC]."),
    swipes_topic: str | None = typer.Option(None, "--swipes-topic", help="[default: $MOVIEREC_SWIPES_TOPIC]."),
) -> None:
    """Read every list and swipe so far; print each variant's hit rate and its z-test."""
    settings = StreamSettings()
    servers = bootstrap or settings.bootstrap_servers
    try:
        result, summary = kafka_ab_report(settings.connection(servers), within, recommendations_topic or settings.recommendations_topic,
                                          swipes_topic or settings.swipes_topic, control, timeout)
    except KafkaException as exc:
        err.print(f"[red]cannot read the topics from {servers}:[/] {exc}")
        raise typer.Exit(1) from None
    if not summary.complete:
        err.print(f"[yellow]the topics were not read to their end within {timeout:g} s: the report is partial[/]")
    if summary.malformed:
        err.print(f"[yellow]{summary.malformed} malformed messages skipped[/]")
    console.print(report_table(result, summary))
    if json_out is not None:
        payload = {**result.to_json(), "read": {"lists": summary.lists, "swipes": summary.swipes,
                                                "malformed": summary.malformed, "complete": summary.complete}}
        write_json_atomic(json_out, payload)
        console.print(f"wrote {json_out}")
    if not summary.complete:
        raise typer.Exit(1)

