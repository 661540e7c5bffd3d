"""The broker's configuration, version pin and cluster id."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from pydantic import SecretStr

from podium_cli.errors import StackError
from podium_cli.settings import DevSettings
from podium_cli.stack.kafka import SaslSsl, cluster_id, kafka_version, server_properties
from podium_cli.stack.layout import find_checkout

CHECKOUT = find_checkout(Path(__file__).resolve().parent)


def parse(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines())


def test_version_comes_from_the_pom(tmp_path: Path):
    assert kafka_version(CHECKOUT / "infra" / "kafka" / "pom.xml").startswith("4.")
    pom = tmp_path / "pom.xml"
    pom.write_text("<project><properties></properties></project>")
    with pytest.raises(StackError, match=r"kafka\.version"):
        kafka_version(pom)


def test_a_single_kraft_node_on_loopback(tmp_path: Path):
    config = parse(server_properties(DevSettings(kafka_port=39092, controller_port=39093),
                                     tmp_path / "data", 6))  # fmt: skip
    assert config["process.roles"] == "broker,controller"
    assert config["controller.quorum.voters"] == "1@127.0.0.1:39093"
    assert config["listeners"] == "PLAINTEXT://127.0.0.1:39092,CONTROLLER://127.0.0.1:39093"
    assert config["advertised.listeners"] == "PLAINTEXT://127.0.0.1:39092"
    assert config["log.dirs"] == str(tmp_path / "data")
    assert config["auto.create.topics.enable"] == "false"
    assert config["group.initial.rebalance.delay.ms"] == "0"
    assert config["offsets.topic.replication.factor"] == "1"
    assert config["transaction.state.log.replication.factor"] == "1"
    assert config["num.partitions"] == "6"


def test_a_sasl_ssl_client_listener_with_scram_and_the_controller_on_its_own(tmp_path: Path):
    sasl_ssl = SaslSsl(keystore=tmp_path / "server.pem", truststore=tmp_path / "ca.pem",
                       username="podium", password=SecretStr("s3cret"))  # fmt: skip
    config = parse(server_properties(DevSettings(kafka_port=39092, controller_port=39093),
                                     tmp_path / "data", 6, sasl_ssl))  # fmt: skip
    assert config["listeners"] == "SASL_SSL://127.0.0.1:39092,CONTROLLER://127.0.0.1:39093"
    assert config["advertised.listeners"] == "SASL_SSL://127.0.0.1:39092"
    assert config["listener.security.protocol.map"] == "SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT"
    assert config["inter.broker.listener.name"] == "SASL_SSL"
    assert config["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert config["sasl.mechanism.inter.broker.protocol"] == "SCRAM-SHA-512"
    jaas = config["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"]
    assert 'username="podium" password="s3cret";' in jaas
    assert config["ssl.keystore.location"] == str(tmp_path / "server.pem")
    assert config["ssl.truststore.location"] == str(tmp_path / "ca.pem")
    assert sasl_ssl.format_options() == [
        "--add-scram",
        "SCRAM-SHA-512=[name=podium,password=s3cret]",
    ]
    client = sasl_ssl.client("127.0.0.1:39092")
    assert (client.security_protocol, client.sasl_mechanism) == ("SASL_SSL", "SCRAM-SHA-512")
    assert client.ssl_cafile == str(tmp_path / "ca.pem")


def test_cluster_id_is_sixteen_bytes_base64url_never_an_option():
    ids = {cluster_id() for _ in range(2000)}
    assert len(ids) == 2000
    for found in ids:
        assert len(found) == 22
        assert len(base64.urlsafe_b64decode(found + "==")) == 16
        assert not found.startswith("-")
