"""The local broker manager: config files, pid/port safety, start/stop/status on real brokers."""
from __future__ import annotations

import os
import socket
from pathlib import Path

import psutil
import pytest

from stream_app import local_kafka
from tests.conftest import SessionBroker, free_port_pair


def test_server_properties_are_small_and_single_node(tmp_path: Path) -> None:
    cfg = local_kafka.BrokerConfig(port=19092, state_dir=tmp_path)
    props = dict(line.split("=", 1) for line in cfg.server_properties().splitlines())
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["num.partitions"] == "4"  # the app's partitions: auto-created topics match
    assert props["auto.create.topics.enable"] == "true"
    assert props["offsets.topic.num.partitions"] == "4"
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert Path(props["log.dirs"]) == (tmp_path / "data").resolve()
    assert str((tmp_path / "logs" / "server.log").resolve()) in cfg.log4j_properties()


def test_sasl_listeners_are_added_beside_the_plaintext_ones(tmp_path: Path) -> None:
    sasl = local_kafka.SaslListeners((("alice", "pw-1"), ("bob", "pw-2")), 19500, 19501, tmp_path / "keystore.pem")
    cfg = local_kafka.BrokerConfig(port=19092, state_dir=tmp_path, sasl=sasl)
    props = dict(line.split("=", 1) for line in cfg.server_properties().splitlines())
    assert props["listeners"] == ("PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093,"
                                  "SASL_PLAINTEXT://127.0.0.1:19500,SASL_SSL://127.0.0.1:19501")
    assert props["inter.broker.listener.name"] == "PLAINTEXT"
    assert props["listener.security.protocol.map"].endswith(",SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL")
    jaas = props["listener.name.sasl_plaintext.plain.sasl.jaas.config"]
    assert 'user_alice="pw-1"' in jaas and 'user_bob="pw-2"' in jaas and jaas.endswith(";")
    assert props["ssl.keystore.location"] == str((tmp_path / "keystore.pem").resolve())
    (tmp_path / "server.properties").write_text(cfg.server_properties())
    assert local_kafka.status(tmp_path).port == 19092  # the PLAINTEXT listener, not the last one
    with pytest.raises(ValueError, match="letters, digits"):
        local_kafka.SaslListeners((("alice", 'pw"; user_x="y'),), 19500)


def test_status_of_an_empty_state_dir(tmp_path: Path) -> None:
    st = local_kafka.status(tmp_path)
    assert (st.pid, st.port, st.running, st.bootstrap) == (None, None, False, None)
    assert local_kafka.stop(tmp_path) is False


def test_a_pid_file_naming_another_process_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "broker.pid").write_text(f"{os.getpid()}\n")  # alive, but not a kafka.Kafka
    assert local_kafka.status(tmp_path).pid is None
    assert local_kafka.stop(tmp_path) is False  # and it is certainly not killed
    assert not (tmp_path / "broker.pid").exists()


def test_a_port_taken_by_another_process_is_a_clear_error(tmp_path: Path) -> None:
    port = free_port_pair()
    with socket.socket() as squatter:
        squatter.bind((local_kafka.HOST, port))
        squatter.listen()
        with pytest.raises(local_kafka.LocalKafkaError, match=f"port {port} .* in use"):
            local_kafka.start(port=port, state_dir=tmp_path)
    assert not (tmp_path / "broker.pid").exists()


@pytest.mark.integration
def test_start_finds_the_session_broker_already_running(kafka_broker: SessionBroker) -> None:
    if kafka_broker.state_dir is None or kafka_broker.port is None:
        pytest.skip("external broker (KAFKA_BOOTSTRAP_SERVERS): not ours to manage")
    before = local_kafka.status(kafka_broker.state_dir)
    assert before.running and before.bootstrap == kafka_broker.bootstrap
    again = local_kafka.start(port=kafka_broker.port, state_dir=kafka_broker.state_dir)
    assert again.already_running and again.status.pid == before.pid
    with pytest.raises(local_kafka.LocalKafkaError, match="already runs on port"):
        local_kafka.start(port=kafka_broker.port + 10, state_dir=kafka_broker.state_dir)
    assert local_kafka.status(kafka_broker.state_dir).running


@pytest.mark.integration
def test_start_status_stop_restart_on_a_separate_broker(kafka_broker: SessionBroker, tmp_path: Path) -> None:
    if kafka_broker.state_dir is None:
        pytest.skip("external broker (KAFKA_BOOTSTRAP_SERVERS): local brokers may not be runnable here")
    port, state = free_port_pair(), tmp_path / "kafka"
    try:
        first = local_kafka.start(port=port, state_dir=state, heap_mb=256, timeout_s=60)
        assert not first.already_running and first.status.running and first.elapsed_s < 60
        assert local_kafka.start(port=port, state_dir=state).already_running
        assert local_kafka.stop(state) is True
        assert not local_kafka.status(state).running
        assert not (state / "broker.pid").exists()
        assert local_kafka.stop(state) is False
        # the state dir is kept: a restart reuses the formatted storage
        cluster = (state / "data" / "meta.properties").read_text()
        second = local_kafka.start(port=port, state_dir=state, heap_mb=256, jvm_options=["-Dmovierec.probe=on"])
        assert not second.already_running and second.status.pid != first.status.pid
        assert (state / "data" / "meta.properties").read_text() == cluster
        assert "-Dmovierec.probe=on" in psutil.Process(second.status.pid).cmdline()  # extra JVM options
    finally:
        local_kafka.stop(state)
    assert local_kafka.status(kafka_broker.state_dir).running  # the session broker is untouched
