"""Where to find MovieLens ml-latest-small: the search order of ``movierec demo``, as pure path logic.

Order: ``--data``, ``$MOVIEREC_DATA``, ``data/raw/`` (under the working directory, then under the
project root), then ``../shared/data/`` (beside the project root, then beside the working
directory). A root holds the dataset either itself (a dataset folder or ratings file) or as
``<root>/ml-latest-small``. A root the user named (``--data``, ``$MOVIEREC_DATA``) that holds no
dataset is an error, never silently skipped.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from offline.data.errors import DataError
from offline.data.loaders import detect_layout

logger = logging.getLogger(__name__)

DATASET = "ml-latest-small"
RAW_DIR = Path("data/raw")
SHARED_DIR = Path("../shared/data")


@dataclass(frozen=True)
class Source:
    """One place to look: ``label`` says where it came from (for messages)."""

    label: str
    root: Path
    explicit: bool = False  # named by the user: an empty one is an error


@dataclass(frozen=True)
class Found:
    """The dataset found, and the source it was found in."""

    source: Source
    path: Path


def project_root(start: Path) -> Path | None:
    """The nearest directory at or above ``start`` holding ``pyproject.toml``, else None."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / "pyproject.toml").is_file():
            return folder
    return None


def search_order(cwd: Path, project: Path | None, data: Path | None = None,
                 env_data: Path | None = None) -> list[Source]:
    """The sources to try, first to last, without duplicates (same resolved path)."""
    candidates: list[Source] = []
    if data is not None:
        candidates.append(Source("--data", cwd / data, explicit=True))
    if env_data is not None:
        candidates.append(Source("$MOVIEREC_DATA", cwd / env_data, explicit=True))
    candidates.append(Source(str(RAW_DIR), cwd / RAW_DIR))
    if project is not None:
        candidates.append(Source(f"{RAW_DIR} of the project", project / RAW_DIR))
        candidates.append(Source(f"{SHARED_DIR} beside the project", project / SHARED_DIR))
    candidates.append(Source(f"{SHARED_DIR} beside the working directory", cwd / SHARED_DIR))
    seen: set[Path] = set()
    order: list[Source] = []
    for source in candidates:
        key = source.root.resolve()
        if key not in seen:
            seen.add(key)
            order.append(source)
    return order


def _has_ml_latest(folder: Path) -> bool:
    return (folder / "ratings.csv").is_file() and (folder / "movies.csv").is_file()


def dataset_in(source: Source, name: str = DATASET) -> Path | None:
    """A user-named root itself when it is a dataset; else ``root/name`` when it holds ratings.csv and movies.csv."""
    if source.explicit:
        try:
            detect_layout(source.root)
            return source.root
        except DataError:
            pass
    return source.root / name if _has_ml_latest(source.root / name) else None


def find_dataset(sources: list[Source], name: str = DATASET) -> Found | None:
    """The first source holding the dataset; None if none does.

    Raises:
        DataError: a user-named source (``explicit``) holds no dataset.
    """
    for source in sources:
        path = dataset_in(source, name)
        if path is not None:
            logger.info("dataset %s found in %s (%s)", name, path, source.label)
            return Found(source, path)
        if source.explicit:
            raise DataError(source.root, f"no MovieLens dataset here or in {source.root / name} "
                                         f"(named by {source.label})")
        logger.debug("no %s in %s (%s)", name, source.root, source.label)
    return None
