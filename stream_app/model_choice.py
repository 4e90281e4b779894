"""Which model version an announcement may make the worker serve: the registry decides.

Anyone who can write to ``models.v1`` can announce anything, so an announcement is only a
hint to look again: the worker re-reads ``aliases.json`` in its own artifacts root and
follows it only when the announced change is what the registry says now. The version
loaded is then verified (checksums, ``online_tuning.json``) by ``ModelHolder.build``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from offline.artifacts import ArtifactError, check_version_name, list_versions
from offline.registry import load_aliases
from schemas.events import ModelAnnouncement
from stream_app.settings import ONLINE_TUNING_FILE


class RejectedAnnouncement(ValueError):
    """The announcement names nothing the registry stands behind; the message says why."""


def announced_version(root: Path, ann: ModelAnnouncement) -> str | None:
    """The version ``ann`` asks to serve as ``ann.alias`` (None: clear the challenger), if the
    registry in ``root`` agrees; else :class:`RejectedAnnouncement`.

    Accepted only: a plain version name (no path) that is a complete version under ``root``
    and that ``aliases.json`` names for that alias now; a ``clear`` only for the challenger,
    and only once the registry has no challenger.
    """
    try:
        version = check_version_name(ann.version)
        aliases = load_aliases(Path(root))
    except ArtifactError as exc:
        raise RejectedAnnouncement(str(exc)) from None
    entry = getattr(aliases, ann.alias)
    registered = entry.version if entry is not None else None
    if ann.action == "clear":
        if ann.alias != "challenger":
            raise RejectedAnnouncement(f"only the challenger can be cleared, not the {ann.alias}")
        if registered is not None:
            raise RejectedAnnouncement(f"the registry still names {registered} as the challenger")
        return None
    if version not in list_versions(Path(root)):
        raise RejectedAnnouncement(f"no complete version {version} under {root}")
    if registered != version:
        raise RejectedAnnouncement(f"the registry names {registered} as the {ann.alias}, not {version}")
    return version


def check_online_tuning(version_dir: Path, version: str) -> None:
    """Raise ``ArtifactError`` unless ``version_dir/online_tuning.json`` is absent or was
    written for ``version`` with a ``settings`` object (its values are validated when the
    settings take them, ``StreamSettings.with_online_tuning``). The file is written after the
    version, outside its checksummed manifest, so it is checked on its own."""
    path = Path(version_dir) / ONLINE_TUNING_FILE
    if not path.exists():
        return
    try:
        payload: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{path} is not readable JSON: {exc}") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("settings", {}), dict):
        raise ArtifactError(f"{path} is not an online tuning file (no settings object)")
    if payload.get("version") != version:
        raise ArtifactError(f"{path} was written for version {str(payload.get('version'))[:80]!r}, not {version}")
