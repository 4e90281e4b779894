"""Stage bookkeeping for long offline runs: rows in/out, wall and CPU seconds, peak memory.

Two memory figures per stage: ``peak_rss_mb``, the peak resident memory of the process so
far (what bounds the machine), and ``stage_peak_rss_mb``, the peak reached during that stage
alone. The latter resets the kernel's high-water mark (``/proc/self/clear_refs``, Linux)
when a stage starts; where that is not allowed it equals the peak so far.
"""
from __future__ import annotations

import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field


def peak_rss_mb() -> float:
    """Peak resident memory of this process since start or the last reset, in MiB.

    Reads ``VmHWM`` from ``/proc/self/status`` (falls back on ``ru_maxrss``; Linux: KiB).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def reset_peak_rss() -> bool:
    """Reset the process's resident-memory high-water mark to the current RSS; False if not allowed."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


@dataclass
class StageRecord:
    name: str
    rows_in: int = 0
    rows_out: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    peak_rss_mb: float = 0.0
    stage_peak_rss_mb: float = 0.0
    note: str = ""


@dataclass
class StageLog:
    """Ordered records of the stages of one run."""

    records: list[StageRecord] = field(default_factory=list)
    _peak_mb: float = field(default_factory=peak_rss_mb, repr=False)

    @contextmanager
    def stage(self, name: str, rows_in: int = 0) -> Iterator[StageRecord]:
        """Time a stage; the body sets ``rows_out`` (and ``note``) on the yielded record."""
        rec = StageRecord(name=name, rows_in=rows_in)
        self._peak_mb = max(self._peak_mb, peak_rss_mb())  # keep the peak before a reset
        reset_peak_rss()
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            yield rec
        finally:
            rec.seconds = time.perf_counter() - t0
            rec.cpu_seconds = time.process_time() - c0  # all threads of the process
            rec.stage_peak_rss_mb = peak_rss_mb()
            self._peak_mb = max(self._peak_mb, rec.stage_peak_rss_mb)
            rec.peak_rss_mb = self._peak_mb
            self.records.append(rec)

    def as_dicts(self) -> list[dict[str, object]]:
        return [asdict(r) for r in self.records]

    def seconds(self) -> dict[str, float]:
        return {r.name: round(r.seconds, 3) for r in self.records}
