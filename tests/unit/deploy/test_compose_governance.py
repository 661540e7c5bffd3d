"""docker-compose.yml's governance settings reach the services: keys required by default, a
per-key request limit and a price table from the environment, and a broker's and a
database's CA certificates as Compose secrets where the TLS variables point. The variables
are read back by the services' own settings classes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from podium_common.prices import Price
from podium_gateway.settings import GatewaySettings
from podium_planner.settings import PlannerSettings
from tests.unit.deploy.tools import Manifest

Compose = Callable[..., Manifest]
PRICES = '{"gpt-4o": {"input_per_million": 2.5, "output_per_million": 10}}'
TLS = {
    "PODIUM_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
    "PODIUM_KAFKA__SASL_MECHANISM": "SCRAM-SHA-512",
    "PODIUM_KAFKA__SASL_USERNAME": "podium",
    "PODIUM_KAFKA__SASL_PASSWORD": "s3cret",
    "PODIUM_KAFKA_CA_FILE": "/certs/kafka-ca.pem",
    "PODIUM_KAFKA__SSL_CAFILE": "/run/secrets/kafka-ca",
    "PGSSLMODE": "verify-full",
    "PODIUM_POSTGRES_CA_FILE": "/certs/postgres-ca.pem",
    "PGSSLROOTCERT": "/run/secrets/postgres-ca",
}
PODIUM_SERVICES = ["setup", "gateway", "planner", "aggregator", "recorder", "worker-validator"]


def set_env(monkeypatch: pytest.MonkeyPatch, environment: dict[str, Any]) -> None:
    for name, value in environment.items():
        if value is not None:
            monkeypatch.setenv(name, value)


def test_keys_are_required_with_no_limit_and_no_tls_unless_asked(
    compose: Compose, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = compose()["services"]
    set_env(monkeypatch, services["gateway"]["environment"])
    settings = GatewaySettings()
    assert settings.keys_required
    assert settings.key_requests_per_minute is None
    assert settings.kafka.security_protocol == "PLAINTEXT"
    assert settings.kafka.sasl_mechanism is None
    assert settings.kafka.ssl_cafile is None
    for name in PODIUM_SERVICES:
        environment = services[name]["environment"]
        assert environment.get("PGSSLMODE") is None, name
        assert environment.get("PGSSLROOTCERT") is None, name


def test_the_gateway_and_model_callers_read_the_limit_and_prices_of_the_environment(
    compose: Compose, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = compose(PODIUM_KEY_REQUESTS_PER_MINUTE="120", PODIUM_PRICES=PRICES)["services"]
    expected = {"gpt-4o": Price(input_per_million=2.5, output_per_million=10)}
    set_env(monkeypatch, services["gateway"]["environment"])
    settings = GatewaySettings()
    assert settings.key_requests_per_minute == 120
    assert settings.prices == expected
    set_env(monkeypatch, services["planner"]["environment"])
    assert PlannerSettings().prices == expected


def test_tls_material_is_mounted_where_every_service_looks_for_it(
    compose: Compose, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = compose(**TLS)
    files = {name: secret["file"] for name, secret in config["secrets"].items()}
    assert files == {"kafka-ca": "/certs/kafka-ca.pem", "postgres-ca": "/certs/postgres-ca.pem"}
    for name in PODIUM_SERVICES:
        service = config["services"][name]
        targets = {item["source"]: item["target"] for item in service["secrets"]}
        environment = service["environment"]
        assert environment["PODIUM_KAFKA__SSL_CAFILE"] == targets["kafka-ca"], name
        assert environment["PODIUM_KAFKA__SECURITY_PROTOCOL"] == "SASL_SSL", name
        assert environment["PODIUM_KAFKA__SASL_PASSWORD"] == TLS["PODIUM_KAFKA__SASL_PASSWORD"]
        if name != "aggregator":  # the only one without PostgreSQL
            assert environment["PGSSLMODE"] == "verify-full", name
            assert environment["PGSSLROOTCERT"] == targets["postgres-ca"], name
    set_env(monkeypatch, config["services"]["worker-validator"]["environment"])
    kafka = GatewaySettings().kafka
    assert (kafka.sasl_mechanism, kafka.sasl_username) == ("SCRAM-SHA-512", "podium")
    assert kafka.ssl_cafile == "/run/secrets/kafka-ca"
