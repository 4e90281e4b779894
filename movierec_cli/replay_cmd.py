"""`movierec replay`: play a held-out split as swipes, score prequentially; `replay tune`.

    movierec replay --artifacts artifacts --data ../shared/data/ml-latest-small --split test \\
        --via local --out bench/out/replay-test.json
    movierec replay tune --artifacts artifacts
"""
from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Replay evaluation: learning from the stream vs the static model.", invoke_without_command=True)
console = Console(width=max(Console().width, 150))
err = Console(stderr=True)
COLUMNS = ("hit@10", "ndcg@10", "mrr@10", "hit@20", "ndcg@20", "mrr@20", "changed@10_mean",
           "offline_start/ndcg@10", "offline_next/ndcg@10", "new_users/ndcg@10", "responsiveness/replaced@10")
STRATEGY_NAMES = "static, additive, foldin, recency, neighbours, recency_neighbours, popularity, retrain"


def _bar(progress: bool) -> Any:
    from tqdm.auto import tqdm

    return (lambda desc, total: tqdm(total=total, desc=desc, unit="ev", leave=False)) if progress else None


def _params(art_path: Path, step: float | None, half_life_days: float | None, max_norm_factor: float | None,
            foldin_regularization: float | None, cold_start_swipes: int | None) -> Any:
    from replay.params import with_knobs, worker_defaults

    p = worker_defaults(art_path)  # env, then online_tuning.json, then defaults
    overrides = {k: v for k, v in (("additive__step", step), ("additive__half_life_days", half_life_days),
                                   ("additive__max_norm_factor", max_norm_factor),
                                   ("foldin_regularization", foldin_regularization),
                                   ("cold_start_swipes", cold_start_swipes)) if v is not None}
    return with_knobs(p, **overrides) if overrides else p


def _check_data(art: Any, data: Path) -> None:
    from offline.data.loaders import load_dataset
    from offline.pipeline import data_fingerprint

    if data_fingerprint(load_dataset(data).ratings) != art.info["data"]["fingerprint_sha256"]:
        err.print(f"[red]error:[/] artifact {art.version} was not trained on {data}")
        raise typer.Exit(2)


def results_table(metrics: dict[str, dict[str, float | None]], title: str) -> Table:
    t = Table(title=title)
    t.add_column("strategy", no_wrap=True)
    for c in COLUMNS:
        t.add_column(c, justify="right")
    for name, m in metrics.items():
        t.add_row(name, *("–" if m.get(c) is None else f"{m[c]:.4f}" for c in COLUMNS))
    return t


@app.callback()
def replay(
    ctx: typer.Context,
    artifacts: Path = typer.Option(Path("artifacts"), "--artifacts", help="Root of the versioned artifacts."),
    version: str | None = typer.Option(None, "--version", help="Artifact version (default: LATEST)."),
    data: Path | None = typer.Option(None, "--data", help="MovieLens folder; checked against the artifact's "
                                     "data fingerprint (the splits come from the artifact)."),
    split: str = typer.Option("test", "--split", help="val or test."),
    via: str = typer.Option("local", "--via", help="local (in-process) or kafka (broker + worker)."),
    strategies: str = typer.Option(STRATEGY_NAMES.replace(" ", ""), "--strategies",
                                   help=f"Comma-separated: {STRATEGY_NAMES}."),
    new_users: bool = typer.Option(True, "--new-users/--no-new-users", help="Also the new-user replay (users "
                                   "held out, model refit without them; NDCG@10 over their first 10 swipes)."),
    responsiveness: bool = typer.Option(True, "--responsiveness/--no-responsiveness", help="Also count the top-10 "
                                        "movies 4 liked swipes of one genre replace (known users)."),
    out: Path = typer.Option(Path("bench/out/replay.json"), "--out", help="Metrics JSON; .md/.png beside it."),
    limit: int | None = typer.Option(None, "--limit", help="Replay only the first N events of the split."),
    bootstrap: str | None = typer.Option(None, "--bootstrap", help="Kafka bootstrap (default: MOVIEREC_ setting)."),
    partitions: int = typer.Option(4, "--partitions", help="Partitions of the run's topics (kafka)."),
    compare_local: bool = typer.Option(False, "--compare-local", help="With --via kafka, also play the worker "
                                       "strategies locally and count events whose list differs."),
    step: float | None = typer.Option(None, "--step", help="Additive step (default: worker's)."),
    half_life_days: float | None = typer.Option(None, "--half-life-days", help="Additive half-life."),
    max_norm_factor: float | None = typer.Option(None, "--max-norm-factor", help="Additive norm clip factor."),
    foldin_regularization: float | None = typer.Option(None, "--foldin-regularization", help="Fold-in lambda."),
    cold_start_swipes: int | None = typer.Option(None, "--cold-start-swipes"),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Replay a split through every strategy and write the report (without a subcommand)."""
    if ctx.invoked_subcommand is not None:
        return
    from confluent_kafka import KafkaException

    from offline.artifacts import ArtifactError, load_version
    from replay.kafka_replay import KafkaOptions, ReplayStalled
    from replay.report import metrics_json, write_report
    from replay.run import ReplayConfig, Replayer
    from stream_app.settings import StreamSettings

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if split not in ("val", "test") or via not in ("local", "kafka"):
        err.print("[red]error:[/] --split must be val|test and --via local|kafka")
        raise typer.Exit(2)
    try:
        art = load_version(artifacts, version)
    except ArtifactError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    if data is not None:
        _check_data(art, data)
    params = _params(art.path, step, half_life_days, max_norm_factor, foldin_regularization, cold_start_swipes)
    names = tuple(s.strip() for s in strategies.split(",") if s.strip())
    cfg = ReplayConfig(split, names, params, via, limit=limit, new_users=new_users,  # type: ignore[arg-type]
                       responsiveness=responsiveness)
    work = Path(tempfile.mkdtemp(prefix="movierec-replay-"))
    kafka = KafkaOptions(StreamSettings().connection(bootstrap), work, partitions) if via == "kafka" else None
    replayer = Replayer(art, artifacts, cfg, kafka, _bar(progress))
    try:
        outcome = replayer.run()
    except (ReplayStalled, ValueError, KafkaException) as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    extra: dict[str, Any] = {}
    if compare_local and via == "kafka":
        extra["kafka_vs_local"] = _compare(replayer, outcome)
    files = write_report(outcome, out, extra)
    console.print(results_table(metrics_json(outcome), f"Replay of {split} ({len(outcome.events):,} events, {via})"))
    from replay.report import accounting, ratios

    for name, a in accounting(outcome).items():
        if a["via"] == "kafka":
            console.print(f"{name} via kafka: sent {a['sent']:.0f}, lists {a['lists']:.0f}, dead-lettered "
                          f"{a['dead_lettered']:.0f}, duplicates {a['duplicates']:.0f}, missing {a['missing']:.0f}, "
                          f"worker applied {a.get('worker_applied', float('nan')):.0f}, "
                          f"{a['events_per_second']:.0f} events/s")
    if r := ratios(outcome):
        console.print(f"best online: {r['best_online']} {r['metric']} = {r['best_online_value']:.4f} "
                      f"({r['best_over_static']:.2f}x static"
                      + (f", {r['best_over_retrain']:.2f}x retrain)" if "best_over_retrain" in r else ")"))
    for name, diff in extra.get("kafka_vs_local", {}).items():
        console.print(f"{name}: kafka vs local, events with a different before-list: {diff['events_differing']}, "
                      f"metric max |diff| {diff['max_metric_diff']:.2e}")
    console.print(f"wrote {', '.join(str(p) for p in files.values())}")


def _compare(replayer: Any, outcome: Any) -> dict[str, dict[str, float]]:
    """Play the kafka strategies locally too; how many events saw a different list."""
    import numpy as np

    from replay.run import score

    out = {}
    for name, o in outcome.strategies.items():
        if o.play.via != "kafka":
            continue
        local, _ = replayer.play(name, outcome.config.split, outcome.events, "local")
        s = score(local, outcome.events, outcome.config.ks)
        keys = [k for k in s.metrics if "@" in k and "/" not in k]
        out[name] = {"events_differing": int((local.before != o.play.before).any(axis=1).sum()),
                     "max_metric_diff": max(abs(s.metrics[k] - o.metrics[k]) for k in keys),
                     "local_seconds": local.seconds}
        if not np.isfinite(out[name]["max_metric_diff"]):
            out[name]["max_metric_diff"] = float("nan")
    return out


@app.command("tune")
def tune_cmd(
    artifacts: Path = typer.Option(Path("artifacts"), "--artifacts", help="Root of the versioned artifacts."),
    version: str | None = typer.Option(None, "--version", help="Artifact version (default: LATEST)."),
    trials: int = typer.Option(40, "--trials", help="Random draws of the additive knobs (plus the defaults)."),
    rule_trials: int = typer.Option(16, "--rule-trials", help="Draws per stage of the recency and overlay "
                                    "strategies (0: tune only static, additive and foldin)."),
    seed: int = typer.Option(0, "--seed"),
    foldin_multiples: str = typer.Option("0.3,1,3,10", "--foldin-multiples",
                                         help="Fold-in lambdas to try, as multiples of the artifact's."),
    limit: int | None = typer.Option(None, "--limit", help="Only the first N val events (quick checks)."),
    save: bool = typer.Option(True, "--save/--no-save", help="Write <version>/online_tuning.json."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Search every strategy's knobs on the val replay; the best strategy becomes the worker's."""
    from tqdm.auto import tqdm

    from offline.artifacts import load_version
    from replay.params import worker_defaults
    from replay.tune import OBJECTIVE, RuleSpace, SearchSpace, best, save_tuning, tune

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    art = load_version(artifacts, version)
    multiples = tuple(float(x) for x in foldin_multiples.split(","))
    base = worker_defaults(art.path)
    rules = RuleSpace(trials=rule_trials, seed=seed) if rule_trials > 0 else None
    n_rules = 0 if rules is None else 2 * (1 + rule_trials) + 2 + 2 * max(rule_trials // 2, 1) + len(rules.recent_history) + len(rules.windows)
    bar = tqdm(total=1 + trials + 1 + len(multiples) + n_rules, desc="tune (val)", disable=not progress)
    results = tune(art, base, SearchSpace(trials=trials, seed=seed), multiples, limit,
                   on_trial=lambda t: (bar.update(1), bar.set_postfix_str(f"{t.strategy} {t.metrics[OBJECTIVE]:.4f}")),
                   rules=rules)
    bar.close()
    t = Table(title=f"Best on val (prequential {OBJECTIVE})")
    for col in ("strategy", OBJECTIVE, "hit@10", "settings"):
        t.add_column(col)
    groups = {"additive": ("additive",), "foldin": ("foldin_regularization",), "recency": ("recency",),
              "neighbours": ("overlay",), "recency_neighbours": ("recency", "overlay", "recent_history")}
    for s in dict.fromkeys(r.strategy for r in results):
        b = best(results, s)
        setting = b.params.model_dump(include=set(groups.get(s, ())))
        t.add_row(s, f"{b.metrics[OBJECTIVE]:.4f}", f"{b.metrics['hit@10']:.4f}", str(setting))
    console.print(t)
    if save:
        payload = save_tuning(art, results, base)
        console.print(f"wrote {art.path / 'online_tuning.json'} (worker strategy: {payload['best_strategy']})")


if __name__ == "__main__":  # pragma: no cover
    app()
