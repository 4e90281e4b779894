"""`movierec tune`: search ALS hyperparameters (optuna, val NDCG@10) and write the best config."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from offline.tuning import TrialRecord, TuneResult

console = Console(width=max(Console().width, 120))
err = Console(stderr=True)


def trials_table(trials: list[TrialRecord], top: int = 10) -> Table:
    """The ``top`` trials by val NDCG@10, best first (the default trial is marked)."""
    t = Table(title=f"Top {min(top, len(trials))} of {len(trials)} trials (val ndcg@10)")
    for col in ("trial", "val ndcg@10", "factors", "regularization", "alpha", "iterations", "seconds", ""):
        t.add_column(col, justify="left" if col == "" else "right")
    for r in sorted(trials, key=lambda r: r.val_ndcg, reverse=True)[:top]:
        p = r.params
        t.add_row(str(r.number), f"{r.val_ndcg:.4f}", str(p["factors"]), f"{p['regularization']:.4g}",
                  f"{p['alpha']:.4g}", str(p["iterations"]), f"{r.seconds:.1f}", "default" if r.is_default else "")
    return t


def result_table(result: TuneResult) -> Table:
    """Default against best, on val (the objective) and on test (measured once, at the end)."""
    t = Table(title="Default vs best ALS")
    for col in ("config", "trial", "factors", "regularization", "alpha", "iterations", "val ndcg@10", "test ndcg@10"):
        t.add_column(col, justify="left" if col == "config" else "right")
    for name, als, trial, val, test in (
        ("default", result.default, result.default_trial, result.default_val_ndcg, result.default_test_ndcg),
        ("best", result.best, result.best_trial, result.best_val_ndcg, result.best_test_ndcg),
    ):
        t.add_row(name, str(trial), str(als.factors), f"{als.regularization:.4g}", f"{als.alpha:.4g}",
                  str(als.iterations), f"{val:.4f}", f"{test:.4f}")
    return t


def tune(
    data: Path = typer.Option(..., "--data", help="MovieLens folder (any layout) or a ratings file."),
    out: Path = typer.Option(Path("tuned-als.json"), "--out", help="Best pipeline config (JSON) to write."),
    trials: int = typer.Option(30, "--trials", min=1, help="Trials to run now (a new study's first is the default)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the TPE sampler."),
    storage: Path = typer.Option(Path(".movierec/tune.db"), "--storage", help="SQLite file of the optuna study."),
    study: str = typer.Option("als", "--study", help="Study name (resumed when it exists on the same data)."),
    timeout: float | None = typer.Option(None, "--timeout", min=1, help="Stop starting trials after SECONDS."),
    config: Path | None = typer.Option(None, "--config", help="Base pipeline config (JSON/TOML); its als is trial 0."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar."),
) -> None:
    """Tune ALS (factors, regularization, alpha, iterations) on val NDCG@10 with optuna's
    seeded TPE; write the best config for `movierec offline run --config FILE` and a summary."""
    import optuna
    from tqdm.auto import tqdm

    from offline.config import PipelineConfig
    from offline.data.errors import DataError
    from offline.tuning import tune as run_tune

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    bar = tqdm(total=trials, desc="tune", unit="trial", disable=not progress)
    best = float("-inf")

    def on_trial(record: TrialRecord) -> None:
        nonlocal best
        best = max(best, record.val_ndcg)
        bar.set_postfix(last=f"{record.val_ndcg:.4f}", best=f"{best:.4f}")
        bar.update(1)

    try:
        result = run_tune(data, out, base=PipelineConfig.from_file(config), n_trials=trials, seed=seed,
                          storage=storage, study_name=study, timeout=timeout, on_trial=on_trial)
    except (DataError, ValueError, OSError) as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    finally:
        bar.close()
    console.print(trials_table(result.trials))
    console.print(result_table(result))
    gain = result.best_val_ndcg - result.default_val_ndcg
    console.print(f"{result.n_new_trials} new trials ({len(result.trials)} in study {result.study_name!r}, "
                  f"{result.storage}) in {result.seconds:.0f}s; val ndcg@10 {gain:+.4f} over the default")
    console.print(f"wrote [bold]{result.config_path}[/] and {result.summary_path}; "
                  f"train with: movierec offline run --data {data} --config {result.config_path}")
