"""Model registry: ``champion`` / ``challenger`` aliases over the artifact versions.

``ROOT/aliases.json`` (written atomically, under an exclusive lock) holds::

    {"champion": {"version", "by", "at", "why"}, "challenger": {...} | null,
     "history": [{"action", "alias", "version", "previous", "by", "at", "why"}, ...]}

with every change appended to ``history`` (newest last). Promoting a champion also moves
the ``LATEST`` pointer, so processes that follow ``LATEST`` serve the champion. Without an
``aliases.json`` the champion is whatever ``LATEST`` names (``Aliases.source == "LATEST"``).
``rollback`` undoes the newest champion promotion not yet undone: champions form a stack
replayed from the history (promote pushes, rollback pops).
"""
from __future__ import annotations

import fcntl
import getpass
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from offline.artifacts import (
    INFO,
    POINTER,
    ArtifactError,
    latest_version,
    list_versions,
    set_pointer,
    sha256_file,
    write_json_atomic,
)

log = logging.getLogger(__name__)

ALIASES = "aliases.json"
LOCK = ".aliases.lock"
AliasName = Literal["champion", "challenger"]
ALIAS_NAMES: tuple[AliasName, ...] = ("champion", "challenger")


class RegistryError(ArtifactError):
    """An impossible registry operation: unknown version or alias, nothing to roll back."""


@dataclass(frozen=True)
class AliasEntry:
    """Who pointed an alias at a version, when (ISO 8601, UTC) and why."""

    version: str
    by: str | None = None
    at: str | None = None
    why: str = ""


@dataclass(frozen=True)
class HistoryEntry:
    """One change: ``action`` promote | rollback | clear of ``alias``, from ``previous`` to ``version``."""

    action: Literal["promote", "rollback", "clear"]
    alias: AliasName
    version: str | None
    previous: str | None
    by: str
    at: str
    why: str = ""


@dataclass(frozen=True)
class Aliases:
    """The registry's state; ``source`` is "aliases.json", "LATEST" (no file yet) or "none"."""

    champion: AliasEntry | None
    challenger: AliasEntry | None
    history: tuple[HistoryEntry, ...] = ()
    source: Literal["aliases.json", "LATEST", "none"] = "aliases.json"

    def to_json(self) -> dict[str, Any]:
        """The ``aliases.json`` payload."""
        return {
            "champion": asdict(self.champion) if self.champion else None,
            "challenger": asdict(self.challenger) if self.challenger else None,
            "history": [asdict(h) for h in self.history],
        }

    def alias_of(self, version: str) -> list[AliasName]:
        """The aliases naming ``version``."""
        return [n for n in ALIAS_NAMES if (e := getattr(self, n)) is not None and e.version == version]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def load_aliases(root: Path) -> Aliases:
    """Read ``ROOT/aliases.json``; without it, the champion is the ``LATEST`` version."""
    path = Path(root) / ALIASES
    if not path.is_file():
        if not (Path(root) / POINTER).is_file():
            return Aliases(None, None, (), "none")
        latest = latest_version(Path(root))
        log.info("no %s in %s: the champion is the LATEST version %s", ALIASES, root, latest)
        return Aliases(AliasEntry(latest, why=f"{POINTER} pointer (no {ALIASES} yet)"), None, (), "LATEST")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return Aliases(
            AliasEntry(**raw["champion"]) if raw.get("champion") else None,
            AliasEntry(**raw["challenger"]) if raw.get("challenger") else None,
            tuple(HistoryEntry(**h) for h in raw.get("history", [])),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise RegistryError(f"{path} is not a valid aliases file: {exc}") from exc


def verify_version(root: Path, version: str) -> None:
    """Raise ``RegistryError`` unless ``version`` is a complete version whose files match
    the sha256 sums of its ``model_info.json``."""
    root = Path(root)
    if version not in list_versions(root):
        known = ", ".join(list_versions(root)[-5:]) or "none"
        raise RegistryError(f"no complete artifact version {version!r} under {root} (newest: {known})")
    info = json.loads((root / version / INFO).read_text(encoding="utf-8"))
    for name, digest in info.get("files", {}).items():
        f = root / version / name
        if not f.is_file() or sha256_file(f) != digest:
            raise RegistryError(f"artifact version {version!r} is incomplete or corrupted: {name}")


def resolve(root: Path, alias_or_version: str) -> str:
    """``champion``, ``challenger``, ``LATEST`` or a version name → a version name."""
    aliases = load_aliases(root)
    key = alias_or_version.strip()
    if key in ALIAS_NAMES:
        entry: AliasEntry | None = getattr(aliases, key)
        if entry is None:
            raise RegistryError(f"no {key} in {root}")
        return entry.version
    if key.upper() == POINTER:
        return latest_version(Path(root))
    if key not in list_versions(Path(root)):
        raise RegistryError(f"{key!r} is neither an alias (champion, challenger, LATEST) nor a version in {root}")
    return key


@contextmanager
def _locked(root: Path) -> Iterator[Aliases]:
    """Hold an exclusive lock on the registry while reading and changing it."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield load_aliases(root)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _save(root: Path, old: Aliases, new: Aliases) -> Aliases:
    """Write ``new``; when the champion changed, move ``LATEST`` too (restoring ``old`` if that fails)."""
    write_json_atomic(root / ALIASES, new.to_json())
    if new.champion is not None and (old.champion is None or old.champion.version != new.champion.version):
        try:
            set_pointer(root, new.champion.version)
        except BaseException:
            if old.source == "aliases.json":
                write_json_atomic(root / ALIASES, old.to_json())
            else:
                (root / ALIASES).unlink(missing_ok=True)
            raise
    return new


def promote(root: Path, version: str, as_: AliasName = "champion", by: str | None = None, why: str = "") -> Aliases:
    """Point ``as_`` at ``version`` (verified complete); a champion also becomes ``LATEST``.

    Promoting the challenger's version to champion clears the challenger.
    """
    if as_ not in ALIAS_NAMES:
        raise RegistryError(f"alias must be one of {ALIAS_NAMES}, got {as_!r}")
    root, by, at = Path(root), by or getpass.getuser(), _now()
    verify_version(root, version)
    with _locked(root) as old:
        current: AliasEntry | None = getattr(old, as_)
        if current is not None and current.version == version:
            if old.source == "aliases.json":
                raise RegistryError(f"{version} is already the {as_}")
            current = None  # making the implicit LATEST champion explicit: nothing to roll back to
        if as_ == "challenger" and old.champion is not None and old.champion.version == version:
            raise RegistryError(f"{version} is the champion; it cannot also be the challenger")
        changes = [HistoryEntry("promote", as_, version, current.version if current else None, by, at, why)]
        new = replace(old, source="aliases.json", **{as_: AliasEntry(version, by, at, why)})
        if as_ == "champion" and old.challenger is not None and old.challenger.version == version:
            changes.append(HistoryEntry("clear", "challenger", None, version, by, at, "promoted to champion"))
            new = replace(new, challenger=None)
        new = replace(new, history=old.history + tuple(changes))
        log.info("%s promoted %s to %s", by, version, as_)
        return _save(root, old, new)


def champion_stack(history: tuple[HistoryEntry, ...]) -> list[str]:
    """Champion versions replayed from the history, oldest first (the top is the current one)."""
    stack: list[str] = []
    for h in history:
        if h.alias != "champion":
            continue
        if h.action == "promote" and h.version is not None:
            if not stack and h.previous is not None:
                stack.append(h.previous)  # the LATEST champion from before the registry
            stack.append(h.version)
        elif h.action == "rollback" and stack:
            stack.pop()
    return stack


def rollback(root: Path, by: str | None = None, why: str = "") -> Aliases:
    """Return the champion to the one before it (and ``LATEST`` with it)."""
    root, by, at = Path(root), by or getpass.getuser(), _now()
    with _locked(root) as old:
        stack = champion_stack(old.history)
        if old.champion is None or len(stack) < 2:
            raise RegistryError(f"no previous champion to roll back to in {root / ALIASES}")
        target = stack[-2]
        verify_version(root, target)
        entry = HistoryEntry("rollback", "champion", target, old.champion.version, by, at, why)
        new = replace(old, champion=AliasEntry(target, by, at, why), history=old.history + (entry,))
        log.info("%s rolled the champion back from %s to %s", by, old.champion.version, target)
        return _save(root, old, new)


def clear_challenger(root: Path, by: str | None = None, why: str = "") -> Aliases:
    """Remove the challenger alias."""
    root, by, at = Path(root), by or getpass.getuser(), _now()
    with _locked(root) as old:
        if old.challenger is None:
            raise RegistryError(f"no challenger to clear in {root}")
        entry = HistoryEntry("clear", "challenger", None, old.challenger.version, by, at, why)
        return _save(root, old, replace(old, challenger=None, history=old.history + (entry,)))
