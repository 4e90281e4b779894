"""`movierec demo`: train, start Kafka and the worker, stream swipes, watch lists change.

Everything it starts it stops again (a broker that was already running is left running).
"""
from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

console = Console(width=max(Console().width, 120))

SWIPE_WORDS = {1: "HATES", 2: "dislikes", 3: "likes", 4: "LOVES"}


def _data(data: Path | None, work: Path) -> Path:
    """ml-latest-small from data/raw when present, else synthetic data (saying so)."""
    if data is not None:
        return data
    raw = Path("data/raw/ml-latest-small")
    if (raw / "ratings.csv").is_file():
        console.print(f"[bold]data:[/] MovieLens ml-latest-small from {raw}")
        return raw
    from offline.data.synth import generate

    out = work / "synth"
    console.print(f"[bold yellow]data:[/] {raw} not found — generating synthetic MovieLens-shaped data in {out} "
                  "(put ml-latest-small there to demo on real ratings)")
    if not (out / "ratings.csv").is_file():
        generate(out, n_users=1500, n_movies=2500, n_ratings=150_000, seed=7)
    return out


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
    data: Path | None = typer.Option(None, "--data", help="Default: data/raw/ml-latest-small, else synthetic."),
    artifacts: Path = typer.Option(Path("artifacts"), "--artifacts"),
    port: int = typer.Option(9092, "--port", help="Kafka port."),
    strategy: str = typer.Option("foldin", "--strategy", help="foldin or additive."),
) -> None:
    """Train, start Kafka and the worker, stream swipes, show recommendations changing."""
    from offline.artifacts import load_version
    from offline.pipeline import run_pipeline
    from schemas.events import SwipeEvent
    from stream_app import local_kafka
    from stream_app.clients import RecommendationConsumer, SwipeProducer
    from stream_app.runner import WorkerProcess

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("stream_app.clients").setLevel(logging.ERROR)  # broker warm-up retries are noise here
    work = Path(".movierec/demo")
    work.mkdir(parents=True, exist_ok=True)
    console.rule("1. offline: train ALS and baselines")
    result = run_pipeline(_data(data, work), artifacts)
    test = result.metrics["test"]
    console.print(f"model {result.version}: test NDCG@10 ALS {test['als']['ndcg@10']:.4f} vs popularity "
                  f"{test['popularity_count']['ndcg@10']:.4f}")
    art = load_version(artifacts, result.version)
    movies = art.tables["movies"].set_index("movie_id")
    popularity = art.tables["popularity"].sort_values("positive_count", ascending=False)

    console.rule("2. start Kafka (KRaft, from Maven jars) and the stream worker")
    started = local_kafka.start(port=port)
    console.print(f"kafka on 127.0.0.1:{port} ({'already running' if started.already_running else 'started'})")
    bootstrap = f"127.0.0.1:{port}"
    # Topics of this run only: a demo never replays (or pollutes) anybody else's swipes.
    run = uuid.uuid4().hex[:8]
    topics = {"SWIPES_TOPIC": f"demo-{run}.swipes.v1", "RECOMMENDATIONS_TOPIC": f"demo-{run}.recommendations.v1",
              "DLQ_TOPIC": f"demo-{run}.swipes.dlq.v1", "MODELS_TOPIC": f"demo-{run}.models.v1"}
    worker = WorkerProcess({"BOOTSTRAP_SERVERS": bootstrap, "ARTIFACTS": str(artifacts), "STRATEGY": strategy,
                            "ARTIFACT_VERSION": result.version, "DATA_DIR": str(work / "faust"),
                            "APP_ID": f"movierec-demo-{run}", **topics}, work / "worker.log")
    try:
        worker.start()
        console.print(f"worker ready (log {work / 'worker.log'}, metrics http://127.0.0.1:6066/metrics)")
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
                seen = set(art.tables["train"].query("user_id == @user")["movie_id"])
                picks = [m for m in in_genre if m not in seen][:4]
                columns: list[tuple[str, list[int]]] = []
                for i, movie in enumerate(picks):
                    event = SwipeEvent(user_id=user, movie_id=int(movie), preference=4, occurred_at=t + timedelta(minutes=i))
                    producer.send(event)
                    producer.flush()
                    rl = consumer.latest_for(user, timeout=30, cause_event_id=event.event_id)
                    if rl is None:
                        raise typer.Exit(f"no list for {event} within 30 s; see {work / 'worker.log'}")
                    console.print(f"{label} {SWIPE_WORDS[4]} [bold]{movies.at[movie, 'clean_title']}[/] → "
                                  f"new list ({rl.strategy}, {len(rl.items)} items)")
                    columns.append((f"after swipe {i + 1} ({rl.strategy})", [it.movie_id for it in rl.items]))
                console.print(_list_table(f"{label}: top 8 as they {SWIPE_WORDS[4].lower()} {genre} movies "
                                          "(green: new since the first list)", columns, movies, 8))
    finally:
        console.rule("4. stop what the demo started")
        worker.stop()
        if not started.already_running:
            local_kafka.stop()
        console.print("worker stopped" + ("" if started.already_running else "; kafka stopped"))
