"""Every pod the chart deploys is scraped on its /metrics port, unless turned off."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.unit.deploy.tools import Manifest, of_kind

Render = Callable[..., list[Manifest]]


def pod_annotations(deployment: Manifest) -> dict[str, Any]:
    found: dict[str, Any] = deployment["spec"]["template"]["metadata"]["annotations"]
    return found


def ports(deployment: Manifest) -> set[int]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    return {port["containerPort"] for c in containers for port in c.get("ports", [])}


def test_every_deployment_is_annotated_for_scraping_on_its_metrics_port(render: Render) -> None:
    deployments = of_kind(render(), "Deployment")
    assert len(deployments) >= 8
    for deployment in deployments.values():
        found = pod_annotations(deployment)
        assert found["prometheus.io/scrape"] == "true", deployment["metadata"]["name"]
        assert found["prometheus.io/path"] == "/metrics"
        assert int(found["prometheus.io/port"]) in ports(deployment)


def test_scrape_annotations_can_be_turned_off(render: Render) -> None:
    off = of_kind(render(**{"metrics.scrapeAnnotations": "false"}), "Deployment")
    assert off
    for deployment in off.values():
        assert "prometheus.io/scrape" not in pod_annotations(deployment)
