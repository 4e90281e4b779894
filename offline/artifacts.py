"""Versioned model artifacts: written atomically, checksummed, loaded without pickle.

Layout: ``ROOT/<version>/`` holding ``.npy`` arrays, ``.parquet`` tables and JSON files,
with ``model_info.json`` listing the sha256 of every other file; ``ROOT/LATEST`` names the
newest complete version. A version is assembled in ``ROOT/.tmp-<version>`` and renamed
into place only when every file is written, so a failed run leaves no version behind.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

log = logging.getLogger(__name__)

POINTER = "LATEST"
INFO = "model_info.json"
METRICS = "metrics.json"
VERSION_NAME = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,127}")
"""A version name: one plain directory name under the root (no path, no leading dot)."""


class ArtifactError(Exception):
    """A missing, incomplete or corrupted artifact version."""


def check_version_name(version: str) -> str:
    """``version`` if it is a plain version name (``VERSION_NAME``), else ``ArtifactError``: a
    path such as ``/etc`` or ``../x`` must never pick a directory outside the root."""
    if not isinstance(version, str) or not VERSION_NAME.fullmatch(version):
        raise ArtifactError(f"{str(version)[:80]!r} is not a version name (letters, digits, '.', '_', '-'; "
                            "no path)")
    return version


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def write_json_atomic(path: Path, payload: Any) -> None:
    """Write JSON to ``path`` via a temporary file and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(payload, f, indent=2, sort_keys=True, default=str)
        f.write("\n")
    os.replace(tmp, path)


def new_version_name(fingerprint: str, now: datetime | None = None) -> str:
    """``YYYYmmddTHHMMSSZ-<first 6 hex of the data+config fingerprint>``."""
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%dT%H%M%SZ}-{fingerprint[:6]}"


def parquet_bytes(table: pd.DataFrame) -> bytes:
    """``table`` encoded exactly as ``write_version`` writes it (Parquet, no index).

    The encoding runs in Arrow without the GIL, so a pipeline can encode big tables on a
    second thread while the main one works, and hand the bytes to ``write_version``.
    """
    out = table.to_parquet(None, index=False)
    assert isinstance(out, bytes)
    return out


def parquet_bytes_of_rows(table: pd.DataFrame, rows: np.ndarray) -> bytes:
    """``parquet_bytes(table.loc[rows].reset_index(drop=True))``, byte for byte, for a (n,)
    bool ``rows`` mask over a table of numpy columns, without the pandas copy: Arrow wraps
    each masked column as it is (half the memory, and the Arrow work runs without the GIL).
    """
    schema = pa.Schema.from_pandas(table.iloc[:0], preserve_index=False)
    mask = pa.array(np.asarray(rows, dtype=bool))  # Arrow's filter: faster than numpy's mask here
    arrays = [pc.filter(pa.array(table[name].to_numpy()), mask) for name in table.columns]
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_arrays(arrays, schema=schema), sink)
    return sink.getvalue().to_pybytes()


def write_version(
    root: Path,
    version: str,
    arrays: Mapping[str, np.ndarray],
    tables: Mapping[str, pd.DataFrame | bytes],
    info: dict[str, Any],
    metrics: dict[str, Any],
    update_pointer: bool = True,
) -> Path:
    """Write one complete version and (optionally) point ``LATEST`` at it.

    Arrays go to ``<name>.npy``, tables to ``<name>.parquet`` (a table given as bytes is
    already encoded, by ``parquet_bytes``); ``info`` gains ``files: {name: sha256}`` and is
    written last as ``model_info.json``.
    """
    check_version_name(version)
    root.mkdir(parents=True, exist_ok=True)
    final = root / version
    if final.exists():
        raise ArtifactError(f"artifact version {final} already exists")
    tmp = root / f".tmp-{version}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        for name, arr in arrays.items():
            if arr.dtype == object:
                raise ArtifactError(f"array {name!r} has dtype object; artifacts never hold pickles")
            np.save(tmp / f"{name}.npy", arr, allow_pickle=False)
        for name, table in tables.items():
            if isinstance(table, bytes):
                (tmp / f"{name}.parquet").write_bytes(table)
            else:
                table.to_parquet(tmp / f"{name}.parquet", index=False)
        write_json_atomic(tmp / METRICS, metrics)
        files = {p.name: sha256_file(p) for p in sorted(tmp.iterdir()) if p.is_file()}
        write_json_atomic(tmp / INFO, {**info, "version": version, "files": files})
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if update_pointer:
        set_pointer(root, version)
    log.info("wrote artifact version %s", final)
    return final


def set_pointer(root: Path, version: str) -> None:
    check_version_name(version)
    if not (root / version / INFO).is_file():
        raise ArtifactError(f"no complete artifact version {version!r} under {root}")
    fd, tmp = tempfile.mkstemp(dir=root, prefix=f".{POINTER}.")
    with os.fdopen(fd, "w") as f:
        f.write(version + "\n")
    os.replace(tmp, root / POINTER)


def latest_version(root: Path) -> str:
    pointer = root / POINTER
    if not pointer.is_file():
        raise ArtifactError(f"no {POINTER} pointer in {root}: run `movierec offline run` first")
    return pointer.read_text().strip()


def list_versions(root: Path) -> list[str]:
    """Complete versions, oldest first (names sort by time)."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / INFO).is_file())


@dataclass(frozen=True)
class ArtifactVersion:
    """A loaded, verified version: arrays by name, tables by name, info and metrics."""

    path: Path
    version: str
    arrays: dict[str, np.ndarray]
    tables: dict[str, pd.DataFrame]
    info: dict[str, Any]
    metrics: dict[str, Any]


def load_version(root: Path, version: str | None = None, verify: bool = True) -> ArtifactVersion:
    """Load ``version`` (default: the pointer's) after checking every file's sha256."""
    version = check_version_name(version or latest_version(root))
    path = root / version
    info_path = path / INFO
    if not info_path.is_file():
        raise ArtifactError(f"{path} is not a complete artifact version (no {INFO})")
    info = json.loads(info_path.read_text(encoding="utf-8"))
    files: dict[str, str] = info.get("files", {})
    if verify:
        for name, digest in files.items():
            f = path / name
            if not f.is_file():
                raise ArtifactError(f"{f} listed in {INFO} is missing")
            if sha256_file(f) != digest:
                raise ArtifactError(f"checksum mismatch for {f}: the artifact is corrupted")
    arrays = {n[:-4]: np.load(path / n, allow_pickle=False) for n in files if n.endswith(".npy")}
    tables = {n[:-8]: pd.read_parquet(path / n) for n in files if n.endswith(".parquet")}
    metrics = json.loads((path / METRICS).read_text(encoding="utf-8")) if METRICS in files else {}
    return ArtifactVersion(path, version, arrays, tables, info, metrics)
