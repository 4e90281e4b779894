"""Write a replay's results: JSON metrics, a Markdown summary and PNG plots (matplotlib Agg).

Given ``--out DIR/NAME.json``:

* ``NAME.json``: ``{strategy: {metric: value}}`` (references such as ``retrain@test`` too);
* ``NAME.details.json``: configuration, accounting (kafka), ratios, file names;
* ``NAME.md``: the summary table and the definitions;
* ``NAME.rolling_hit10.png``: rolling hit@10 over the replay (event index) per strategy;
* ``NAME.changes10.png``: how many of the top-10 movies each swipe replaced, per strategy;
* ``NAME.new_users.png`` / ``NAME.responsiveness.png`` (when run): new-user NDCG@10 over the
  first 10 swipes, and the top-10 movies replaced / genre share after 4 liked swipes of a genre.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from offline.artifacts import write_json_atomic
from replay import run as run_mod
from replay.params import WORKER_STRATEGIES
from replay.prequential import rolling_mean
from replay.run import ReplayOutcome

TABLE_COLUMNS = ("hit@10", "ndcg@10", "mrr@10", "hit@20", "ndcg@20", "mrr@20", "changed@10_mean",
                 "offline_start/ndcg@10", "offline_next/ndcg@10", "new_users/ndcg@10", "responsiveness/replaced@10",
                 "responsiveness/genre_share@10", "seconds")
ONLINE = tuple(s for s in WORKER_STRATEGIES if s != "static")
"""The strategies that learn online (the best of them is compared with static)."""


def _clean(v: float) -> float | None:
    return None if isinstance(v, float) and math.isnan(v) else v


def strategy_metrics(outcome: ReplayOutcome) -> dict[str, dict[str, float]]:
    """Each strategy's replay metrics plus its ``new_users/...`` and ``responsiveness/...`` ones."""
    rows = {name: dict(o.metrics) for name, o in {**outcome.strategies, **outcome.references}.items()}
    for section in ("new_users", "responsiveness"):
        for name, values in getattr(outcome, section).items():
            rows.setdefault(name, {}).update({f"{section}/{k}": v for k, v in values.items()})
    return rows


def metrics_json(outcome: ReplayOutcome) -> dict[str, dict[str, float | None]]:
    return {name: {k: _clean(v) for k, v in m.items()} for name, m in strategy_metrics(outcome).items()}


def ratios(outcome: ReplayOutcome, metric: str = "ndcg@10") -> dict[str, Any]:
    """The best online strategy's ``metric`` over static's and over retrain's."""
    s = outcome.strategies
    online = {k: s[k].metrics[metric] for k in ONLINE if k in s}
    if not online or "static" not in s:
        return {}
    best = max(online, key=lambda k: online[k])
    out: dict[str, Any] = {"metric": metric, "best_online": best, "best_online_value": online[best],
                           "static": s["static"].metrics[metric],
                           "best_over_static": online[best] / s["static"].metrics[metric]}
    if "retrain" in s:
        out["retrain"] = s["retrain"].metrics[metric]
        out["best_over_retrain"] = online[best] / s["retrain"].metrics[metric]
    return out


def accounting(outcome: ReplayOutcome) -> dict[str, dict[str, float]]:
    out = {}
    for name, o in outcome.strategies.items():
        p = o.play
        out[name] = {"via": p.via, "events": len(outcome.events), "applied": p.applied,
                     "duplicates": p.duplicates, "dead_lettered": p.dead_lettered, "seconds": p.seconds,
                     "events_per_second": len(outcome.events) / p.seconds if p.seconds else None, **p.extra}
    return out


def markdown(outcome: ReplayOutcome, details: dict[str, Any], plots: list[str]) -> str:
    cfg = outcome.config
    lines = [f"# Replay of the {cfg.split} split ({outcome.version})", "",
             f"{len(outcome.events):,} events ({int(outcome.events.positive.sum()):,} positive, scored); "
             f"history before the split: {details['history']}; strategies via {cfg.via} "
             "(popularity and retrain always local).", "",
             "| strategy | via | " + " | ".join(TABLE_COLUMNS) + " |",
             "|---|---|" + "---:|" * len(TABLE_COLUMNS)]
    rows = strategy_metrics(outcome)
    for name, o in {**outcome.strategies, **outcome.references}.items():
        cells = []
        for c in TABLE_COLUMNS:
            v = rows[name].get(c, float("nan"))
            cells.append("–" if math.isnan(v) else (f"{v:.1f}" if c == "seconds" else f"{v:.4f}"))
        lines.append(f"| {name} | {o.play.via} | " + " | ".join(cells) + " |")
    r = details.get("ratios") or {}
    if r:
        lines += ["", f"Best online strategy: **{r['best_online']}**, {r['metric']} = {r['best_online_value']:.4f}: "
                  f"**{r['best_over_static']:.2f}×** static"
                  + (f", **{r['best_over_retrain']:.2f}×** retrain" if "best_over_retrain" in r else "") + "."]
    kafka = {k: v for k, v in details["accounting"].items() if v["via"] == "kafka"}
    if kafka:
        lines += ["", "## Kafka accounting", "",
                  "| strategy | sent | lists | dead-lettered | duplicates | missing | worker applied | events/s |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for name, a in kafka.items():
            lines.append(f"| {name} | {a['sent']:.0f} | {a['lists']:.0f} | {a['dead_lettered']:.0f} | "
                         f"{a['duplicates']:.0f} | {a['missing']:.0f} | {a.get('worker_applied', float('nan')):.0f} | "
                         f"{a['events_per_second']:.0f} |")
    lines += ["", "## Settings", "", "```json", json.dumps(details["params"], indent=2), "```",
              "", "## Definitions", "", (run_mod.__doc__ or "").split("Definitions (the report repeats them):")[-1].strip(),
              "", "Prequential metrics are means over positive events: before each event the user's current list "
              "is checked for the event's movie (ndcg@K = 1/log2(rank+1), mrr@K = 1/rank inside the top K), then "
              "the event is applied. Negative swipes are applied but not scored. `changed@10_mean`: top-10 movies "
              "replaced per swipe (a swiped listed movie always leaves the list).", ""]
    lines += [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def plot_rolling(outcome: ReplayOutcome, path: Path, window: int = 500) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5))
    pos = outcome.events.positive
    x = np.flatnonzero(pos)
    for name, o in outcome.strategies.items():
        hits = ((o.ranks >= 1) & (o.ranks <= 10))[pos]
        start = min(window, len(hits)) - 1  # plot once the window is full
        ax.plot(x[start:], rolling_mean(hits, window)[start:], label=f"{name} ({o.metrics['hit@10']:.3f})", lw=1.3)
    ax.set(xlabel=f"event index in the {outcome.config.split} split (global time order)",
           ylabel=f"hit@10, trailing {window} positive events", title="Prequential hit@10 over the replay")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_sections(outcome: ReplayOutcome, new_users_path: Path, responsiveness_path: Path) -> list[Path]:
    """Bar charts of the new-user replay and of responsiveness, per strategy (those run)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    if outcome.new_users:
        names = list(outcome.new_users)
        fig, ax = plt.subplots(figsize=(9, 4.5))
        vals = [outcome.new_users[n]["ndcg@10"] for n in names]
        ax.bar(names, vals, color="tab:blue")
        for i, v in enumerate(vals):
            ax.text(i, v, f"{v:.3f}", ha="center", va="bottom")
        ax.set(ylabel="NDCG@10 over the first 10 swipes", title="New users (held out, model refit without them)")
        fig.autofmt_xdate(rotation=20)
        fig.tight_layout()
        fig.savefig(new_users_path, dpi=110)
        plt.close(fig)
        written.append(new_users_path)
    if outcome.responsiveness:
        names = list(outcome.responsiveness)
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.5))
        a1.bar(names, [outcome.responsiveness[n]["replaced@10"] for n in names], color="tab:orange")
        a1.set(ylabel="top-10 movies replaced", title="After 4 liked swipes of one genre")
        a2.bar(names, [outcome.responsiveness[n]["genre_share@10"] for n in names], color="tab:green")
        a2.set(ylabel="share of the top 10 in that genre", title="Genre share after the 4 swipes")
        for ax in (a1, a2):
            ax.tick_params(axis="x", rotation=25)
        fig.tight_layout()
        fig.savefig(responsiveness_path, dpi=110)
        plt.close(fig)
        written.append(responsiveness_path)
    return written


def plot_changes(outcome: ReplayOutcome, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5))
    names = list(outcome.strategies)
    width = 0.8 / max(len(names), 1)
    bins = np.arange(11)
    for j, name in enumerate(names):
        ch = outcome.strategies[name].changes
        share = np.bincount(np.clip(ch, 0, 10), minlength=11) / max(len(ch), 1)
        ax.bar(bins + (j - (len(names) - 1) / 2) * width, share, width, label=f"{name} (mean {ch.mean():.2f})")
    ax.set(xlabel="top-10 movies replaced by one swipe", ylabel="share of swipes", xticks=bins,
           title="How much one swipe changes the top-10")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(outcome: ReplayOutcome, out: Path, extra: dict[str, Any] | None = None) -> dict[str, Path]:
    """Write every file next to ``out``; returns them by kind."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stem = out.with_suffix("")
    files = {"metrics": out, "details": stem.with_suffix(".details.json"), "markdown": stem.with_suffix(".md"),
             "rolling": Path(f"{stem}.rolling_hit10.png"), "changes": Path(f"{stem}.changes10.png"),
             **{kind: Path(f"{stem}.{kind}.png") for kind in ("new_users", "responsiveness") if getattr(outcome, kind)}}
    details = {"version": outcome.version, "split": outcome.config.split, "via": outcome.config.via,
               "history": run_mod.HISTORY_BEFORE[outcome.config.split], "n_events": len(outcome.events),
               "n_positive": int(outcome.events.positive.sum()), "limit": outcome.config.limit,
               "list_length": outcome.config.n, "ks": list(outcome.config.ks),
               "params": outcome.config.params.online().model_dump(exclude={"strategy"}), "ratios": ratios(outcome),
               "accounting": accounting(outcome), **(extra or {}),
               "files": {k: p.name for k, p in files.items()}}
    write_json_atomic(files["metrics"], metrics_json(outcome))
    write_json_atomic(files["details"], details)
    plot_rolling(outcome, files["rolling"])
    plot_changes(outcome, files["changes"])
    extra_plots = plot_sections(outcome, Path(f"{stem}.new_users.png"), Path(f"{stem}.responsiveness.png"))
    plots = [files["rolling"].name, files["changes"].name, *(p.name for p in extra_plots)]
    files["markdown"].write_text(markdown(outcome, details, plots), encoding="utf-8")
    return files
