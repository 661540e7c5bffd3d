"""The Helm chart as `helm template` renders it: one Deployment per service, configured with
variables the services really read, probed on their health endpoints, drained gracefully,
each worker type scaled on its own consumer group's lag, and a setup hook before the rest."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Callable
from typing import Any

import pytest

from podium_common.topics import TaskType, Topics
from tests.unit.deploy.settings_names import folders, names_a_field, settings_class
from tests.unit.deploy.tools import Manifest, by_name, of_kind

KEDA_VALUES = "ci/keda-values.yaml"
WORKERS = {f"worker-{task_type.value}": task_type for task_type in TaskType}

Render = Callable[..., list[Manifest]]


@pytest.fixture(scope="module")
def default(render: Render) -> list[Manifest]:
    return render()


@pytest.fixture(scope="module")
def keda(render: Render) -> list[Manifest]:
    return render(KEDA_VALUES)


def container(manifest: Manifest, index: int = 0) -> dict[str, Any]:
    containers: list[dict[str, Any]] = manifest["spec"]["template"]["spec"]["containers"]
    return containers[index]


def env(spec: dict[str, Any]) -> dict[str, Any]:
    """A container's variables: the value, or the `valueFrom` reference."""
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in spec["env"]}


def test_one_deployment_per_service(default: list[Manifest]) -> None:
    assert sorted(of_kind(default, "Deployment")) == folders()


@pytest.mark.parametrize("values", [(), (KEDA_VALUES,)], ids=["default", "keda"])
def test_every_podium_variable_is_a_setting_of_its_service(
    render: Render, values: tuple[str, ...]
) -> None:
    manifests = render(*values)
    for name, deployment in of_kind(manifests, "Deployment").items():
        settings = settings_class(name)
        variables = [key for key in env(container(deployment)) if key.startswith("PODIUM")]
        unknown = [key for key in variables if not names_a_field(settings, key)]
        assert unknown == [], f"{name} reads no {unknown}"
    job = of_kind(manifests, "Job")["setup"]
    for spec in [*job["spec"]["template"]["spec"]["initContainers"], container(job)]:
        variables = [key for key in env(spec) if key.startswith("PODIUM")]
        unknown = [key for key in variables if not names_a_field(settings_class("cli"), key)]
        assert unknown == [], f"the podium CLI reads no {unknown}"


def test_probes_ask_the_port_the_service_serves_health_on(default: list[Manifest]) -> None:
    for name, deployment in of_kind(default, "Deployment").items():
        spec = container(deployment)
        [port] = [entry["containerPort"] for entry in spec["ports"]]
        variable = "PODIUM_PORT" if name == "gateway" else "PODIUM_HEALTH_PORT"
        assert env(spec)[variable] == str(port), name
        assert spec["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port}
        assert spec["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port}
        assert spec["startupProbe"]["httpGet"] == {"path": "/healthz", "port": port}


def test_llm_callers_get_longer_to_drain_than_one_llm_call(default: list[Manifest]) -> None:
    callers = 0
    for name, deployment in of_kind(default, "Deployment").items():
        variables = env(container(deployment))
        grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        if name == "gateway":  # consumes nothing: no drain
            assert "PODIUM_KAFKA__DRAIN_TIMEOUT_S" not in variables
            continue
        drain = float(variables["PODIUM_KAFKA__DRAIN_TIMEOUT_S"])
        assert grace == drain + 15, name  # the pod outlives the drain, from the same value
        timeout = variables.get("PODIUM_LLM__TIMEOUT_S")
        if timeout is not None:
            callers += 1
            assert drain > float(timeout), name
    assert callers == 1 + len(WORKERS)  # the planner and every worker type


def test_the_grace_period_follows_the_drain_timeout(render: Render) -> None:
    manifests = render(**{"components.worker-validator.drainTimeoutSeconds": "300"})
    validator = of_kind(manifests, "Deployment")["worker-validator"]
    assert env(container(validator))["PODIUM_KAFKA__DRAIN_TIMEOUT_S"] == "300"
    assert validator["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 315


def test_a_drain_no_longer_than_an_llm_call_is_refused_saying_which_values(
    render: Render,
) -> None:
    with pytest.raises(subprocess.CalledProcessError) as refused:
        render(**{"components.planner.drainTimeoutSeconds": "120"})
    assert (
        "components.planner.drainTimeoutSeconds (120) must be longer than "
        "llm.timeoutSeconds (120)" in refused.value.stderr
    )


def test_every_program_gets_the_partitions_and_replication_the_topics_have(
    default: list[Manifest],
) -> None:
    expected = {"PODIUM_KAFKA__PARTITIONS": "12", "PODIUM_KAFKA__REPLICATION_FACTOR": "3"}
    job = of_kind(default, "Job")["setup"]
    specs = {name: container(d) for name, d in of_kind(default, "Deployment").items()}
    specs |= {
        "setup": container(job),
        "setup-topics": job["spec"]["template"]["spec"]["initContainers"][0],
    }
    for name, spec in specs.items():
        variables = env(spec)
        assert {key: variables.get(key) for key in expected} == expected, name


def test_worker_types_scale_with_keda_on_their_own_consumer_groups_lag(
    keda: list[Manifest],
) -> None:
    topics = Topics("staging.")  # the prefix in ci/keda-values.yaml
    scaled = of_kind(keda, "ScaledObject")
    assert sorted(scaled) == sorted(WORKERS)
    deployments = of_kind(keda, "Deployment")
    for name, task_type in WORKERS.items():
        spec = scaled[name]["spec"]
        assert spec["scaleTargetRef"]["name"] == deployments[name]["metadata"]["name"]
        [trigger] = spec["triggers"]
        assert trigger["type"] == "kafka"
        assert trigger["metadata"]["consumerGroup"] == topics.group(name)
        assert trigger["metadata"]["topic"] == topics.tasks(task_type)
        assert "replicas" not in deployments[name]["spec"]  # KEDA owns the replica count
    assert scaled["worker-researcher"]["spec"]["minReplicaCount"] == 0
    assert scaled["worker-researcher"]["spec"]["maxReplicaCount"] == 24
    assert of_kind(keda, "HorizontalPodAutoscaler") == {}


def test_keda_reads_the_same_kafka_credentials_as_the_services(keda: list[Manifest]) -> None:
    [auth] = of_kind(keda, "TriggerAuthentication").values()
    refs = {ref["parameter"]: (ref["name"], ref["key"]) for ref in auth["spec"]["secretTargetRef"]}
    assert refs["password"] == ("podium-kafka", "password")
    assert refs["ca"] == ("kafka-cluster-ca-cert", "ca.crt")
    username = by_name(keda, "Secret")[refs["username"][0]]
    assert base64.b64decode(username["data"]["username"]) == b"podium"
    trigger = of_kind(keda, "ScaledObject")["worker-specialist"]["spec"]["triggers"][0]
    assert trigger["metadata"]["sasl"] == "scram_sha512"
    assert trigger["metadata"]["tls"] == "enable"
    assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]


def test_without_keda_worker_types_scale_on_cpu(default: list[Manifest]) -> None:
    hpas = of_kind(default, "HorizontalPodAutoscaler")
    assert sorted(hpas) == sorted(WORKERS)
    deployments = of_kind(default, "Deployment")
    for name, hpa in hpas.items():
        assert hpa["spec"]["scaleTargetRef"]["name"] == deployments[name]["metadata"]["name"]
    assert deployments["planner"]["spec"]["replicas"] == 1  # not autoscaled: fixed
    assert of_kind(default, "ScaledObject") == {}


def test_setup_hook_creates_topics_then_migrates_before_install_and_upgrade(
    default: list[Manifest],
) -> None:
    job = of_kind(default, "Job")["setup"]
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    [topics] = job["spec"]["template"]["spec"]["initContainers"]
    assert topics["args"] == ["topics", "create"]
    assert container(job)["args"] == ["migrate"]
    # The DSN comes from the hook's own Secret, created before the Job.
    dsn = env(container(job))["PODIUM_POSTGRES__DSN"]["secretKeyRef"]
    secret = by_name(default, "Secret")[dsn["name"]]
    secret_weight = int(secret["metadata"]["annotations"]["helm.sh/hook-weight"])
    assert secret_weight < int(annotations["helm.sh/hook-weight"])
    assert base64.b64decode(secret["data"][dsn["key"]]).startswith(b"postgresql://")


def test_inline_secrets_are_stored_and_existing_ones_only_referenced(
    render: Render, keda: list[Manifest]
) -> None:
    inline = render(**{"llm.apiKey": "sk-inline"})
    secret = by_name(inline, "Secret")["podium-secrets"]
    assert base64.b64decode(secret["data"]["llm-api-key"]) == b"sk-inline"
    worker = env(container(of_kind(keda, "Deployment")["worker-validator"]))
    assert worker["PODIUM_LLM__API_KEY"] == {
        "secretKeyRef": {"name": "podium-llm", "key": "api-key"}
    }
    assert worker["PODIUM_KAFKA__SASL_PASSWORD"]["secretKeyRef"]["name"] == "podium-kafka"
    stored = {key for s in by_name(keda, "Secret").values() for key in s["data"]}
    assert stored == {"username"}  # only KEDA's copy of the (non-secret) SASL user name


def test_each_component_has_a_disruption_budget_over_its_own_pods(
    default: list[Manifest],
) -> None:
    budgets = of_kind(default, "PodDisruptionBudget")
    for name, deployment in of_kind(default, "Deployment").items():
        assert budgets[name]["spec"]["selector"] == deployment["spec"]["selector"]
