"""docker-compose.yml and Dockerfile stay valid and consistent with the code (no Docker engine needed).

`docker compose config` validates the file without an engine; where no compose client exists the
YAML is parsed with pyyaml, and where neither exists that test is skipped. The plain-text checks
always run.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from schemas import topics

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"


def _compose_command() -> list[str] | None:
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


def _load_compose() -> dict:
    if (cmd := _compose_command()) is not None:
        done = subprocess.run([*cmd, "-f", str(COMPOSE), "config", "--format", "json"], capture_output=True,
                              text=True, check=False, cwd=ROOT, timeout=60)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)
    yaml = pytest.importorskip("yaml", reason="neither `docker compose`/`docker-compose` nor pyyaml is installed")
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_file_is_valid_and_wires_the_stack() -> None:
    config = _load_compose()
    services = config["services"]
    assert set(services) >= {"kafka", "topics", "worker"}
    assert services["kafka"]["image"] == "apache/kafka:3.9.1"
    kafka_env = services["kafka"]["environment"]
    assert kafka_env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "INTERNAL://kafka:9092" in kafka_env["KAFKA_ADVERTISED_LISTENERS"]
    worker = services["worker"]
    assert worker["environment"]["MOVIEREC_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert "topics" in worker["depends_on"]
    assert any("6066" in str(p) for p in worker["ports"])


def test_compose_text_names_the_image_topics_and_worker() -> None:
    text = COMPOSE.read_text()
    assert "image: apache/kafka:3.9.1" in text
    for topic in topics.ALL:
        assert topic in text, f"topics service does not create {topic}"
    assert "--partitions 4" in text
    assert "MOVIEREC_BOOTSTRAP_SERVERS: kafka:9092" in text
    assert "build: ." in text


def test_dockerfile_builds_the_worker() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in text
    assert "pip install" in text and "EXPOSE 6066" in text
    assert 'CMD ["movierec", "stream", "worker"]' in text


def test_dockerfile_copies_every_package() -> None:
    """The image holds every package pyproject.toml installs (online/ was once missing)."""
    import tomllib
    text = (ROOT / "Dockerfile").read_text()
    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    missing = [p.rstrip("*") for p in include if f"COPY {p.rstrip('*')}/ {p.rstrip('*')}/" not in text]
    assert not missing, f"Dockerfile does not COPY {missing}"


def test_the_containers_worker_settings_are_valid_and_listen_on_every_interface() -> None:
    """The worker's MOVIEREC_* settings in docker-compose.yml and the Dockerfile pass the worker's
    validation: they bind every interface and advertise the container's host name (0.0.0.0 as
    MOVIEREC_WEB_HOST is refused: every worker would take itself for every user's owner)."""
    import re

    from stream_app.settings import StreamSettings

    compose_env = {k: str(v) for k, v in _load_compose()["services"]["worker"]["environment"].items()}
    docker_env = dict(re.findall(r"(MOVIEREC_\w+)=(\S+)", (ROOT / "Dockerfile").read_text()))
    for env in (compose_env, docker_env):
        s = StreamSettings(**{k.removeprefix("MOVIEREC_").lower(): v for k, v in env.items()})
        assert s.web_bind == "0.0.0.0" and s.web_host not in ("0.0.0.0", "::", "")
