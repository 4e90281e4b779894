"""`movierec offline`: run the offline pipeline and inspect artifact versions."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(no_args_is_help=True, help="Offline ALS pipeline.")
console = Console(width=max(Console().width, 150))
err = Console(stderr=True)

METRIC_COLUMNS = ("ndcg@10", "recall@10", "precision@10", "map@10", "hit@10", "ndcg@20", "recall@20",
                  "coverage@10", "gini@10", "diversity@10", "novelty@10")
"""Columns of the printed table; metrics.json holds every metric at every K."""


def stage_table(stages: list[dict[str, Any]]) -> Table:
    t = Table(title="Stages")
    for col in ("stage", "rows in", "rows out", "seconds", "peak MiB", "note"):
        t.add_column(col, justify="left" if col in ("stage", "note") else "right")
    for s in stages:
        t.add_row(s["name"], f"{s['rows_in']:,}", f"{s['rows_out']:,}", f"{s['seconds']:.2f}",
                  f"{s['peak_rss_mb']:.0f}", s.get("note", ""))
    return t


def metrics_table(metrics: dict[str, dict[str, dict[str, float]]]) -> Table:
    t = Table(title="Metrics (relevant = liked movies of the period; seen movies excluded)")
    t.add_column("split")
    t.add_column("model", no_wrap=True)
    for c in METRIC_COLUMNS:
        t.add_column(c, justify="right")
    for split, models in metrics.items():
        for name, m in models.items():
            if "ndcg@10" not in m:
                continue
            t.add_row(split, name, *(f"{m.get(c, float('nan')):.4f}" for c in METRIC_COLUMNS))
    return t


def metrics_markdown(metrics: dict[str, dict[str, dict[str, float]]]) -> str:
    """The ranking and rating metrics as two Markdown tables."""
    lines = ["| split | model | " + " | ".join(METRIC_COLUMNS) + " |", "|---|---|" + "---:|" * len(METRIC_COLUMNS)]
    for split, models in metrics.items():
        for name, m in models.items():
            if "ndcg@10" in m:
                lines.append(f"| {split} | {name} | " + " | ".join(f"{m[c]:.4f}" for c in METRIC_COLUMNS) + " |")
    lines += ["", "| split | model | rmse | mae |", "|---|---|---:|---:|"]
    for split, models in metrics.items():
        for name, m in models.items():
            if "rmse" in m:
                lines.append(f"| {split} | {name} | {m['rmse']:.4f} | {m['mae']:.4f} |")
    return "\n".join(lines)


def rating_table(metrics: dict[str, dict[str, dict[str, float]]]) -> Table:
    t = Table(title="Rating prediction")
    for col in ("split", "model", "rmse", "mae"):
        t.add_column(col)
    for split, models in metrics.items():
        for name, m in models.items():
            if "rmse" in m:
                t.add_row(split, name, f"{m['rmse']:.4f}", f"{m['mae']:.4f}")
    return t


@app.command()
def run(
    data: Path = typer.Option(..., "--data", help="MovieLens folder (any layout) or a ratings file."),
    artifacts: Path = typer.Option(Path("artifacts"), "--artifacts", help="Root of the versioned artifacts."),
    config: Path | None = typer.Option(None, "--config", help="JSON or TOML pipeline configuration."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bars."),
) -> None:
    """Load, clean, filter, split, train ALS and baselines, evaluate, write a version."""
    from offline.artifacts import ArtifactError
    from offline.config import PipelineConfig
    from offline.data.errors import DataError
    from offline.pipeline import run_pipeline

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        result = run_pipeline(data, artifacts, PipelineConfig.from_file(config), show_progress=progress)
    except (DataError, ArtifactError, ValueError) as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    from offline.tracking import log_pipeline_run

    if (run_id := log_pipeline_run(result)) is not None:  # only with MOVIEREC_MLFLOW_TRACKING_URI set
        console.print(f"MLflow run {run_id}")
    rounds = Table(title="Core filtering")
    for col in ("round", "ratings", "users", "movies", "dropped users", "dropped movies"):
        rounds.add_column(col, justify="right")
    for r in result.filter_rounds:
        rounds.add_row(*(f"{v:,}" for v in (r.round, r.ratings, r.users, r.movies, r.dropped_users, r.dropped_movies)))
    report = result.info["data"]["ratings_report"]
    console.print(f"data: {result.info['data']['layout']} — {report}")
    console.print(rounds)
    console.print(stage_table(result.stages))
    console.print(metrics_table(result.metrics))
    console.print(rating_table(result.metrics))
    console.print(f"cold-start popularity (chosen on val NDCG@10): [bold]{result.info['cold_start']}[/]")
    console.print(f"wrote [bold]{result.path}[/] (LATEST → {result.version})")


@app.command("list")
def list_(artifacts: Path = typer.Option(Path("artifacts"), "--artifacts")) -> None:
    """List the complete artifact versions, newest last."""
    from offline.artifacts import latest_version, list_versions

    versions = list_versions(artifacts)
    latest = latest_version(artifacts) if (artifacts / "LATEST").exists() else None
    for v in versions:
        console.print(f"{'*' if v == latest else ' '} {v}")


@app.command()
def show(
    artifacts: Path = typer.Option(Path("artifacts"), "--artifacts"),
    version: str | None = typer.Option(None, "--version", help="Default: the LATEST pointer."),
    markdown: bool = typer.Option(False, "--markdown", help="Print the metrics as Markdown tables."),
) -> None:
    """Verify a version's checksums and print its metrics."""
    from offline.artifacts import ArtifactError, load_version

    try:
        art = load_version(artifacts, version)
    except ArtifactError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    if markdown:
        print(metrics_markdown(art.metrics))
        return
    console.print(f"{art.version}: checksums OK; {art.info['counts']['users']:,} users, "
                  f"{art.info['counts']['movies']:,} movies")
    console.print(metrics_table(art.metrics))
    console.print(rating_table(art.metrics))
