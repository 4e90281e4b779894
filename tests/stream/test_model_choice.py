"""An announcement on models.v1 is only a hint: the worker's own registry decides what it serves."""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from offline.artifacts import ArtifactError, load_version, write_version
from offline.registry import clear_challenger, promote
from schemas.events import ModelAnnouncement
from stream_app.model_choice import RejectedAnnouncement, announced_version, check_online_tuning
from stream_app.settings import ONLINE_TUNING_FILE

MakeVersion = Callable[[Path, str], Path]


@pytest.fixture
def make_version() -> MakeVersion:
    def make(root: Path, name: str) -> Path:
        return write_version(root, name, {"item_factors": np.ones((2, 4), np.float32)}, {}, {}, {})
    return make


@pytest.fixture
def registry(tmp_path: Path, make_version: MakeVersion) -> Path:
    """``root`` with v1 (champion), v2 (challenger) and v3 (no alias); ``outside/evil`` beside it."""
    root = tmp_path / "artifacts"
    for name in ("v1", "v2", "v3"):
        make_version(root, name)
    promote(root, "v1", "champion", by="test")
    promote(root, "v2", "challenger", by="test")
    make_version(tmp_path / "outside", "evil")
    return root


def ann(version: str, alias: str = "champion", action: str = "promote") -> ModelAnnouncement:
    return ModelAnnouncement(version=version, alias=alias, action=action)


@pytest.mark.parametrize("version", ["{outside}/evil", "../outside/evil", "v1/../../outside/evil", ".tmp-v1",
                                     "v1\nnow serving evil", "v1 "])
def test_a_path_is_never_a_version(registry: Path, version: str) -> None:
    version = version.format(outside=registry.parent / "outside")
    with pytest.raises(RejectedAnnouncement, match="not a version name"):
        announced_version(registry, ann(version))
    with pytest.raises(ArtifactError, match="not a version name"):  # nor can the loader be pointed there
        load_version(registry, version)


def test_unknown_and_mismatched_versions_are_refused(registry: Path) -> None:
    with pytest.raises(RejectedAnnouncement, match="no complete version v9"):
        announced_version(registry, ann("v9"))
    with pytest.raises(RejectedAnnouncement, match="names v1 as the champion, not v3"):
        announced_version(registry, ann("v3"))
    with pytest.raises(RejectedAnnouncement, match="names v2 as the challenger, not v1"):
        announced_version(registry, ann("v1", "challenger"))
    with pytest.raises(RejectedAnnouncement, match="names v1 as the champion, not v2"):
        announced_version(registry, ann("v2", "champion", "rollback"))


def test_what_the_registry_says_is_accepted(registry: Path) -> None:
    assert announced_version(registry, ann("v1")) == "v1"
    assert announced_version(registry, ann("v2", "challenger")) == "v2"
    promote(registry, "v3", "champion", by="test")
    assert announced_version(registry, ann("v3")) == "v3"


def test_only_a_cleared_challenger_is_cleared(registry: Path) -> None:
    with pytest.raises(RejectedAnnouncement, match="only the challenger can be cleared"):
        announced_version(registry, ann("v1", "champion", "clear"))
    with pytest.raises(RejectedAnnouncement, match="still names v2 as the challenger"):
        announced_version(registry, ann("v2", "challenger", "clear"))
    clear_challenger(registry, by="test")
    assert announced_version(registry, ann("v2", "challenger", "clear")) is None


def test_an_unreadable_registry_refuses_everything(registry: Path) -> None:
    (registry / "aliases.json").write_text("{not json")
    with pytest.raises(RejectedAnnouncement, match="not a valid aliases file"):
        announced_version(registry, ann("v1"))


def test_online_tuning_must_belong_to_the_version(registry: Path) -> None:
    vdir = registry / "v1"
    check_online_tuning(vdir, "v1")  # none: fine
    (vdir / ONLINE_TUNING_FILE).write_text(json.dumps({"version": "v1", "settings": {"cold_start_swipes": 2}}))
    check_online_tuning(vdir, "v1")
    (vdir / ONLINE_TUNING_FILE).write_text(json.dumps({"version": "v2", "settings": {}}))
    with pytest.raises(ArtifactError, match="written for version 'v2', not v1"):
        check_online_tuning(vdir, "v1")
    (vdir / ONLINE_TUNING_FILE).write_text(json.dumps({"version": "v1", "settings": ["x"]}))
    with pytest.raises(ArtifactError, match="no settings object"):
        check_online_tuning(vdir, "v1")
    (vdir / ONLINE_TUNING_FILE).write_text("{")
    with pytest.raises(ArtifactError, match="not readable JSON"):
        check_online_tuning(vdir, "v1")


@pytest.mark.integration
def test_a_running_worker_ignores_announcements_its_registry_does_not_back(kafka_bootstrap: str, worker_factory,
                                                                           small_artifacts: Path, tmp_path: Path) -> None:
    """Absolute, ``../``, unknown and mismatched versions and a champion ``clear`` on models.v1:
    each used to be obeyed (an outside directory served to every user, the challenger cleared)."""
    import shutil
    import urllib.request

    from stream_app.control import announce

    root = tmp_path / "artifacts"
    shutil.copytree(small_artifacts, root)
    champion = load_version(root).version
    challenger = f"{champion}-b"  # the same files under another name: a second complete version
    shutil.copytree(root / champion, root / challenger)
    shutil.copytree(root / champion, tmp_path / "outside" / "evil")
    promote(root, champion, "champion", by="test")
    promote(root, challenger, "challenger", by="test")
    worker = worker_factory(artifacts=root, challenger_share=1.0)
    for bad in (ann(str(tmp_path / "outside" / "evil")), ann("../outside/evil"), ann("never-trained"),
                ann(challenger), ann(champion, "champion", "clear")):
        announce(kafka_bootstrap, worker.env["MODELS_TOPIC"], bad)
    deadline = time.monotonic() + 20
    while worker.log_path.read_text().count("ignoring announcement") < 5 and time.monotonic() < deadline:
        time.sleep(0.2)

    def get(path: str) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.env['WEB_PORT']}{path}", timeout=10) as resp:
            return json.loads(resp.read())

    assert get("/health")["model_version"] == champion
    served = get("/users/1/recommendations")
    assert (served["model_version"], served["variant"]) == (challenger, "challenger")
    assert worker.log_path.read_text().count("ignoring announcement") == 5
