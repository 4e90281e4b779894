"""Stage bookkeeping for long offline runs: rows in/out, seconds, peak memory."""
from __future__ import annotations

import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


@dataclass
class StageRecord:
    name: str
    rows_in: int = 0
    rows_out: int = 0
    seconds: float = 0.0
    peak_rss_mb: float = 0.0
    note: str = ""


@dataclass
class StageLog:
    """Ordered records of the stages of one run."""

    records: list[StageRecord] = field(default_factory=list)

    @contextmanager
    def stage(self, name: str, rows_in: int = 0) -> Iterator[StageRecord]:
        """Time a stage; the body sets ``rows_out`` (and ``note``) on the yielded record."""
        rec = StageRecord(name=name, rows_in=rows_in)
        t0 = time.perf_counter()
        try:
            yield rec
        finally:
            rec.seconds = time.perf_counter() - t0
            rec.peak_rss_mb = peak_rss_mb()
            self.records.append(rec)

    def as_dicts(self) -> list[dict[str, object]]:
        return [asdict(r) for r in self.records]

    def seconds(self) -> dict[str, float]:
        return {r.name: round(r.seconds, 3) for r in self.records}
