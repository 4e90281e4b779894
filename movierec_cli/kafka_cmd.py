"""`movierec kafka`: fetch, start, stop and inspect the local Kafka broker (no Docker needed)."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from stream_app import local_kafka

app = typer.Typer(no_args_is_help=True, help="A local Apache Kafka broker (KRaft) from Maven jars.")
console = Console()
err_console = Console(stderr=True)

_STATE_DIR = typer.Option(local_kafka.DEFAULT_STATE_DIR, "--state-dir",
                          help="Config, pid file, logs and data of the broker.")


@app.command()
def fetch(libs_dir: Path | None = typer.Option(None, "--libs-dir", help="[default: ~/.cache/movierec/kafka-"
                                                f"{local_kafka.KAFKA_VERSION}/libs or $MOVIEREC_KAFKA_LIBS]")) -> None:
    """Download the broker's jars with Maven into a cache outside git (skipped when complete)."""
    try:
        libs = local_kafka.fetch(libs_dir)
    except local_kafka.LocalKafkaError as exc:
        err_console.print(f"[red]fetch failed:[/] {exc}")
        raise typer.Exit(1) from None
    console.print(f"Kafka {local_kafka.KAFKA_VERSION} jars in {libs}")


@app.command()
def start(
    port: int = typer.Option(9092, "--port", help="Broker port; the controller uses port + 1."),
    state_dir: Path = _STATE_DIR,
    heap_mb: int = typer.Option(512, "--heap-mb", help="JVM heap (-Xmx) in MiB."),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds to wait for the broker to answer."),
    jvm_opt: list[str] = typer.Option([], "--jvm-opt", help="An extra JVM option (repeatable), e.g. "
                                      "--jvm-opt=-Xlog:gc:file=gc.log for a GC log."),
) -> None:
    """Start the broker in the background (fetching its jars first if needed)."""
    from stream_app.admin import ensure_topics
    from stream_app.settings import StreamSettings

    settings = StreamSettings()  # topic names and partitions: the worker's, from MOVIEREC_*
    try:
        result = local_kafka.start(port=port, state_dir=state_dir, heap_mb=heap_mb, timeout_s=timeout,
                                   default_partitions=settings.partitions, jvm_options=jvm_opt)
    except local_kafka.LocalKafkaError as exc:
        err_console.print(f"[red]kafka did not start:[/] {exc}")
        raise typer.Exit(1) from None
    st = result.status
    assert st.bootstrap is not None
    topics = settings.topic_partitions()
    created = ensure_topics(st.bootstrap, topics)  # before any client can auto-create one
    console.print("topics: " + ", ".join(f"{t} ({n} partition{'s' if n > 1 else ''}"
                                         f"{', created' if t in created else ''})" for t, n in topics.items()))
    if result.already_running:
        console.print(f"kafka already running on {st.bootstrap} (pid {st.pid}, state {st.state_dir})")
    else:
        console.print(f"[green]kafka started[/] on {st.bootstrap} in {result.elapsed_s:.1f} s "
                      f"(pid {st.pid}, logs {st.state_dir / 'logs'})")


@app.command()
def stop(state_dir: Path = _STATE_DIR,
         timeout: float = typer.Option(30.0, "--timeout", help="Seconds before SIGTERM turns into SIGKILL.")) -> None:
    """Stop the broker of the state directory."""
    if local_kafka.stop(state_dir, timeout_s=timeout):
        console.print(f"kafka of {state_dir} stopped")
    else:
        console.print(f"no kafka running for {state_dir}")


@app.command()
def status(state_dir: Path = _STATE_DIR) -> None:
    """Show whether the broker of the state directory runs; exit 1 if it does not."""
    st = local_kafka.status(state_dir)
    table = Table(show_header=False, title="local kafka")
    table.add_row("state dir", str(st.state_dir))
    table.add_row("running", "[green]yes[/]" if st.running else "[red]no[/]")
    table.add_row("pid", str(st.pid or "-"))
    table.add_row("bootstrap", st.bootstrap or "-")
    table.add_row("port answering", "yes" if st.answering else "no")
    console.print(table)
    if not st.running:
        if st.answering and st.pid is None:
            err_console.print(f"[yellow]port {st.port} answers, but not for a broker of {state_dir}[/]")
        raise typer.Exit(1)
