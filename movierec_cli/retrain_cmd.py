"""`movierec retrain`: train a challenger on MovieLens + the swipe history, compare, promote.

``retrain`` is a plain function, registered as a top-level command in ``movierec_cli.main``.
"""
from __future__ import annotations

import logging
from enum import Enum
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from offline.retrain import FactorScore, RetrainResult
from stream_app.settings import StreamSettings

console = Console()
err = Console(stderr=True)


class UnknownUsersChoice(str, Enum):
    miss = "miss"
    exclude = "exclude"


def result_table(result: RetrainResult) -> Table:
    """Challenger and champion side by side on the newest period."""
    k = result.k
    table = Table(title=f"newest period (the challenger's test split); {result.history_rows:,} swipes in "
                        f"{result.combined_rows:,} training rows")
    for col in ("role", "version", f"ndcg@{k}", f"recall@{k}", "users", "unknown users"):
        table.add_column(col, justify="left" if col in ("role", "version") else "right")

    def row(role: str, version: str | None, score: FactorScore | None) -> None:
        if score is None:
            table.add_row(role, version or "-", "-", "-", "-", "-")
        else:
            table.add_row(role, version or "-", f"{score.ndcg:.4f}", f"{score.recall:.4f}", f"{score.n_users:,}",
                          f"{score.n_unknown:,}")

    row("challenger", result.challenger, result.challenger_score)
    row("champion", result.champion, result.champion_score)
    return table


def retrain(
    data: Path = typer.Option(..., "--data", help="The original MovieLens folder (any layout) or ratings file."),
    history: Path | None = typer.Option(None, "--history", help="Swipe history folder [default: "
                                        "$MOVIEREC_HISTORY_DIR or .movierec/history]."),
    artifacts: Path | None = typer.Option(None, "--artifacts", help="Artifacts root [default: $MOVIEREC_ARTIFACTS "
                                          "or artifacts]."),
    config: Path | None = typer.Option(None, "--config", help="JSON or TOML pipeline configuration."),
    auto_promote: bool = typer.Option(False, "--auto-promote", help="Promote the challenger to champion when it "
                                      "beats the champion's NDCG@10 by more than --margin."),
    margin: float = typer.Option(0.0, "--margin", help="NDCG@10 the challenger must gain to be promoted."),
    when_degraded: bool = typer.Option(False, "--when-degraded", help="Retrain only when the online metric is "
                                       "below --threshold (needs --online-metric and --threshold)."),
    threshold: float | None = typer.Option(None, "--threshold", help="Online metric below which to retrain."),
    online_metric: Path | None = typer.Option(None, "--online-metric", help="JSON file with the online metric, "
                                              "e.g. `movierec ab report --json`'s output."),
    metric_key: str = typer.Option("overall.rate", "--metric-key", help="Dotted key of the metric in that file, "
                                   "e.g. variants.champion.rate."),
    unknown_users: UnknownUsersChoice = typer.Option(UnknownUsersChoice.miss, "--unknown-users",
                                                     help="Users the champion never saw: count as misses, or "
                                                     "exclude them from the comparison."),
    progress: bool = typer.Option(False, "--progress/--no-progress", help="Progress bars."),
) -> None:
    """Retrain on the data plus the swipes; register a challenger; compare it with the champion."""
    from offline.artifacts import ArtifactError
    from offline.config import PipelineConfig
    from offline.data.errors import DataError
    from offline.retrain import read_metric
    from offline.retrain import retrain as run_retrain

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    settings = StreamSettings()
    if when_degraded:
        if threshold is None or online_metric is None:
            err.print("[red]--when-degraded needs --threshold and --online-metric[/]")
            raise typer.Exit(2)
        try:
            value = read_metric(online_metric, metric_key)
        except (OSError, ValueError, KeyError) as exc:
            err.print(f"[red]cannot read the online metric:[/] {exc}")
            raise typer.Exit(2) from None
        if value >= threshold:
            console.print(f"online metric {metric_key} = {value:.4f} >= threshold {threshold:g}: "
                          "not degraded, no retrain")
            return
        console.print(f"online metric {metric_key} = {value:.4f} < threshold {threshold:g}: retraining")
    try:
        result = run_retrain(data, history if history is not None else settings.history_dir,
                             artifacts if artifacts is not None else settings.artifacts,
                             PipelineConfig.from_file(config), auto_promote=auto_promote, margin=margin,
                             unknown_users=unknown_users.value, show_progress=progress)
    except (DataError, ArtifactError, ValueError) as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    console.print(result_table(result))
    if result.promoted:
        console.print(f"[green]promoted[/] {result.challenger} to champion (LATEST follows)")
    else:
        reason = "" if auto_promote else " (no --auto-promote)"
        console.print(f"registered {result.challenger} as challenger; champion unchanged{reason}")
