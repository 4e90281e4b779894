"""`movierec demo`: train, start Kafka and the worker, stream swipes, watch lists change.

Everything it starts it stops again (a broker that was already running is left running).
"""
from __future__ import annotations

import logging
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from offline.data.errors import DataError
from offline.data.fetch import ARCHIVES
from offline.data.locate import DATASET, Source, find_dataset, project_root, search_order

console = Console(width=max(Console().width, 120))

SWIPE_WORDS = {1: "HATES", 2: "dislikes", 3: "likes", 4: "LOVES"}
DEMO_DIR = Path(".movierec/demo")


@dataclass(frozen=True)
class DemoPaths:
    """Everything the demo writes, all absolute (the worker runs from the project root)."""

    work: Path
    artifacts: Path
    kafka_state: Path
    faust_dir: Path
    history_dir: Path
    worker_log: Path
    synth: Path


def demo_paths(artifacts: Path | None, work: Path = DEMO_DIR) -> DemoPaths:
    """The demo's paths: all under ``work`` (``.movierec/demo``), artifacts too unless given."""
    work = work.resolve()
    return DemoPaths(work=work, artifacts=(artifacts or work / "artifacts").resolve(), kafka_state=work / "kafka",
                     faust_dir=work / "faust", history_dir=work / "history", worker_log=work / "worker.log",
                     synth=work / "synth")


def data_sources(data: Path | None, data_from_env: bool, cwd: Path | None = None) -> list[Source]:
    """Where the demo looks for MovieLens, first to last (``--data``, ``$MOVIEREC_DATA``, data/raw, ../shared/data)."""
    cwd = (cwd or Path.cwd()).resolve()
    project = project_root(Path(__file__).parent) or project_root(cwd)
    return search_order(cwd, project, data=None if data_from_env else data, env_data=data if data_from_env else None)


def _synthetic_warning(sources: list[Source], out: Path) -> Panel:
    looked = "\n".join(f"  {s.root / DATASET}  ({s.label})" for s in sources)
    return Panel(
        f"[bold]No MovieLens {DATASET} found[/]; looked in:\n{looked}\n\n"
        f"Training on [bold]SYNTHETIC[/] data in {out}: made-up titles, and ALS loses to popularity, "
        "so the lists say little.\n\n[bold]To demo on real ratings:[/]\n"
        f"  movierec data fetch {DATASET}            (downloads into data/raw/, checks its SHA-256)\n"
        f"  or unzip {ARCHIVES[DATASET].url()} into data/raw/\n"
        "  or point --data / $MOVIEREC_DATA at a folder holding it",
        title="[bold red]synthetic data[/]", border_style="red",
    )


def _data(data: Path | None, data_from_env: bool, synth: Path) -> Path:
    """ml-latest-small from the first source holding it, else synthetic data (said loudly)."""
    sources = data_sources(data, data_from_env)
    try:
        found = find_dataset(sources)
    except DataError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None
    if found is not None:
        path = found.path.resolve()
        console.print(f"[bold]data:[/] MovieLens from {path} ({found.source.label})")
        return path
    from offline.data.synth import generate

    console.print(_synthetic_warning(sources, synth))
    if not (synth / "ratings.csv").is_file():
        generate(synth, n_users=1500, n_movies=2500, n_ratings=150_000, seed=7)
    return synth


def _free_port(preferred: int) -> int:
    """``preferred`` when nothing listens there, else a free port the OS picks."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])


def _served_list(web_port: int, user: int, n: int = 10) -> list[int]:
    """The user's list as the worker serves it now (HTTP), movie ids best first."""
    import json
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/users/{user}/recommendations?n={n}", timeout=10) as r:
        return [int(it["movie_id"]) for it in json.loads(r.read())["items"]]


def _list_table(title: str, lists: list[tuple[str, list[int]]], movies: pd.DataFrame, n: int) -> Table:
    t = Table(title=title, show_lines=False)
    t.add_column("#", justify="right")
    for name, _ in lists:
        t.add_column(name, overflow="ellipsis", max_width=38)
    first = set(lists[0][1][:n])
    for r in range(n):
        row = [str(r + 1)]
        for i, (_, ids) in enumerate(lists):
            if r >= len(ids):
                row.append("")
                continue
            text = f"{movies.at[ids[r], 'clean_title']} ({movies.at[ids[r], 'genres'].split('|')[0]})"
            row.append(f"[green]{text}[/]" if i > 0 and ids[r] not in first else text)
        t.add_row(*row)
    return t


def demo(
    ctx: typer.Context,
    data: Path | None = typer.Option(
        None, "--data", envvar="MOVIEREC_DATA",
        help="MovieLens folder (or a folder holding ml-latest-small). Default: data/raw, then ../shared/data "
             "(beside the project and the working directory), else synthetic."),
    artifacts: Path | None = typer.Option(None, "--artifacts", help="Model root. Default: .movierec/demo/artifacts "
                                                                     "(./artifacts and its LATEST stay untouched)."),
    port: int = typer.Option(9092, "--port", help="Kafka port (the controller uses port + 1)."),
    web_port: int = typer.Option(6066, "--web-port", help="Worker's HTTP/metrics port (a free one if taken)."),
    strategy: str | None = typer.Option(None, "--strategy", help="An online strategy (online.rules.STRATEGIES); "
                                        "default: the worker's (recency_neighbours)."),
    serve: bool = typer.Option(False, "--serve", help="Then serve the swipe app in the browser until Ctrl-C."),
    app_port: int = typer.Option(8000, "--app-port", help="The app's port with --serve (a free one if taken)."),
) -> None:
    """Train, start Kafka and the worker, stream swipes, show recommendations changing; with
    --serve, then serve the swipe app (`movierec app`) on the demo's worker until Ctrl-C."""
    from offline.artifacts import load_version
    from offline.pipeline import run_pipeline
    from schemas.events import SwipeEvent
    from stream_app import local_kafka
    from stream_app.clients import RecommendationConsumer, SwipeProducer
    from stream_app.runner import WorkerProcess

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("stream_app.clients").setLevel(logging.ERROR)  # broker warm-up retries are noise here
    paths = demo_paths(artifacts)
    paths.work.mkdir(parents=True, exist_ok=True)
    # by name: recent Typer vendors its own click, so click's ParameterSource is another enum
    from_env = getattr(ctx.get_parameter_source("data"), "name", None) == "ENVIRONMENT"
    console.rule("1. offline: train ALS and baselines")
    result = run_pipeline(_data(data, from_env, paths.synth), paths.artifacts)
    test = result.metrics["test"]
    console.print(f"model {result.version} in {paths.artifacts}: test NDCG@10 ALS {test['als']['ndcg@10']:.4f} "
                  f"vs popularity {test['popularity_count']['ndcg@10']:.4f}")
    art = load_version(paths.artifacts, result.version)
    movies = art.tables["movies"].set_index("movie_id")
    popularity = art.tables["popularity"].sort_values("positive_count", ascending=False)

    console.rule("2. start Kafka (KRaft, from Maven jars) and the stream worker")
    # The project's own broker (`movierec kafka start`) is reused when it runs on --port;
    # otherwise the demo starts its own, with its state under .movierec/demo/kafka.
    shared = local_kafka.status(local_kafka.DEFAULT_STATE_DIR)
    kafka_state = local_kafka.DEFAULT_STATE_DIR if shared.running and shared.port == port else paths.kafka_state
    try:
        started = local_kafka.start(port=port, state_dir=kafka_state)
    except local_kafka.LocalKafkaError as exc:
        console.print(f"[bold red]kafka did not start:[/] {exc}")
        raise typer.Exit(1) from None
    console.print(f"kafka on 127.0.0.1:{port} ({'already running' if started.already_running else 'started'}, "
                  f"state {kafka_state})")
    bootstrap = f"127.0.0.1:{port}"
    # Topics of this run only: a demo never replays (or pollutes) anybody else's swipes.
    run = uuid.uuid4().hex[:8]
    topics = {"SWIPES_TOPIC": f"demo-{run}.swipes.v1", "RECOMMENDATIONS_TOPIC": f"demo-{run}.recommendations.v1",
              "DLQ_TOPIC": f"demo-{run}.swipes.dlq.v1", "MODELS_TOPIC": f"demo-{run}.models.v1"}
    web_port = _free_port(web_port)
    worker = WorkerProcess({"BOOTSTRAP_SERVERS": bootstrap, "ARTIFACTS": str(paths.artifacts),
                            **({"STRATEGY": strategy} if strategy else {}), "ARTIFACT_VERSION": result.version, "DATA_DIR": str(paths.faust_dir),
                            "HISTORY_DIR": str(paths.history_dir), "WEB_PORT": str(web_port),
                            "APP_ID": f"movierec-demo-{run}", **topics}, paths.worker_log)
    try:
        worker.start()
        console.print(f"worker ready (log {paths.worker_log}, metrics http://127.0.0.1:{web_port}/metrics)")
        console.rule("3. stream swipes")
        genre = "Animation" if (movies["genres"].str.contains("Animation")).any() else movies["genres"].iloc[0].split("|")[0]
        in_genre = [m for m in popularity["movie_id"] if genre in movies.at[m, "genres"]]
        known_user = int(art.arrays["user_ids"][0])
        new_user = 900_000_001
        t = datetime.now(timezone.utc)
        console.print(f"topics of this run: {topics['SWIPES_TOPIC']} → {topics['RECOMMENDATIONS_TOPIC']}")
        with SwipeProducer(bootstrap, topics["SWIPES_TOPIC"]) as producer, \
                RecommendationConsumer(bootstrap, topics["RECOMMENDATIONS_TOPIC"]) as consumer:
            for user, label in ((known_user, f"known user {known_user}"), (new_user, f"new user {new_user}")):
                seen = {int(m) for part in ("train", "val", "test")
                        for m in art.tables[part].loc[art.tables[part]["user_id"] == user, "movie_id"]}
                picks = [m for m in in_genre if m not in seen][:4]
                columns: list[tuple[str, list[int]]] = [("before", _served_list(web_port, user))]
                for i, movie in enumerate(picks):
                    event = SwipeEvent(user_id=user, movie_id=int(movie), preference=4, occurred_at=t + timedelta(minutes=i))
                    producer.send(event)
                    producer.flush()
                    rl = consumer.latest_for(user, timeout=30, cause_event_id=event.event_id)
                    if rl is None:
                        console.print(f"[bold red]no list for {event} within 30 s[/]; see {paths.worker_log}")
                        raise typer.Exit(1)
                    console.print(f"{label} {SWIPE_WORDS[4]} [bold]{movies.at[movie, 'clean_title']}[/] → "
                                  f"new list ({rl.strategy}, {len(rl.items)} items)")
                    columns.append((f"after swipe {i + 1} ({rl.strategy})", [it.movie_id for it in rl.items]))
                console.print(_list_table(f"{label}: top 8 as they {SWIPE_WORDS[4].lower()} {genre} movies "
                                          "(green: new since the list before)", columns, movies, 8))
                first, last = columns[0][1][:10], columns[-1][1][:10]
                in_genre_count = [sum(genre in movies.at[m, "genres"] for m in ids) for ids in (first, last)]
                console.print(f"{label}: {len(set(first) - set(last))} of the top 10 replaced after 4 swipes; "
                              f"{genre} films in the top 10: {in_genre_count[0]} → {in_genre_count[1]}")
        if serve:
            from stream_app.webapp.server import run as run_app
            from stream_app.webapp.settings import AppSettings

            console.rule("4. the swipe app")
            app_settings = AppSettings(bootstrap_servers=bootstrap, artifacts=paths.artifacts,
                                       artifact_version=result.version, web_port=web_port,
                                       app_port=_free_port(app_port), **{k.lower(): v for k, v in topics.items()})
            run_app(app_settings, lambda url: console.print(Panel(
                f"[bold]{url}[/]\n\nA new user, or a known one ({url}?user={known_user}; {url}?user={new_user} "
                "holds the swipes above). Ctrl-C stops the app, the worker and Kafka.",
                title="[bold green]open the swipe app[/]", border_style="green"), highlight=False))
    finally:
        console.rule(f"{5 if serve else 4}. stop what the demo started")
        worker.stop()
        if not started.already_running:
            local_kafka.stop(kafka_state)
        console.print("worker stopped" + ("" if started.already_running else "; kafka stopped"))
