"""docker-compose.yml as `docker compose config` resolves it: every service built from the
shared Dockerfile, configured with variables it really reads, health-checked, started after
a healthy broker and database and the setup job, and scalable where it consumes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from podium_common.settings import LLMSettings
from tests.unit.deploy.settings_names import folders, names_a_field, settings_class
from tests.unit.deploy.tools import Manifest

# Compose services that run a Podium program, and the folder it is built from.
PROGRAMS = {**{name: name for name in folders()}, "setup": "cli", "scripted-llm": "scripted-llm"}


@pytest.fixture(scope="module")
def services(compose: Callable[..., Manifest]) -> dict[str, Any]:
    config: dict[str, Any] = compose()["services"]
    return config


def test_every_program_is_built_from_the_shared_dockerfile(services: dict[str, Any]) -> None:
    for service, folder in PROGRAMS.items():
        build = services[service]["build"]
        assert build["dockerfile"] == "Dockerfile", service
        assert build["args"]["SERVICE"] == folder, service
        assert services[service]["image"].startswith(f"podium-{folder}:"), service


def test_every_podium_variable_is_a_setting_of_its_program(services: dict[str, Any]) -> None:
    for service, folder in PROGRAMS.items():
        settings = settings_class(folder)
        variables = [key for key in services[service]["environment"] if key.startswith("PODIUM")]
        unknown = [key for key in variables if not names_a_field(settings, key)]
        assert unknown == [], f"{service} reads no {unknown}"


def test_services_are_health_checked_and_wait_for_healthy_infrastructure(
    services: dict[str, Any],
) -> None:
    for name in folders():
        service = services[name]
        assert "HEALTHCHECK_URL" in service["healthcheck"]["test"][-1], name
        conditions = {dep: spec["condition"] for dep, spec in service["depends_on"].items()}
        assert conditions == {
            "kafka": "service_healthy",
            "postgres": "service_healthy",
            "setup": "service_completed_successfully",
        }, name


def test_consumers_can_be_scaled(services: dict[str, Any]) -> None:
    for name in folders():
        if name != "gateway":
            assert "container_name" not in services[name], name
            assert "ports" not in services[name], name  # no host port to collide on


def test_setup_creates_topics_then_migrates(services: dict[str, Any]) -> None:
    setup = services["setup"]
    assert setup["entrypoint"] == ["sh", "-c"]
    assert setup["command"] == ["podium topics create && podium migrate"]


def test_the_llm_endpoint_is_the_scripted_double_unless_one_is_given(
    compose: Callable[..., Manifest], services: dict[str, Any]
) -> None:
    assert services["planner"]["environment"]["PODIUM_LLM__BASE_URL"] == (
        "http://scripted-llm:8099/v1"
    )
    given = compose(PODIUM_LLM__BASE_URL="https://llm.example/v1", PODIUM_LLM__API_KEY="sk-x")
    callers = [name for name in folders() if name == "planner" or name.startswith("worker-")]
    for name in callers:
        environment = given["services"][name]["environment"]
        assert environment["PODIUM_LLM__BASE_URL"] == "https://llm.example/v1", name
        assert environment["PODIUM_LLM__API_KEY"] == "sk-x", name


def seconds(duration: str) -> float:
    """A Compose duration as `docker compose config` writes it (`2m45s`, `30s`)."""
    minutes, _, rest = duration.rpartition("m")
    return float(minutes or 0) * 60 + float(rest.removesuffix("s") or 0)


def test_consumers_get_longer_to_stop_than_their_drain_and_the_drain_than_a_call(
    services: dict[str, Any],
) -> None:
    for name in folders():
        if name == "gateway":
            continue
        drain = float(services[name]["environment"]["PODIUM_KAFKA__DRAIN_TIMEOUT_S"])
        assert drain > LLMSettings().timeout_s, name
        assert seconds(services[name]["stop_grace_period"]) == drain + 15, name


def test_every_program_gets_the_partitions_setup_creates(compose: Callable[..., Manifest]) -> None:
    given = compose(PODIUM_KAFKA__PARTITIONS="12", PODIUM_KAFKA__REPLICATION_FACTOR="3")
    for name in [*folders(), "setup"]:
        environment = given["services"][name]["environment"]
        assert environment["PODIUM_KAFKA__PARTITIONS"] == "12", name
        assert environment["PODIUM_KAFKA__REPLICATION_FACTOR"] == "3", name
