"""Traces: every component gets the standard OTEL_* variables from `tracing`, and none
when no exporter is set (the SDK stays off)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest

from tests.unit.deploy.tools import Manifest, of_kind

Render = Callable[..., list[Manifest]]


def env(deployment: Manifest) -> dict[str, str]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {item["name"]: item.get("value") for item in container["env"]}


def test_no_exporter_sets_no_otel_variable(render: Render) -> None:
    deployments = of_kind(render(), "Deployment")
    assert len(deployments) >= 8
    for deployment in deployments.values():
        found = env(deployment)
        assert [name for name in found if name.startswith("OTEL_")] == []
        assert "PODIUM_TRACE_URL" not in found


def test_every_component_exports_its_spans_as_the_values_say(render: Render) -> None:
    deployments = of_kind(
        render(
            **{
                "tracing.exporter": "otlp",
                "tracing.endpoint": "http://collector:4318",
                "tracing.sampler": "parentbased_traceidratio",
                "tracing.samplerArg": "0.25",
                "tracing.resourceAttributes.deployment\\.environment": "prod",
                "tracing.resourceAttributes.team": "ops",
                "tracing.env.OTEL_BSP_SCHEDULE_DELAY": "500",
                "tracing.traceUrl": "https://traces.example/trace/{trace_id}",
            }
        ),
        "Deployment",
    )
    assert len(deployments) >= 8
    for component, deployment in deployments.items():
        found = env(deployment)
        assert found["OTEL_TRACES_EXPORTER"] == "otlp", component
        assert found["OTEL_SERVICE_NAME"] == f"podium-{component}"
        assert found["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://collector:4318"
        assert found["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio"
        assert found["OTEL_TRACES_SAMPLER_ARG"] == "0.25"
        assert found["OTEL_RESOURCE_ATTRIBUTES"] == "deployment.environment=prod,team=ops"
        assert found["OTEL_BSP_SCHEDULE_DELAY"] == "500"
        trace_url = found.get("PODIUM_TRACE_URL")
        expected = "https://traces.example/trace/{trace_id}" if component == "gateway" else None
        assert trace_url == expected, component


def test_zipkin_gets_its_own_endpoint_variable(render: Render) -> None:
    deployments = of_kind(
        render(
            **{"tracing.exporter": "zipkin", "tracing.endpoint": "http://zipkin:9411/api/v2/spans"}
        ),
        "Deployment",
    )
    for deployment in deployments.values():
        found = env(deployment)
        assert found["OTEL_EXPORTER_ZIPKIN_ENDPOINT"] == "http://zipkin:9411/api/v2/spans"
        assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in found


@pytest.mark.parametrize(
    "values",
    [
        {"tracing.exporter": "jaeger"},
        {"tracing.env.PODIUM_MODEL": "x"},
        {"tracing.traceUrl": "https://traces.example/no-placeholder"},
    ],
)
def test_the_schema_refuses_what_the_services_cannot_use(
    render: Render, values: dict[str, str]
) -> None:
    with pytest.raises(subprocess.CalledProcessError) as refused:
        render(**values)
    assert "values don't meet the specifications of the schema" in refused.value.stderr
