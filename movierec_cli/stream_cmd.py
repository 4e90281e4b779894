"""`movierec stream`: send a swipe, show a user's newest recommendation list.

``swipe`` and ``recs`` are plain functions, so they can also be registered as top-level commands.
"""
from __future__ import annotations

import typer
from confluent_kafka import KafkaException
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from schemas.events import RecommendationList
from stream_app.clients import RecommendationConsumer, SwipeProducer
from stream_app.settings import StreamSettings

app = typer.Typer(no_args_is_help=True, help="Talk to the streaming recommender through Kafka.")
console = Console()
err_console = Console(stderr=True)

_BOOTSTRAP = typer.Option(None, "--bootstrap", help="Kafka bootstrap servers [default: $MOVIEREC_BOOTSTRAP_SERVERS "
                                                     "or 127.0.0.1:9092].")


@app.command()
def swipe(
    user: int = typer.Option(..., "--user", help="User id (0 and up)."),
    movie: int = typer.Option(..., "--movie", help="MovieLens movie id."),
    preference: int = typer.Option(..., "--preference", help="1 hate, 2 dislike, 3 like, 4 love."),
    wait: float = typer.Option(0.0, "--wait", help="Then wait up to this many seconds for the list it causes."),
    timeout: float = typer.Option(30.0, "--timeout", min=0.1, help="Seconds to wait for the broker's acknowledgement."),
    bootstrap: str | None = _BOOTSTRAP,
) -> None:
    """Send one swipe to swipes.v1 (TLS/SASL from the MOVIEREC_KAFKA__* settings)."""
    settings = StreamSettings()
    kafka = settings.connection(bootstrap)
    servers = kafka.bootstrap_servers
    try:
        producer = SwipeProducer(kafka, settings.swipes_topic)
        event = producer.send(user_id=user, movie_id=movie, preference=preference)
        producer.flush(timeout)
    except ValidationError as exc:
        err_console.print(f"[red]invalid swipe:[/] {exc}")
        raise typer.Exit(2) from None
    except Exception as exc:  # noqa: BLE001 - delivery failures: show, exit non-zero
        err_console.print(f"[red]swipe not delivered to {servers}:[/] {exc}")
        raise typer.Exit(1) from None
    console.print(f"sent swipe {event.event_id}: user {user} -> movie {movie}, preference {preference}")
    if wait > 0:
        with RecommendationConsumer(kafka, settings.recommendations_topic) as consumer:
            result = consumer.latest_for(user, wait, cause_event_id=event.event_id)
        if result is None:
            err_console.print(f"[yellow]no list caused by this swipe within {wait:g} s[/]")
            raise typer.Exit(1)
        console.print(render_table(result))


@app.command()
def recs(
    user: int = typer.Option(..., "--user", help="User id."),
    timeout: float = typer.Option(10.0, "--timeout", help="Seconds to wait for a list."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON line (the RecommendationList)."),
    bootstrap: str | None = _BOOTSTRAP,
) -> None:
    """Show the user's newest recommendation list from recommendations.v1."""
    settings = StreamSettings()
    kafka = settings.connection(bootstrap)
    servers = kafka.bootstrap_servers
    try:
        with RecommendationConsumer(kafka, settings.recommendations_topic) as consumer:
            result = consumer.latest_for(user, timeout)
    except KafkaException as exc:
        err_console.print(f"[red]cannot read lists from {servers}:[/] {exc}")
        raise typer.Exit(1) from None
    if result is None:
        err_console.print(f"[yellow]no recommendation list for user {user} on {servers} within {timeout:g} s[/]")
        raise typer.Exit(1)
    if as_json:
        typer.echo(result.model_dump_json())
    else:
        console.print(render_table(result))


def render_table(result: RecommendationList) -> Table:
    """A rich table of one list, its provenance in the title."""
    title = (f"user {result.user_id}: {result.strategy}, model {result.model_version}"
             + (f", variant {result.variant}" if result.variant else "")
             + f", {result.generated_at:%Y-%m-%d %H:%M:%S} UTC")
    table = Table(title=title)
    table.add_column("rank", justify="right")
    table.add_column("movie_id", justify="right")
    table.add_column("score", justify="right")
    for item in result.items:
        table.add_row(str(item.rank), str(item.movie_id), f"{item.score:.4f}")
    return table


@app.command()
def worker(
    loglevel: str = typer.Option("info", "--loglevel", "-l", help="Faust worker log level."),
) -> None:
    """Run the stream worker (same as `faust -A stream_app.app worker`); configure it with
    MOVIEREC_* environment variables (see stream_app/settings.py). The worker creates the
    project's missing topics itself before it joins (stream_app/preflight.py)."""
    import sys

    from stream_app.app import app as faust_app

    sys.argv = ["movierec-stream", "worker", "-l", loglevel]
    faust_app.main()
