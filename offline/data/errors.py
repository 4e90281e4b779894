"""The one exception the data layer raises for input it cannot use."""
from __future__ import annotations

from pathlib import Path


class DataError(Exception):
    """Input data that cannot be loaded.

    The message always names the file (or directory) and, where relevant, how many rows
    were read from it, e.g. ``"/data/ratings.csv: no usable ratings (1,204 rows read)"``.

    Attributes:
        path: the file or directory at fault.
        rows: rows read from ``path`` before giving up, or None where not relevant.
    """

    def __init__(self, path: Path | str, message: str, rows: int | None = None) -> None:
        self.path = Path(path)
        self.rows = rows
        text = f"{self.path}: {message}"
        if rows is not None:
            text += f" ({rows:,} rows read)"
        super().__init__(text)
