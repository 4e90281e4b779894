"""The served models are loaded once, off the request path; a broken artifact is reported, not re-read."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import offline.artifacts as artifacts
from offline.artifacts import ArtifactError, latest_version
from stream_app.model_holder import ModelHolder, ModelNotReady
from stream_app.settings import ONLINE_TUNING_FILE, StreamSettings


@pytest.fixture
def artifacts_copy(small_artifacts: Path, tmp_path: Path) -> Path:
    root = tmp_path / "artifacts"
    shutil.copytree(small_artifacts, root)
    return root


def test_nothing_is_loaded_on_the_request_path(artifacts_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before ``load`` ran (the worker runs it off the event loop), ``get`` and ``for_user``
    answer at once: they used to load and verify the artifact themselves, on the event loop."""
    holder = ModelHolder(StreamSettings(artifacts=artifacts_copy))
    built: list[str] = []
    monkeypatch.setattr(holder, "build", lambda version: built.append(version))
    with pytest.raises(ModelNotReady, match="still loading"):
        holder.get()
    with pytest.raises(ModelNotReady):
        holder.for_user(1)
    assert built == [] and holder.challenger() is None


def test_a_broken_artifact_is_read_once_and_reported(artifacts_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    version = latest_version(artifacts_copy)
    factors = artifacts_copy / version / "item_factors.npy"
    factors.write_bytes(factors.read_bytes()[:-8] + b"\0" * 8)
    hashed: list[Path] = []
    real_sha = artifacts.sha256_file
    monkeypatch.setattr(artifacts, "sha256_file", lambda p, *a: hashed.append(p) or real_sha(p, *a))
    holder = ModelHolder(StreamSettings(artifacts=artifacts_copy))
    with pytest.raises(ArtifactError, match="checksum mismatch"):
        holder.load()
    reads = len(hashed)
    for _ in range(3):  # what /health and every handler call
        with pytest.raises(ModelNotReady, match="checksum mismatch"):
            holder.get()
    assert holder.error is not None and "checksum mismatch" in holder.error
    assert len(hashed) == reads, "the broken artifact was verified again"


def test_load_serves_the_champion_and_a_tuning_file_of_another_version_is_refused(artifacts_copy: Path) -> None:
    version = latest_version(artifacts_copy)
    holder = ModelHolder(StreamSettings(artifacts=artifacts_copy))
    holder.load()
    assert holder.get().model_version == version and holder.error is None
    (artifacts_copy / version / ONLINE_TUNING_FILE).write_text(json.dumps({"version": "another", "settings": {}}))
    with pytest.raises(ArtifactError, match="written for version 'another'"):
        holder.build(version)
