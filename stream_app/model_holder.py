"""Which model(s) the worker serves: champion, optional challenger, A/B assignment.

Loads lazily on first use; swaps on announcements without a restart. A user's variant is
a deterministic hash of the user id, so it never flips between requests or workers.
"""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from offline.artifacts import load_version
from offline.recommender import Recommender
from offline.registry import load_aliases, resolve
from stream_app.settings import StreamSettings
from stream_app.updates import AdditiveParams, FoldIn

log = logging.getLogger(__name__)


def in_challenger(user_id: int, share: float) -> bool:
    """True for about ``share`` of users: blake2b(user id) as a fraction in [0, 1) < share."""
    digest = hashlib.blake2b(str(int(user_id)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < share


class ModelHolder:
    """The served Recommenders (tests inject one with ``set``)."""

    def __init__(self, settings: StreamSettings) -> None:
        self.settings = settings
        self._champion: Recommender | None = None
        self._challenger: Recommender | None = None
        self._challenger_checked = False

    def build(self, version: str) -> Recommender:
        """Load and verify ``version`` (checksums) and build its Recommender (slow: call off-loop)."""
        art = load_version(Path(self.settings.artifacts), version)
        s = self.settings.with_online_tuning(art.path)  # `movierec replay tune` output; env wins
        a = s.additive
        rec = Recommender.from_artifact(
            art, strategy=s.strategy, history=s.history,
            additive=AdditiveParams(a.step, a.half_life_days * 86400.0, a.max_norm_factor),
            cold_start_swipes=s.cold_start_swipes,
        )
        if s.foldin_regularization is not None:
            rec.foldin = FoldIn.from_factors(rec.item_factors, s.foldin_regularization)
        return rec

    def get(self) -> Recommender:
        """The champion: the configured version, else the registry's champion (or LATEST)."""
        if self._champion is None:
            version = self.settings.artifact_version or resolve(Path(self.settings.artifacts), "champion")
            self._champion = self.build(version)
            log.info("serving champion %s (%s)", version, self.settings.strategy)
        return self._champion

    def challenger(self) -> Recommender | None:
        """The challenger, loaded once from the registry unless a version is pinned."""
        if not self._challenger_checked:
            self._challenger_checked = True
            if self.settings.artifact_version is None:
                entry = load_aliases(Path(self.settings.artifacts)).challenger
                if entry is not None:
                    self._challenger = self.build(entry.version)
                    log.info("serving challenger %s to %.0f%% of users", entry.version,
                             100 * self.settings.challenger_share)
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

    def set_challenger(self, recommender: Recommender | None) -> None:
        self._challenger, self._challenger_checked = recommender, True
