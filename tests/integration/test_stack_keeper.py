"""On the local stack (`podium up`), a service that dies is started again by its keeper and
the goals go on; `podium down` leaves no process behind. The real broker and PostgreSQL
(the tests' own, under a fresh topic prefix and database), the scripted LLM."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import psutil
import pytest

from podium_cli.gateway import Gateway, follow
from podium_cli.stack.processes import free_ports
from podium_cli.stack.services import CONSUMERS
from podium_common.settings import KafkaSettings
from tests.integration.test_stack import podium

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def free_block(count: int) -> int:
    """The first of `count` consecutive ports free now (the health ports of the consumers)."""
    for _ in range(200):
        first = random.randrange(20_000, 30_000)
        held = []
        try:
            for port in range(first, first + count):
                sock = socket.socket()
                held.append(sock)
                sock.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
        finally:
            for sock in held:
                sock.close()
    raise RuntimeError(f"no {count} consecutive free ports")


@pytest.fixture
async def stack_env(kafka: KafkaSettings, pg_dsn: str) -> AsyncIterator[dict[str, str]]:
    state = Path(tempfile.mkdtemp(prefix="podium-kept-"))
    gateway_port, llm_port = free_ports(2)
    env = {key: value for key, value in os.environ.items() if not key.startswith("PODIUM_")}
    env.update(
        PODIUM_DEV__STATE_DIR=str(state),
        PODIUM_DEV__GATEWAY_PORT=str(gateway_port),
        PODIUM_DEV__LLM_PORT=str(llm_port),
        PODIUM_DEV__HEALTH_PORT_BASE=str(free_block(len(CONSUMERS))),
        PODIUM_KAFKA__BOOTSTRAP_SERVERS=kafka.bootstrap_servers,
        PODIUM_KAFKA__TOPIC_PREFIX=kafka.topic_prefix,
        PODIUM_KAFKA__PARTITIONS=str(kafka.partitions),
        PODIUM_POSTGRES__DSN=pg_dsn,
        PODIUM_LLM__SCRIPTED="1",
    )
    try:
        yield env
    finally:
        await asyncio.to_thread(podium, env, "down")


def service_pid(state: Path, name: str) -> int:
    """The service's own process: the child of the keeper its pidfile names."""
    keeper = psutil.Process(int((state / "run" / f"{name}.pid").read_text()))
    (child,) = keeper.children()
    return int(child.pid)


async def test_a_killed_service_is_started_again_and_the_goal_goes_on(
    stack_env: dict[str, str],
) -> None:
    state = Path(stack_env["PODIUM_DEV__STATE_DIR"])
    up = await asyncio.to_thread(podium, stack_env, "up")
    assert up.returncode == 0, up.stdout + up.stderr
    client = httpx.Client(timeout=10.0)
    gateway = Gateway(f"http://127.0.0.1:{stack_env['PODIUM_DEV__GATEWAY_PORT']}", client)

    first = service_pid(state, "aggregator")
    os.kill(first, signal.SIGKILL)  # as the kernel's OOM killer would
    log = state / "logs" / "aggregator.log"
    deadline = time.monotonic() + 60
    while "exited with status -9; started again in 1 s" not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()[-2000:]
        await asyncio.sleep(0.2)

    with client:
        goal_id = gateway.submit(f"Name a river {uuid.uuid4().hex[:6]}")["goal_id"]
        final = await asyncio.to_thread(
            follow, gateway, goal_id, timeout_s=120, on_progress=lambda _: None
        )
    assert final["status"] == "completed", final
    assert service_pid(state, "aggregator") != first
    status = await asyncio.to_thread(podium, stack_env, "status")
    (aggregator,) = [line for line in status.stdout.splitlines() if "aggregator" in line]
    assert "ready, started again once (last exit status -9)" in aggregator, status.stdout
    (planner,) = [line for line in status.stdout.splitlines() if "planner" in line]
    assert "started again" not in planner, status.stdout

    every = [service_pid(state, name) for name in CONSUMERS]
    down = await asyncio.to_thread(podium, stack_env, "down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert not [pid for pid in every if psutil.pid_exists(pid)]
