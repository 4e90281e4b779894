"""Worker settings: bind address vs advertised address, the API token."""
from __future__ import annotations

import socket

import pytest
from pydantic import ValidationError

from stream_app.settings import StreamSettings


@pytest.fixture(autouse=True)
def no_web_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WEB_HOST", "WEB_BIND", "API_TOKEN"):
        monkeypatch.delenv(f"MOVIEREC_{name}", raising=False)


def test_by_default_the_worker_listens_and_advertises_on_loopback() -> None:
    s = StreamSettings()
    assert (s.web_bind or s.web_host, s.web_host) == ("127.0.0.1", "127.0.0.1")


def test_bound_to_every_interface_it_advertises_its_host_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOVIEREC_WEB_BIND", "0.0.0.0")
    assert StreamSettings().web_host == socket.gethostname()
    monkeypatch.setenv("MOVIEREC_WEB_HOST", "worker-3.internal")
    assert (StreamSettings().web_bind, StreamSettings().web_host) == ("0.0.0.0", "worker-3.internal")


@pytest.mark.parametrize("wildcard", ["0.0.0.0", "::", "[::]"])
def test_a_wildcard_is_never_advertised(wildcard: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOVIEREC_WEB_HOST", wildcard)  # the old way to listen everywhere
    with pytest.raises(ValidationError, match="MOVIEREC_WEB_BIND"):
        StreamSettings()


def test_the_api_token_is_secret_and_empty_means_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOVIEREC_API_TOKEN", "tok-123456")
    s = StreamSettings()
    assert s.api_token is not None and s.api_token.get_secret_value() == "tok-123456"
    assert "tok-123456" not in repr(s) and "tok-123456" not in s.model_dump_json()
    monkeypatch.setenv("MOVIEREC_API_TOKEN", "")
    assert StreamSettings().api_token is None
