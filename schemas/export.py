"""Export the event contracts' JSON Schemas to ``schemas/json/<Name>.json`` and detect drift.

The files are committed: they are the contract other languages and services read. After changing
a model in ``schemas/events.py`` run ``movierec schemas export`` (or ``make schemas``);
``tests/schemas/test_contracts.py`` fails while the files and the models disagree.
"""
from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from schemas.events import CONTRACTS

JSON_DIR = Path(__file__).resolve().parent / "json"


def render(model: type[BaseModel]) -> str:
    """The model's JSON Schema as committed: sorted keys, indent 2, trailing newline."""
    return json.dumps(model.model_json_schema(), sort_keys=True, indent=2) + "\n"


def expected_files(models: tuple[type[BaseModel], ...] = CONTRACTS) -> dict[str, str]:
    """File name -> content for every contract."""
    return {f"{m.__name__}.json": render(m) for m in models}


def export(out_dir: Path = JSON_DIR, models: tuple[type[BaseModel], ...] = CONTRACTS) -> list[Path]:
    """Write every schema file (and delete stale ``*.json`` no model produces); returns files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = expected_files(models)
    for stale in set(p.name for p in out_dir.glob("*.json")) - set(files):
        (out_dir / stale).unlink()
    written = []
    for name, text in files.items():
        path = out_dir / name
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
            written.append(path)
    return written


def check(out_dir: Path = JSON_DIR, models: tuple[type[BaseModel], ...] = CONTRACTS) -> list[str]:
    """Drift between the models and the files: one line per problem; empty when in sync."""
    files = expected_files(models)
    problems = [f"{name}: no model produces it (delete it or re-export)"
                for name in sorted(set(p.name for p in out_dir.glob("*.json")) - set(files))]
    for name, text in files.items():
        path = out_dir / name
        if not path.is_file():
            problems.append(f"{name}: missing")
        elif path.read_text() != text:
            problems.append(f"{name}: differs from the model")
    return problems
