"""Online A/B evaluation: each variant's hit rate of shown lists and a two-proportion z-test.

Pure (standard library, numpy-free, ``scipy.stats.norm`` for the p-value); the Kafka adapter
is ``stream_app.ab_kafka``.

Definitions, per user, over the user's events in time order (lists shown and swipes):

* a list **hits** when one of the user's next ``within`` swipes after it is positive
  (bucket 3 "like" or 4 "love") on one of the list's movies. Only swipes count towards
  ``within`` (lists are the system's events, not the user's); a swipe at the same time as a
  list is ordered before it (it is usually the list's cause);
* a variant's **rate** = hits / n over the lists shown with that variant; lists without a
  variant (no experiment running) count only in ``overall``;
* each variant is compared with the **control** (``champion`` when present, else the first
  variant by name) by the pooled two-proportion z-test::

      p̂ = (x_c + x_v) / (n_c + n_v)
      z = (x_v / n_v - x_c / n_c) / sqrt(p̂ (1 - p̂) (1 / n_c + 1 / n_v))
      p = 2 (1 - Φ(|z|))            (two-sided)

  z > 0 means the variant hits more often than the control. The control's own z and p are
  None; so are they when either side has no list. When p̂ is 0 or 1 there is no variance:
  z = 0, p = 1.
"""
from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scipy.stats import norm

POSITIVE_BUCKETS: frozenset[int] = frozenset({3, 4})
"""Swipe buckets that count as a hit: like and love."""
OVERALL = "overall"


@dataclass(frozen=True)
class ListShown:
    """A recommendation list shown to the user: its A/B variant and movie ids, best first."""

    variant: str | None
    movie_ids: tuple[int, ...]
    at: float = 0.0
    """Unix seconds (ordering only)."""


@dataclass(frozen=True)
class Swipe:
    """A user's swipe: the movie and the bucket 1-4 (3 and 4 are positive)."""

    movie_id: int
    preference: int
    at: float = 0.0
    """Unix seconds (ordering only)."""


UserEvent = ListShown | Swipe


@dataclass(frozen=True)
class VariantResult:
    """One variant's lists: ``n`` shown, ``hits``, ``rate`` (None when n = 0) and the test
    against the control (``z``, two-sided ``p``; None for the control itself)."""

    variant: str
    n: int
    hits: int
    rate: float | None
    z: float | None = None
    p: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "hits": self.hits, "rate": self.rate, "z": self.z, "p": self.p}


@dataclass(frozen=True)
class ABReport:
    """Per-variant results (sorted by name), the control and every list pooled (``overall``)."""

    within: int
    control: str | None
    variants: tuple[VariantResult, ...]
    overall: VariantResult

    def variant(self, name: str) -> VariantResult:
        """The result of variant ``name`` (KeyError if no list had it)."""
        for v in self.variants:
            if v.variant == name:
                return v
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        """``{"within", "control", "variants": {name: {n, hits, rate, z, p}}, "overall": {...}}``."""
        return {"within": self.within, "control": self.control,
                "variants": {v.variant: v.to_json() for v in self.variants}, "overall": self.overall.to_json()}


def list_hits(events: Sequence[UserEvent], within: int) -> list[tuple[str | None, bool]]:
    """(variant, hit) of every list in one user's time-ordered ``events``."""
    if within < 1:
        raise ValueError(f"within must be >= 1, got {within}")
    swipe_at = [i for i, e in enumerate(events) if isinstance(e, Swipe)]
    out: list[tuple[str | None, bool]] = []
    for i, event in enumerate(events):
        if not isinstance(event, ListShown):
            continue
        shown = set(event.movie_ids)
        start = bisect.bisect_right(swipe_at, i)
        nxt = (events[j] for j in swipe_at[start:start + within])
        hit = any(isinstance(s, Swipe) and s.preference in POSITIVE_BUCKETS and s.movie_id in shown for s in nxt)
        out.append((event.variant, hit))
    return out


def two_proportion_z(hits_a: int, n_a: int, hits_b: int, n_b: int) -> tuple[float, float]:
    """Pooled two-proportion z-test of b against a: (z, two-sided p). Needs n_a, n_b >= 1."""
    if n_a < 1 or n_b < 1:
        raise ValueError(f"both groups need lists: n_a={n_a}, n_b={n_b}")
    pooled = (hits_a + hits_b) / (n_a + n_b)
    # se = sqrt(p̂ (1 - p̂) (1/n_a + 1/n_b))
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n_a + 1.0 / n_b))
    if se == 0.0:
        return 0.0, 1.0
    z = (hits_b / n_b - hits_a / n_a) / se
    return z, float(2.0 * norm.sf(abs(z)))


def _result(name: str, n: int, hits: int) -> VariantResult:
    return VariantResult(name, n, hits, hits / n if n else None)


def ab_report(events_by_user: Mapping[int, Sequence[UserEvent]], within: int = 5,
              control: str | None = None) -> ABReport:
    """Hit rates per variant and each variant's z-test against ``control``.

    Args:
        events_by_user: user id -> that user's lists and swipes in time order
            (see :func:`order_events`).
        within: a list hits when one of the user's next ``within`` swipes likes one of its movies.
        control: the reference variant; default ``champion`` if present, else the first by name.
    """
    n: dict[str | None, int] = defaultdict(int)
    hits: dict[str | None, int] = defaultdict(int)
    for events in events_by_user.values():
        for variant, hit in list_hits(events, within):
            n[variant] += 1
            hits[variant] += hit
    names = sorted(v for v in n if v is not None)
    if control is None and names:
        control = "champion" if "champion" in names else names[0]
    results = []
    for name in names:
        result = _result(name, n[name], hits[name])
        if control in n and name != control:
            z, p = two_proportion_z(hits[control], n[control], hits[name], n[name])
            result = VariantResult(name, result.n, result.hits, result.rate, z, p)
        results.append(result)
    overall = _result(OVERALL, sum(n.values()), sum(hits.values()))
    return ABReport(within, control, tuple(results), overall)


def order_events(rows: Iterable[tuple[int, UserEvent]]) -> dict[int, list[UserEvent]]:
    """Group (user_id, event) rows by user, each user's events sorted by ``at`` (a swipe
    before a list at the same time; otherwise the input order is kept)."""
    by_user: dict[int, list[UserEvent]] = defaultdict(list)
    for user_id, event in rows:
        by_user[user_id].append(event)
    return {u: sorted(evs, key=lambda e: (e.at, 0 if isinstance(e, Swipe) else 1)) for u, evs in by_user.items()}
