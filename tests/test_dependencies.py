"""pyproject.toml's lower bounds exclude releases with known vulnerabilities."""
from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
FIRST_FIXED = {
    "pyarrow": "14.0.1",  # CVE-2023-47248: code execution when reading untrusted IPC/Feather/Parquet
    "tqdm": "4.66.3",  # CVE-2024-34062: eval of CLI arguments
    "aiohttp": "3.13.4",  # CVE-2025-53643, CVE-2025-69224 (request smuggling), CVE-2026-22815 (memory)
    "setuptools": "78.1.1",  # CVE-2024-6345, CVE-2025-47273 (build requirement)
}


def lower_bounds() -> dict[str, Version]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    specs = [*project["project"]["dependencies"], *project["build-system"]["requires"],
             *(d for extra in project["project"]["optional-dependencies"].values() for d in extra)]
    out: dict[str, Version] = {}
    for spec in specs:
        req = Requirement(spec)
        for clause in req.specifier:
            if clause.operator in (">=", "==", "~="):
                out[req.name.lower()] = max(out.get(req.name.lower(), Version("0")), Version(clause.version))
    return out


def test_no_lower_bound_admits_a_release_with_a_known_vulnerability() -> None:
    bounds = lower_bounds()
    too_low = {name: str(bounds.get(name)) for name, fixed in FIRST_FIXED.items()
               if bounds.get(name, Version("0")) < Version(fixed)}
    assert not too_low, f"lower bounds below the first fixed release {FIRST_FIXED}: {too_low}"
