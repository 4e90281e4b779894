"""`movierec demo`: where it looks for data and where it writes (fast; the full demo is not run here)."""
from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from movierec_cli import demo_cmd
from movierec_cli.main import app
from offline.data.locate import DATASET

PROJECT = Path(demo_cmd.__file__).resolve().parents[1]


def test_default_paths_are_under_movierec_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    paths = demo_cmd.demo_paths(None)
    work = tmp_path.resolve() / ".movierec" / "demo"
    assert paths.artifacts == work / "artifacts"
    for path in (paths.kafka_state, paths.faust_dir, paths.history_dir, paths.worker_log, paths.synth):
        assert path.is_absolute() and path.is_relative_to(work)
    assert not paths.artifacts.is_relative_to(tmp_path.resolve() / "artifacts")
    assert demo_cmd.demo_paths(Path("mine")).artifacts == tmp_path.resolve() / "mine"


def test_sources_in_order_and_shared_beside_the_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    sources = demo_cmd.data_sources(Path("given"), data_from_env=False)
    labels = [s.label for s in sources]
    assert labels[0] == "--data" and "$MOVIEREC_DATA" not in labels
    assert labels[1:] == ["data/raw", "data/raw of the project", "../shared/data beside the project",
                          "../shared/data beside the working directory"]
    roots = [s.root.resolve() for s in sources]
    assert roots == [tmp_path.resolve() / "given", tmp_path.resolve() / "data/raw", PROJECT / "data/raw",
                     (PROJECT / "../shared/data").resolve(), (tmp_path / "../shared/data").resolve()]
    assert [s.label for s in demo_cmd.data_sources(Path("x"), data_from_env=True)][0] == "$MOVIEREC_DATA"


def _capture(monkeypatch: pytest.MonkeyPatch) -> Console:
    console = Console(record=True, width=200, file=open("/dev/null", "w"))  # noqa: SIM115 - closed with the test
    monkeypatch.setattr(demo_cmd, "console", console)
    return console


def test_data_found_in_data_raw_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    raw = tmp_path / "data" / "raw" / DATASET
    raw.mkdir(parents=True)
    (raw / "ratings.csv").write_text("userId,movieId,rating,timestamp\n")
    (raw / "movies.csv").write_text("movieId,title,genres\n")
    console = _capture(monkeypatch)
    assert demo_cmd._data(None, False, tmp_path / "synth").resolve() == raw.resolve()
    assert "MovieLens from" in console.export_text()


def test_synthetic_only_as_last_resort_and_loudly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    from offline.data import locate

    empty = [locate.Source("data/raw", tmp_path / "data" / "raw")]
    monkeypatch.setattr(demo_cmd, "data_sources", lambda data, from_env: empty)
    made: list[Path] = []
    monkeypatch.setattr("offline.data.synth.generate", lambda out, **kw: made.append(out))
    console = _capture(monkeypatch)
    assert demo_cmd._data(None, False, tmp_path / "synth") == tmp_path / "synth"
    assert made == [tmp_path / "synth"]
    text = " ".join(console.export_text().split())
    assert "SYNTHETIC" in text and f"movierec data fetch {DATASET}" in text and "--data" in text


def test_named_data_without_movielens_fails_before_training(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    runner = CliRunner()
    result = runner.invoke(app, ["demo", "--data", str(empty), "--artifacts", str(tmp_path / "a")])
    assert result.exit_code == 2 and "named by --data" in " ".join(result.output.split())
    result = runner.invoke(app, ["demo", "--artifacts", str(tmp_path / "a")], env={"MOVIEREC_DATA": str(empty)})
    assert result.exit_code == 2 and "named by $MOVIEREC_DATA" in " ".join(result.output.split())
    assert not (tmp_path / "a").exists()
