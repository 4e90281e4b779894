"""`movierec demo` end to end, as `make demo` runs it (without --serve): real MovieLens, its
own broker and worker, lists that follow four loved films, nothing of the user's touched."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from movierec_cli.main import app
from tests.conftest import free_port_pair

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_demo_trains_streams_and_the_lists_follow_the_swipes(ml_small: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the demo's state goes under ./.movierec/demo of the cwd
    result = CliRunner().invoke(app, ["demo", "--data", str(ml_small), "--port", str(free_port_pair()),
                                      "--web-port", str(free_port_pair())], catch_exceptions=False)
    out = result.output
    assert result.exit_code == 0, out[-3000:]
    assert "LOVES" in out and "Shrek" in out  # MovieLens titles, not synthetic ones
    replaced = {m.group(1): int(m.group(2)) for m in re.finditer(r"(known|new) user \d+: (\d+) of the top 10 replaced", out)}
    assert set(replaced) == {"known", "new"} and min(replaced.values()) >= 4, out[-3000:]
    assert not (tmp_path / "artifacts").exists()  # ./artifacts untouched: the model lives under .movierec/demo
    assert (tmp_path / ".movierec" / "demo" / "artifacts").is_dir()
    assert "worker stopped; kafka stopped" in out
