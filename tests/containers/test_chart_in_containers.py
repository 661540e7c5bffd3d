"""Goals through the chart's Deployments run as containers (see conftest.py): the images
run as non-root, stay small and pass their health checks; goals submitted to the gateway's
container complete; a worker container stopped mid-run picks its tasks up again when it is
started, and its goals complete."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest

from podium_common.admin import partition_counts
from tests.containers.conftest import LLM, SERVICES, Deployment, image, podman, run

pytestmark = pytest.mark.containers

MAX_IMAGE_BYTES = 250 * 1000 * 1000
GOALS = [
    "Compare PostgreSQL and MySQL for an analytics workload",
    "Summarise the trade-offs of event sourcing [parallel=3]",
    "Explain how Kafka consumer groups rebalance [chain=3]",
]


@pytest.mark.parametrize("name", [*SERVICES, "cli", "scripted-llm"])
def test_each_image_runs_as_non_root_and_is_under_250_mb(engine: None, name: str) -> None:
    config = json.loads(podman("image", "inspect", image(name)))[0]
    assert config["Config"]["User"] == "10001:10001"
    assert config["Size"] < MAX_IMAGE_BYTES, f"{image(name)}: {config['Size'] / 1e6:.0f} MB"
    assert config["Healthcheck"]["Test"][0] == "CMD"  # podman's inspect has it at the top


async def test_the_setup_job_created_every_topic(deployment: Deployment) -> None:
    names = deployment.kafka.topics.created()
    counts = await partition_counts(deployment.kafka, names)
    assert counts == dict.fromkeys(names, 3)


def test_every_container_passes_its_image_s_health_check(deployment: Deployment, llm: LLM) -> None:
    # The engine's own health check, where it keeps the image's: in a container `podman run`
    # started (podman kube play keeps only the pod's probes).
    podman("healthcheck", "run", llm.container)
    containers = {"scripted-llm": llm.container, **deployment.containers}
    for name, container in containers.items():
        user = podman("exec", container, "id", "-u").strip()
        assert user == "10001", f"{name} runs as {user}"
        # What the engine runs for the image's HEALTHCHECK, in the container the chart made.
        check = json.loads(podman("image", "inspect", image(name)))[0]["Healthcheck"]
        done = run("exec", container, *check["Test"][1:])
        assert done.returncode == 0, f"{name}: {done.stdout}{done.stderr}"


async def test_goals_submitted_to_the_gateway_container_complete(
    deployment: Deployment,
) -> None:
    async with httpx.AsyncClient(base_url=deployment.gateway, timeout=10) as client:
        ids = await asyncio.gather(*(submit(client, f"{GOALS[i % 3]} #{i}") for i in range(9)))
        bodies = await ended(client, ids, deployment, within_s=120)
    assert [body["status"] for body in bodies] == ["completed"] * len(ids)


async def test_a_worker_stopped_mid_run_completes_its_goals_once_started(
    deployment: Deployment,
) -> None:
    worker = deployment.containers["worker-researcher"]
    async with httpx.AsyncClient(base_url=deployment.gateway, timeout=10) as client:
        first = [await submit(client, f"{GOALS[i % 3]} (before the stop) #{i}") for i in range(6)]
        # Mid-run: stopped once the first goal is done, while the others are in flight.
        await ended(client, first[:1], deployment, within_s=60)
        podman("stop", "--time", str(deployment.grace_s["worker-researcher"]), worker)
        state = json.loads(podman("inspect", worker))[0]["State"]
        assert (state["Status"], state["ExitCode"]) == ("exited", 0)  # drained and committed
        # Every plan has research tasks: these wait in tasks.researcher for the worker.
        second = [await submit(client, f"{GOALS[i % 3]} (while stopped) #{i}") for i in range(4)]
        await planned(client, second, within_s=60)
        waiting = [(await client.get(f"/goals/{gid}")).json()["status"] for gid in second]
        assert "completed" not in waiting, waiting
        podman("start", worker)
        bodies = await ended(client, first + second, deployment, within_s=120)
    assert [body["status"] for body in bodies] == ["completed"] * len(bodies)


async def submit(client: httpx.AsyncClient, goal: str) -> str:
    response = await client.post("/goals", json={"goal": goal})
    assert response.status_code == 202, response.text
    goal_id: str = response.json()["goal_id"]
    return goal_id


async def planned(client: httpx.AsyncClient, ids: list[str], within_s: float) -> None:
    """Until every goal runs: planned, its tasks on their topics."""
    deadline = time.monotonic() + within_s
    for goal_id in ids:
        while (status := (await client.get(f"/goals/{goal_id}")).json()["status"]) != "running":
            assert status in ("queued", "planning"), f"goal {goal_id} is {status}"
            assert time.monotonic() < deadline, f"goal {goal_id} still {status}"
            await asyncio.sleep(0.25)


async def ended(
    client: httpx.AsyncClient, ids: list[str], deployment: Deployment, within_s: float
) -> list[dict[str, Any]]:
    """Every goal's body once it completed or failed, in the order of `ids`."""
    deadline = time.monotonic() + within_s
    bodies: dict[str, dict[str, Any]] = {}
    while len(bodies) < len(ids):
        for goal_id in ids:
            if goal_id not in bodies:
                body = (await client.get(f"/goals/{goal_id}")).json()
                if body.get("status") in ("completed", "failed"):
                    bodies[goal_id] = body
        if time.monotonic() > deadline:
            pending = [gid for gid in ids if gid not in bodies]
            pytest.fail(f"{len(pending)} goals not ended after {within_s}s\n{deployment.logs()}")
        await asyncio.sleep(0.25)
    return [bodies[goal_id] for goal_id in ids]
