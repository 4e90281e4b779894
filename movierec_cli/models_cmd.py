"""`movierec models`: list artifact versions, promote champion/challenger, roll back."""
from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from offline.artifacts import INFO, METRICS, ArtifactError, list_versions
from offline.registry import Aliases, clear_challenger, load_aliases, resolve
from offline.registry import promote as promote_version
from offline.registry import rollback as rollback_champion
from offline.tracking import mirror_aliases
from stream_app.settings import StreamSettings

app = typer.Typer(no_args_is_help=True, help="Model versions: champion/challenger aliases, promote, roll back.")
console = Console(width=max(Console().width, 130))
err = Console(stderr=True)


ANNOUNCE_OPTION = typer.Option(
    True, "--announce/--no-announce",
    help="Tell running workers on the models topic (skipped with a note when no broker answers).",
)


def tell_workers(announce: bool, version: str, alias: str, action: str, by: str | None) -> None:
    """Publish a ModelAnnouncement so running workers swap models without a restart."""
    if not announce:
        return
    import getpass

    from schemas.events import ModelAnnouncement
    from stream_app.control import announce as publish

    s = StreamSettings()  # artifacts, broker (with its TLS/SASL) and models topic: the workers' settings
    try:
        publish(s.connection(), s.models_topic,
                ModelAnnouncement(version=version, alias=alias, action=action, by=by or getpass.getuser()))
    except Exception as exc:  # noqa: BLE001 - the registry change stands; workers pick it up on restart
        err.print(f"[yellow]note:[/] no announcement on {s.models_topic} ({exc}); workers use it after a restart")
        return
    console.print(f"announced on {s.models_topic} at {s.bootstrap_servers}")


class AliasChoice(str, Enum):
    champion = "champion"
    challenger = "challenger"


ARTIFACTS_OPTION = typer.Option(
    None, "--artifacts", help="Artifacts root (default: $MOVIEREC_ARTIFACTS, else ./artifacts)."
)


def artifacts_root(option: Path | None) -> Path:
    """``--artifacts`` when given, else the ``MOVIEREC_ARTIFACTS`` setting, else ``artifacts``."""
    return option if option is not None else StreamSettings().artifacts


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _ndcg(metrics: dict[str, Any], split: str) -> str:
    value = metrics.get(split, {}).get("als", {}).get("ndcg@10")
    return f"{value:.4f}" if isinstance(value, (int, float)) else "-"


def versions_table(root: Path, aliases: Aliases, latest: str | None) -> Table:
    """One row per complete version, oldest first, with its aliases and ALS NDCG@10."""
    t = Table(title=f"Model versions in {root}")
    for col in ("version", "created", "users", "movies", "val ndcg@10", "test ndcg@10", "aliases"):
        t.add_column(col, justify="right" if col in ("users", "movies") or "ndcg" in col else "left", no_wrap=True)
    for v in list_versions(root):
        info, metrics = _read_json(root / v / INFO), _read_json(root / v / METRICS)
        counts = info.get("counts", {})
        tags = [*aliases.alias_of(v), *(["LATEST"] if v == latest else [])]
        style = "bold green" if "champion" in tags else ("yellow" if "challenger" in tags else None)
        t.add_row(v, str(info.get("created_at", "-"))[:19], f"{counts.get('users', 0):,}",
                  f"{counts.get('movies', 0):,}", _ndcg(metrics, "val"), _ndcg(metrics, "test"),
                  ", ".join(tags), style=style)
    return t


def _fail(exc: Exception) -> None:
    err.print(f"[red]error:[/] {exc}")
    raise typer.Exit(2)


@app.command("list")
def list_(artifacts: Path | None = ARTIFACTS_OPTION) -> None:
    """List the complete versions with their counts, ALS NDCG@10 and aliases."""
    root = artifacts_root(artifacts)
    try:
        aliases = load_aliases(root)
        latest = resolve(root, "LATEST") if (root / "LATEST").is_file() else None
    except ArtifactError as exc:
        _fail(exc)
        return
    if not list_versions(root):
        console.print(f"no complete artifact version in {root}: run `movierec offline run` first")
        return
    console.print(versions_table(root, aliases, latest))
    if aliases.source == "LATEST":
        console.print("no aliases.json yet: the champion is the version LATEST names")
    elif aliases.champion is not None and aliases.champion.version != latest:
        console.print(f"[yellow]note:[/] LATEST ({latest}) is not the champion ({aliases.champion.version})")


@app.command()
def promote(
    version: str = typer.Argument(..., help="A version name, or an alias (challenger, LATEST)."),
    as_: AliasChoice = typer.Option(AliasChoice.champion, "--as", help="Alias to point at VERSION."),
    why: str = typer.Option("", "--why", help="Reason, kept in the history."),
    by: str | None = typer.Option(None, "--by", help="Who promotes (default: the login name)."),
    artifacts: Path | None = ARTIFACTS_OPTION,
    announce: bool = ANNOUNCE_OPTION,
) -> None:
    """Point champion (default; also moves LATEST) or challenger at a verified version."""
    root = artifacts_root(artifacts)
    try:
        target = resolve(root, version)
        aliases = promote_version(root, target, as_.value, by=by, why=why)
    except ArtifactError as exc:
        _fail(exc)
        return
    entry = aliases.champion if as_ is AliasChoice.champion else aliases.challenger
    assert entry is not None
    moved = " (LATEST moved)" if as_ is AliasChoice.champion else ""
    console.print(f"{as_.value} → [bold]{entry.version}[/]{moved} by {entry.by} at {entry.at}")
    mirror_aliases(root)
    tell_workers(announce, entry.version, as_.value, "promote", entry.by)


@app.command()
def rollback(
    why: str = typer.Option("", "--why", help="Reason, kept in the history."),
    by: str | None = typer.Option(None, "--by", help="Who rolls back (default: the login name)."),
    artifacts: Path | None = ARTIFACTS_OPTION,
    announce: bool = ANNOUNCE_OPTION,
) -> None:
    """Return the champion (and LATEST) to the previous champion."""
    root = artifacts_root(artifacts)
    try:
        before = load_aliases(root).champion
        aliases = rollback_champion(root, by=by, why=why)
    except ArtifactError as exc:
        _fail(exc)
        return
    assert aliases.champion is not None
    was = before.version if before else "-"
    console.print(f"champion {was} → [bold]{aliases.champion.version}[/] (LATEST moved)")
    mirror_aliases(root)
    tell_workers(announce, aliases.champion.version, "champion", "rollback", aliases.champion.by)


@app.command("clear-challenger")
def clear(
    why: str = typer.Option("", "--why", help="Reason, kept in the history."),
    by: str | None = typer.Option(None, "--by", help="Who clears it (default: the login name)."),
    artifacts: Path | None = ARTIFACTS_OPTION,
    announce: bool = ANNOUNCE_OPTION,
) -> None:
    """Remove the challenger alias."""
    root = artifacts_root(artifacts)
    try:
        before = load_aliases(root).challenger
        clear_challenger(root, by=by, why=why)
    except ArtifactError as exc:
        _fail(exc)
        return
    console.print("challenger cleared")
    mirror_aliases(root)
    if before is not None:
        tell_workers(announce, before.version, "challenger", "clear", by)


@app.command()
def history(artifacts: Path | None = ARTIFACTS_OPTION) -> None:
    """Every alias change, oldest first."""
    root = artifacts_root(artifacts)
    try:
        aliases = load_aliases(root)
    except ArtifactError as exc:
        _fail(exc)
        return
    t = Table(title=f"Alias history in {root}")
    for col in ("at", "by", "action", "alias", "version", "previous", "why"):
        t.add_column(col, no_wrap=col != "why")
    for h in aliases.history:
        t.add_row(h.at, h.by, h.action, h.alias, h.version or "-", h.previous or "-", h.why)
    console.print(t)
