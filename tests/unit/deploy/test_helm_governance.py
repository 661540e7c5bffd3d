"""The chart's governance values reach the services: whether the gateway requires keys and
each key's request limit, the price table, and the TLS material from Secrets (Kafka's CA
where PODIUM_KAFKA__SSL_CAFILE points, PostgreSQL's where PGSSLROOTCERT points, with
`verify-full`). The variables are read back by the services' own settings classes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any

import pytest

from podium_common.prices import Price
from podium_gateway.settings import GatewaySettings
from podium_planner.settings import PlannerSettings
from tests.unit.deploy.tools import Manifest, of_kind

Render = Callable[..., list[Manifest]]
CI_VALUES = "ci/keda-values.yaml"  # keys limited, prices, Kafka's and PostgreSQL's CAs
PRICES = {
    "gpt-4o": Price(input_per_million=2.5, output_per_million=10),
    "gpt-4o-mini": Price(input_per_million=0.15, output_per_million=0.6),
}


def pod(manifest: Manifest) -> dict[str, Any]:
    spec: dict[str, Any] = manifest["spec"]["template"]["spec"]
    return spec


def values(spec: dict[str, Any]) -> dict[str, str]:
    """A container's plain variables (those from Secrets left out)."""
    return {item["name"]: item["value"] for item in spec["env"] if "value" in item}


def names(spec: dict[str, Any]) -> set[str]:
    return {item["name"] for item in spec["env"]}


def mounted_secret(manifest: Manifest, spec: dict[str, Any], path: str) -> tuple[str, str]:
    """The Secret and key whose file is at `path` in the container."""
    file = PurePosixPath(path)
    (mount,) = [m for m in spec["volumeMounts"] if PurePosixPath(m["mountPath"]) == file.parent]
    (volume,) = [v for v in pod(manifest)["volumes"] if v["name"] == mount["name"]]
    (item,) = [i for i in volume["secret"]["items"] if i["path"] == file.name]
    return volume["secret"]["secretName"], item["key"]


@pytest.fixture(scope="module")
def ci(render: Render) -> list[Manifest]:
    return render(CI_VALUES)


def test_the_gateway_requires_keys_by_default_with_no_limit_and_no_prices(
    render: Render, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = of_kind(render(), "Deployment")["gateway"]
    found = values(pod(gateway)["containers"][0])
    assert "PODIUM_KEY_REQUESTS_PER_MINUTE" not in found
    assert "PODIUM_PRICES" not in found
    for name, value in found.items():
        monkeypatch.setenv(name, value)
    settings = GatewaySettings()
    assert settings.keys_required
    assert settings.key_requests_per_minute is None
    assert settings.prices == {}


def test_the_gateway_reads_the_key_limit_and_prices_of_the_values(
    ci: list[Manifest], monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = of_kind(ci, "Deployment")["gateway"]
    for name, value in values(pod(gateway)["containers"][0]).items():
        monkeypatch.setenv(name, value)
    settings = GatewaySettings()
    assert settings.keys_required
    assert settings.key_requests_per_minute == 600
    assert settings.prices == PRICES


def test_keys_can_be_turned_off(render: Render) -> None:
    gateway = of_kind(render(**{"components.gateway.http.requireKeys": "false"}), "Deployment")
    assert values(pod(gateway["gateway"])["containers"][0])["PODIUM_REQUIRE_KEYS"] == "false"


def test_every_component_with_a_model_counts_cost_by_the_same_prices(
    ci: list[Manifest], monkeypatch: pytest.MonkeyPatch
) -> None:
    deployments = of_kind(ci, "Deployment")
    planner = values(pod(deployments["planner"])["containers"][0])
    monkeypatch.setenv("PODIUM_PRICES", planner["PODIUM_PRICES"])
    assert PlannerSettings().prices == PRICES
    for name, deployment in deployments.items():
        found = values(pod(deployment)["containers"][0])
        has_model = "PODIUM_MODEL" in found
        if has_model or name == "gateway":
            assert found["PODIUM_PRICES"] == planner["PODIUM_PRICES"], name
        else:
            assert "PODIUM_PRICES" not in found, name


def test_kafka_and_postgres_cas_are_mounted_from_their_secrets_where_the_variables_point(
    ci: list[Manifest],
) -> None:
    job = of_kind(ci, "Job")["setup"]
    pods = [(d, c) for d in of_kind(ci, "Deployment").values() for c in pod(d)["containers"]]
    pods += [(job, c) for c in [*pod(job)["initContainers"], *pod(job)["containers"]]]
    with_postgres = 0
    for manifest, spec in pods:
        found = values(spec)
        name = spec["name"]
        assert found["PODIUM_KAFKA__SECURITY_PROTOCOL"] == "SASL_SSL", name
        ca = mounted_secret(manifest, spec, found["PODIUM_KAFKA__SSL_CAFILE"])
        assert ca == ("kafka-cluster-ca-cert", "ca.crt"), name
        if names(spec) & {"PODIUM_POSTGRES__DSN", "PODIUM_LEDGER__DSN"}:
            with_postgres += 1
            assert found["PGSSLMODE"] == "verify-full", name
            ca = mounted_secret(manifest, spec, found["PGSSLROOTCERT"])
            assert ca == ("postgres-ca-cert", "ca.pem"), name
        else:
            assert "PGSSLROOTCERT" not in found, name
            assert "postgres-ca" not in {v["name"] for v in pod(manifest)["volumes"]}, name
    # gateway, recorder, planner, four worker types (the ledger), and both setup containers
    assert with_postgres == 9


def test_no_postgres_tls_is_set_unless_asked(render: Render) -> None:
    for deployment in of_kind(render(), "Deployment").values():
        spec = pod(deployment)["containers"][0]
        assert not names(spec) & {"PGSSLMODE", "PGSSLROOTCERT"}
        assert "postgres-ca" not in {v["name"] for v in pod(deployment)["volumes"]}
