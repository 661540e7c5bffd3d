"""The Helm chart, run: its setup Job and every Deployment as containers from the images
`make images` built, with `podman kube play` on the host's network, against the real Kafka
and PostgreSQL of the test session, the scripted LLM in a container of its own.

`make deploy-e2e` runs these tests (`make test` leaves them out: see tests/conftest.py).
podman is not a cluster; what the test bridges, and why:

- A Job is not something podman plays: the setup hook's pod template runs as a Pod.
- podman 4.3 (Debian 12's) reads a `secretKeyRef` from a podman secret that holds the
  Secret's `data` as a flat JSON map, not from a played Secret: the test creates those.
- podman turns an `httpGet` probe into a `curl` in the container, which the images do not
  have: the probes are dropped, and the image's own HEALTHCHECK command is run in each
  container against the port the probe named (HEALTHCHECK_URL).
- On the host's network ports are not mapped: each component gets a port of its own.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from podium_cli.stack.processes import free_ports
from podium_common.admin import delete_topics
from podium_common.settings import KafkaSettings
from tests.conftest import BOOTSTRAP, fresh_database
from tests.unit.deploy.tools import REPO, Manifest, helm_template

ENGINE = REPO / "scripts" / "deploy" / "engine.sh"
VALUES = Path(__file__).with_name("values.yaml")
# The chart's appVersion, the tag `make images` gives every image.
TAG = next(
    line.split(":", 1)[1].strip().strip('"')
    for line in (REPO / "helm" / "podium" / "Chart.yaml").read_text().splitlines()
    if line.startswith("appVersion:")
)
SERVICES = sorted(path.name for path in (REPO / "services").iterdir() if path.is_dir())
PROBES = ("startupProbe", "livenessProbe", "readinessProbe")


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """podman with the project's configuration (scripts/deploy/engine.sh)."""
    return subprocess.run(
        [str(ENGINE), *args], input=stdin, capture_output=True, text=True, timeout=300
    )


def podman(*args: str, stdin: str | None = None, check: bool = True) -> str:
    """podman's output; with `check`, fails unless podman succeeded."""
    done = run(*args, stdin=stdin)
    if check and done.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def image(name: str) -> str:
    return f"localhost/podium-{name}:{TAG}"


@dataclass
class Deployment:
    """What runs: the gateway's address and each component's container and port."""

    gateway: str
    kafka: KafkaSettings
    containers: dict[str, str]  # component -> container name
    ports: dict[str, int]  # component -> port of /healthz and /readyz
    grace_s: dict[str, int]  # component -> terminationGracePeriodSeconds

    def logs(self, lines: int = 40) -> str:
        return "\n".join(
            f"==> {name}\n" + podman("logs", "--tail", str(lines), name, check=False)
            for name in self.containers.values()
        )


def _as_pod(job: Manifest) -> Manifest:
    """The Job's pod template as a Pod on the host's network."""
    spec = job["spec"]["template"]["spec"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": job["metadata"]["name"]},
        "spec": {**spec, "hostNetwork": True},
    }


def _for_podman(deployment: Manifest) -> Manifest:
    """The Deployment on the host's network, its probes turned into HEALTHCHECK_URL."""
    spec = deployment["spec"]["template"]["spec"]
    spec["hostNetwork"] = True
    for container in spec["containers"]:
        port = container["livenessProbe"]["httpGet"]["port"]
        for probe in PROBES:
            del container[probe]
        container.pop("ports", None)
        url = f"http://127.0.0.1:{port}/healthz"
        container["env"].append({"name": "HEALTHCHECK_URL", "value": url})
    return deployment


def _secret(manifest: Manifest) -> None:
    name = manifest["metadata"]["name"]
    podman("secret", "rm", name, check=False)
    podman("secret", "create", name, "-", stdin=json.dumps(manifest.get("data", {})))


def _secrets(manifests: list[Manifest], *, hooks: bool) -> list[Manifest]:
    """The setup hook's Secrets, or the chart's own."""
    return [
        m
        for m in manifests
        if m["kind"] == "Secret"
        and ("helm.sh/hook" in m["metadata"].get("annotations", {})) == hooks
    ]


def _play(manifests: list[Manifest], path: Path) -> None:
    path.write_text("\n---\n".join(json.dumps(m) for m in manifests))  # JSON is YAML
    podman("kube", "play", str(path))


def _down(path: Path) -> None:
    if path.exists():
        podman("kube", "play", "--down", str(path), check=False)


def _setup(manifests: list[Manifest], workdir: Path) -> None:
    """Runs the setup hook's Pod to its end; fails unless both its containers succeeded."""
    job = next(m for m in manifests if m["kind"] == "Job")
    secrets = _secrets(manifests, hooks=True)
    for secret in secrets:
        _secret(secret)
    pod = _as_pod(job)
    path = workdir / "setup.yaml"
    try:
        # The init container (topics create) runs first; test_the_setup_job_created_every_topic
        # checks what it made.
        _play([pod], path)
        container = f"{pod['metadata']['name']}-{pod['spec']['containers'][0]['name']}"
        code = podman("wait", container).strip()
        logs = podman("logs", container, check=False)
        assert code == "0", f"the setup Job's {container} exited {code}:\n{logs}"
    finally:
        _down(path)
        for secret in secrets:  # as the hook's delete policy does
            podman("secret", "rm", secret["metadata"]["name"], check=False)


async def _wait_ready(deployment: Deployment, within_s: float = 120) -> None:
    """Until every component's /readyz answers 200; fails early if a container exits."""
    deadline = time.monotonic() + within_s
    pending = dict(deployment.ports)
    async with httpx.AsyncClient(timeout=5) as client:
        while pending and time.monotonic() < deadline:
            for name, port in list(pending.items()):
                state = podman(
                    "inspect", "--format", "{{.State.Status}}", deployment.containers[name]
                )
                if state.strip() != "running":
                    pytest.fail(f"{name} is {state.strip()}:\n{deployment.logs()}")
                try:
                    if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                        del pending[name]
                except httpx.TransportError:
                    pass
            await asyncio.sleep(0.5)
    if pending:
        pytest.fail(f"not ready after {within_s}s: {sorted(pending)}\n{deployment.logs()}")


@pytest.fixture(scope="session")
def engine() -> None:
    """podman, which `make deploy-e2e` needs (docker has no `kube play`), and the images."""
    if shutil.which("podman") is None:
        pytest.fail("podman is missing (Debian: apt-get install podman runc catatonit)")
    missing = [
        name
        for name in ["cli", "scripted-llm", *SERVICES]
        if run("image", "exists", image(name)).returncode != 0
    ]
    if missing:
        pytest.fail(f"images missing: {missing}; `make deploy-e2e` builds them (make images)")


@dataclass(frozen=True)
class LLM:
    container: str
    port: int


@pytest.fixture(scope="module")
def llm(engine: None) -> Iterator[LLM]:
    """The scripted LLM, a container from its image, with a little latency so that goals
    stay in flight long enough to stop a worker among them."""
    (port,) = free_ports(1)
    name = f"podium-e2e-llm-{uuid.uuid4().hex[:8]}"
    podman(
        "run", "--detach", "--name", name, "--network", "host",
        "--env", f"HEALTHCHECK_URL=http://127.0.0.1:{port}/healthz",
        image("scripted-llm"), "--host", "127.0.0.1", "--port", str(port),
        "--latency-ms", "100", "--latency-max-ms", "400",
    )  # fmt: skip
    try:
        yield LLM(name, port)
    finally:
        podman("rm", "--force", name, check=False)


def _values(kafka: KafkaSettings, pg_dsn: str, llm: LLM, ports: dict[str, int]) -> Manifest:
    """This run's values on top of tests/containers/values.yaml; the names of its pods and
    secrets are its own (podman's storage may be shared by several runs)."""
    components: dict[str, Any] = {name: {"healthPort": port} for name, port in ports.items()}
    components["gateway"] = {"http": {"port": ports["gateway"]}}
    return {
        "fullnameOverride": f"podium-{kafka.topic_prefix.strip('.')}",
        "kafka": {"bootstrapServers": kafka.bootstrap_servers, "topicPrefix": kafka.topic_prefix},
        "postgres": {"dsn": pg_dsn},
        "llm": {"baseUrl": f"http://127.0.0.1:{llm.port}/v1"},
        "components": components,
    }


@pytest.fixture(scope="module")
async def deployment(
    llm: LLM, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Deployment]:
    """The chart rendered for this run, its setup run, its Deployments played."""
    workdir = tmp_path_factory.mktemp("chart")
    kafka = KafkaSettings(
        bootstrap_servers=BOOTSTRAP, topic_prefix=f"c{uuid.uuid4().hex[:12]}.", partitions=3
    )
    components = ["gateway", *SERVICES]
    ports = dict(zip(components, free_ports(len(components)), strict=True))
    async with fresh_database() as pg_dsn:
        values = workdir / "run-values.yaml"
        values.write_text(json.dumps(_values(kafka, pg_dsn, llm, ports)))
        manifests = helm_template(VALUES, values)
        path = workdir / "deployments.yaml"
        try:
            _setup(manifests, workdir)
            deployments = [_for_podman(m) for m in manifests if m["kind"] == "Deployment"]
            for secret in _secrets(manifests, hooks=False):
                _secret(secret)
            _play(deployments, path)
            running = Deployment(
                gateway=f"http://127.0.0.1:{ports['gateway']}",
                kafka=kafka,
                containers={
                    _component(m): f"{m['metadata']['name']}-pod-0-{_component(m)}"
                    for m in deployments
                },
                ports=ports,
                grace_s={
                    _component(m): m["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
                    for m in deployments
                },
            )
            await _wait_ready(running)
            yield running
        finally:
            _down(path)
            for secret in _secrets(manifests, hooks=False):
                podman("secret", "rm", secret["metadata"]["name"], check=False)
            await delete_topics(kafka)


def _component(manifest: Manifest) -> str:
    component: str = manifest["metadata"]["labels"]["app.kubernetes.io/component"]
    return component
