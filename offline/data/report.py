"""What happened while loading one file: rows read, kept and dropped by reason."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Reasons a row is dropped, in the order they are checked (a row counts once, under the
# first reason that applies).
DROP_REASONS: tuple[str, ...] = (
    "malformed_line",  # wrong number of fields
    "missing_id",  # user or movie id empty
    "invalid_id",  # id not a non-negative integer
    "missing_rating",  # rating empty
    "non_numeric_rating",  # rating present but not a number
    "rating_out_of_range",  # rating outside [0.5, 5.0]
    "unparseable_timestamp",  # timestamp empty, not a number, not an ISO date
    "duplicate",  # (user, movie) seen again; the row with the latest timestamp is kept
)


@dataclass
class LoadReport:
    """Counts for one loaded file.

    ``rows_read`` counts data lines (header excluded, malformed lines included), so
    ``rows_read == rows_kept + rows_dropped`` once loading is done. ``notes`` counts
    things worth knowing that did not drop a row (e.g. ``"unknown_movie"``: ratings of
    movies absent from the movies file).
    """

    path: str
    layout: str
    rows_read: int = 0
    rows_kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    notes: dict[str, int] = field(default_factory=dict)

    def drop(self, reason: str, n: int) -> None:
        """Count ``n`` rows dropped for ``reason`` (no-op for n == 0)."""
        if n:
            self.dropped[reason] = self.dropped.get(reason, 0) + int(n)

    def note(self, name: str, n: int) -> None:
        """Count ``n`` occurrences of a non-dropping observation (no-op for n == 0)."""
        if n:
            self.notes[name] = self.notes.get(name, 0) + int(n)

    @property
    def rows_dropped(self) -> int:
        """Total rows dropped, all reasons."""
        return sum(self.dropped.values())

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (copies of the counters)."""
        return {
            "path": self.path,
            "layout": self.layout,
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "rows_dropped": self.rows_dropped,
            "dropped": dict(self.dropped),
            "notes": dict(self.notes),
        }
