"""Which model(s) the worker serves: champion, optional challenger, A/B assignment.

``load`` reads the served versions once, off the event loop (the worker calls it as it
starts); until then, or after it failed, ``get`` raises :class:`ModelNotReady` at once and
never loads or re-verifies anything itself. Announcements swap models without a restart. A
user's variant is a deterministic hash of the user id, so it never flips between requests
or workers.
"""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from offline.artifacts import load_version
from offline.recommender import Recommender
from offline.registry import load_aliases, resolve
from stream_app.model_choice import check_online_tuning
from stream_app.settings import StreamSettings

log = logging.getLogger(__name__)


def in_challenger(user_id: int, share: float) -> bool:
    """True for about ``share`` of users: blake2b(user id) as a fraction in [0, 1) < share."""
    digest = hashlib.blake2b(str(int(user_id)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < share


class ModelNotReady(RuntimeError):
    """No champion is loaded: still loading, or the load failed (the message says why)."""


class ModelHolder:
    """The served Recommenders (tests inject one with ``set``)."""

    def __init__(self, settings: StreamSettings) -> None:
        self.settings = settings
        self._champion: Recommender | None = None
        self._challenger: Recommender | None = None
        self.error: str | None = None
        """Why ``load`` failed (None: it did not fail, or has not run)."""

    def build(self, version: str) -> Recommender:
        """Load and verify ``version`` (checksums, ``online_tuning.json``) and build its
        Recommender (slow: call off the event loop)."""
        art = load_version(Path(self.settings.artifacts), version)
        check_online_tuning(art.path, art.version)
        s = self.settings.with_online_tuning(art.path)  # `movierec replay tune` output; env wins
        recommender = Recommender.from_artifact(art, history=s.history, online=s.online())
        recommender.warm_up()  # compiled kernels ready before the first swipe (not compiled inside it)
        return recommender

    def load(self) -> None:
        """Load the champion (the configured version, else the registry's champion or LATEST)
        and the registry's challenger unless a version is pinned. Slow: call once, off the
        event loop. A failure is kept in ``error`` (what ``get`` and ``/health`` report), then raised."""
        root = Path(self.settings.artifacts)
        try:
            version = self.settings.artifact_version or resolve(root, "champion")
            champion = self.build(version)
            entry = load_aliases(root).challenger if self.settings.artifact_version is None else None
            challenger = self.build(entry.version) if entry is not None else None
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            raise
        self._champion, self._challenger, self.error = champion, challenger, None
        log.info("serving champion %s (%s)", version, self.settings.strategy)
        if entry is not None:
            log.info("serving challenger %s to %.0f%% of users", entry.version, 100 * self.settings.challenger_share)

    def get(self) -> Recommender:
        """The champion; :class:`ModelNotReady` while none is loaded (never loads it here)."""
        if self._champion is None:
            raise ModelNotReady(f"model not loaded: {self.error}" if self.error else "the model is still loading")
        return self._champion

    def challenger(self) -> Recommender | None:
        """The challenger, if the registry named one (or an announcement set one)."""
        return self._challenger

    def for_user(self, user_id: int) -> tuple[Recommender, str | None]:
        """The user's model and variant name (None when no experiment runs)."""
        challenger = self.challenger()
        if challenger is None:
            return self.get(), None
        if in_challenger(user_id, self.settings.challenger_share):
            return challenger, "challenger"
        return self.get(), "champion"

    def set(self, recommender: Recommender | None) -> None:
        self._champion = recommender
        if recommender is not None:
            self.error = None

    def set_challenger(self, recommender: Recommender | None) -> None:
        self._challenger = recommender
