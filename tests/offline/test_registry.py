"""The model registry (champion/challenger aliases, history, rollback) and `movierec models`."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from offline import registry
from offline.artifacts import latest_version, write_version
from offline.registry import (
    ALIASES,
    RegistryError,
    clear_challenger,
    load_aliases,
    promote,
    resolve,
    rollback,
)

MakeVersion = Callable[..., str]


@pytest.fixture
def make_version(tmp_path: Path) -> MakeVersion:
    """``make(name, val_ndcg=0.1)``: a small complete version under ``tmp_path`` (LATEST follows)."""

    def make(name: str, val_ndcg: float = 0.1) -> str:
        info = {"created_at": "2024-01-01T00:00:00+00:00", "counts": {"users": 3, "movies": 2}}
        metrics = {"val": {"als": {"ndcg@10": val_ndcg}}, "test": {"als": {"ndcg@10": val_ndcg / 2}}}
        write_version(tmp_path, name, {"item_factors": np.ones((2, 4), np.float32)},
                      {"movies": pd.DataFrame({"movie_id": [1, 2]})}, info, metrics)
        return name

    return make


def test_without_aliases_file_the_champion_is_latest(tmp_path: Path, make_version: MakeVersion) -> None:
    assert load_aliases(tmp_path).champion is None and load_aliases(tmp_path).source == "none"
    make_version("v1")
    aliases = load_aliases(tmp_path)
    assert aliases.source == "LATEST" and aliases.champion is not None and aliases.champion.version == "v1"
    assert resolve(tmp_path, "champion") == "v1" and not (tmp_path / ALIASES).exists()


def test_promote_champion_moves_latest_and_records_history(tmp_path: Path, make_version: MakeVersion) -> None:
    make_version("v1")
    make_version("v2")
    promote(tmp_path, "v1", by="ana", why="v2 looks worse")
    assert latest_version(tmp_path) == "v1"
    raw = json.loads((tmp_path / ALIASES).read_text())
    assert raw["champion"]["version"] == "v1" and raw["champion"]["by"] == "ana"
    assert raw["champion"]["why"] == "v2 looks worse" and raw["challenger"] is None
    assert [(h["action"], h["version"], h["previous"]) for h in raw["history"]] == [("promote", "v1", "v2")]
    assert load_aliases(tmp_path).source == "aliases.json"


def test_default_user_is_the_login_name(tmp_path: Path, make_version: MakeVersion, monkeypatch) -> None:
    make_version("v1")
    monkeypatch.setattr(registry.getpass, "getuser", lambda: "login-name")
    aliases = promote(tmp_path, "v1", as_="champion")  # makes the implicit LATEST champion explicit
    assert aliases.champion is not None and aliases.champion.by == "login-name"
    assert aliases.history[0].previous is None and aliases.source == "aliases.json"
    with pytest.raises(RegistryError, match="already the champion"):
        promote(tmp_path, "v1")


def test_challenger_then_champion_clears_the_challenger(tmp_path: Path, make_version: MakeVersion) -> None:
    make_version("v1")
    make_version("v2")
    promote(tmp_path, "v1", by="a")
    promote(tmp_path, "v2", as_="challenger", by="a")
    assert latest_version(tmp_path) == "v1", "a challenger does not move LATEST"
    assert resolve(tmp_path, "challenger") == "v2" and resolve(tmp_path, "champion") == "v1"
    aliases = promote(tmp_path, resolve(tmp_path, "challenger"), by="b", why="won the A/B test")
    assert aliases.champion is not None and aliases.champion.version == "v2" and aliases.challenger is None
    assert latest_version(tmp_path) == "v2"
    assert [h.action for h in aliases.history] == ["promote", "promote", "promote", "clear"]


def test_rollback_walks_back_through_champions(tmp_path: Path, make_version: MakeVersion) -> None:
    for v in ("v1", "v2", "v3"):
        make_version(v)
    promote(tmp_path, "v1", by="a")  # LATEST was v3: v3 is the champion before the registry
    promote(tmp_path, "v2", by="a")
    promote(tmp_path, "v3", by="a")
    assert rollback(tmp_path, by="b", why="bad").champion.version == "v2"  # type: ignore[union-attr]
    assert latest_version(tmp_path) == "v2"
    assert rollback(tmp_path, by="b").champion.version == "v1"  # type: ignore[union-attr]
    assert rollback(tmp_path, by="b").champion.version == "v3"  # type: ignore[union-attr]
    with pytest.raises(RegistryError, match="no previous champion"):
        rollback(tmp_path, by="b")
    history = load_aliases(tmp_path).history
    assert history[3].action == "rollback" and (history[3].version, history[3].previous) == ("v2", "v3")
    assert len(history) == 6 and history[3].why == "bad"


def test_rollback_without_history_is_a_clear_error(tmp_path: Path, make_version: MakeVersion) -> None:
    with pytest.raises(RegistryError, match="no previous champion"):
        rollback(tmp_path, by="a")
    make_version("v1")
    with pytest.raises(RegistryError, match="no previous champion"):
        rollback(tmp_path, by="a")


def test_errors_unknown_incomplete_or_duplicate(tmp_path: Path, make_version: MakeVersion) -> None:
    make_version("v1")
    with pytest.raises(RegistryError, match="no complete artifact version 'nope'"):
        promote(tmp_path, "nope", by="a")
    (tmp_path / ".tmp-v9").mkdir()  # a half-written version is not a version
    with pytest.raises(RegistryError, match="no complete"):
        promote(tmp_path, ".tmp-v9", by="a")
    make_version("v2")
    np.save(tmp_path / "v2" / "item_factors.npy", np.zeros((2, 4), np.float32))
    with pytest.raises(RegistryError, match="corrupted"):
        promote(tmp_path, "v2", by="a")
    promote(tmp_path, "v1", by="a")
    with pytest.raises(RegistryError, match="already the champion"):
        promote(tmp_path, "v1", by="a")
    with pytest.raises(RegistryError, match="cannot also be the challenger"):
        promote(tmp_path, "v1", as_="challenger", by="a")
    with pytest.raises(RegistryError, match="no challenger"):
        clear_challenger(tmp_path, by="a")
    with pytest.raises(RegistryError, match="neither an alias"):
        resolve(tmp_path, "v7")
    assert resolve(tmp_path, "latest") == "v1" and resolve(tmp_path, "v2") == "v2"


def test_clear_challenger(tmp_path: Path, make_version: MakeVersion) -> None:
    make_version("v1")
    make_version("v2")
    promote(tmp_path, "v1", as_="challenger", by="a")
    aliases = clear_challenger(tmp_path, by="a", why="lost")
    assert aliases.challenger is None and aliases.history[-1].action == "clear"
    assert aliases.history[-1].previous == "v1"
    assert load_aliases(tmp_path).champion.version == "v2"  # type: ignore[union-attr]


def test_failed_write_keeps_the_old_aliases(tmp_path: Path, make_version: MakeVersion, monkeypatch) -> None:
    make_version("v1")
    make_version("v2")
    promote(tmp_path, "v1", by="a")
    before = (tmp_path / ALIASES).read_text()

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("offline.artifacts.os.replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        promote(tmp_path, "v2", by="a")
    monkeypatch.undo()
    assert (tmp_path / ALIASES).read_text() == before and latest_version(tmp_path) == "v1"


def test_failed_pointer_move_restores_the_aliases(tmp_path: Path, make_version: MakeVersion, monkeypatch) -> None:
    make_version("v1")
    make_version("v2")
    promote(tmp_path, "v1", by="a")
    before = (tmp_path / ALIASES).read_text()

    def broken_pointer(root: Path, version: str) -> None:
        raise OSError("pointer not writable")

    monkeypatch.setattr(registry, "set_pointer", broken_pointer)
    with pytest.raises(OSError, match="pointer"):
        promote(tmp_path, "v2", by="a")
    assert (tmp_path / ALIASES).read_text() == before and latest_version(tmp_path) == "v1"


def test_bad_aliases_file_is_a_clear_error(tmp_path: Path, make_version: MakeVersion) -> None:
    make_version("v1")
    (tmp_path / ALIASES).write_text("{not json")
    with pytest.raises(RegistryError, match="not a valid aliases file"):
        load_aliases(tmp_path)


def test_models_cli_list_promote_rollback(tmp_path: Path, make_version: MakeVersion, monkeypatch) -> None:
    from movierec_cli.models_cmd import app

    make_version("v1", val_ndcg=0.1234)
    make_version("v2", val_ndcg=0.2345)
    runner = CliRunner()
    monkeypatch.setenv("MOVIEREC_ARTIFACTS", str(tmp_path))  # the environment names the root
    out = runner.invoke(app, ["list"])
    assert out.exit_code == 0, out.output
    assert "0.1234" in out.output and "0.2345" in out.output and "no aliases.json yet" in out.output
    out = runner.invoke(app, ["promote", "v1", "--why", "rollout test", "--by", "ci", "--no-announce"])
    assert out.exit_code == 0, out.output
    assert latest_version(tmp_path) == "v1"
    out = runner.invoke(app, ["promote", "v2", "--as", "challenger", "--by", "ci", "--artifacts", str(tmp_path), "--no-announce"])
    assert out.exit_code == 0 and resolve(tmp_path, "challenger") == "v2"
    out = runner.invoke(app, ["list"])
    assert "champion" in out.output and "challenger" in out.output
    out = runner.invoke(app, ["rollback", "--why", "oops", "--by", "ci", "--no-announce"])
    assert out.exit_code == 0, out.output
    assert latest_version(tmp_path) == "v2" and resolve(tmp_path, "champion") == "v2"
    out = runner.invoke(app, ["history"])
    assert out.exit_code == 0 and "rollback" in out.output
    out = runner.invoke(app, ["promote", "v9"])
    assert out.exit_code == 2 and "neither an alias" in out.output
    out = runner.invoke(app, ["rollback", "--by", "ci", "--no-announce"])
    assert out.exit_code == 2 and "no previous champion" in out.output
