"""docker-compose.yml as `docker compose config` resolves it: every service built from the
shared Dockerfile, configured with variables it really reads, health-checked, started after
a healthy broker and database and the setup job, and scalable where it consumes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

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
