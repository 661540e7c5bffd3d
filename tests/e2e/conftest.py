"""Every Podium service as its own process, on fresh topics and a fresh database.

The broker and PostgreSQL are the real ones the test session runs against (or, for
`running_stack(..., kafka=...)`, another broker); the LLM is the scripted
OpenAI-compatible server (or, for `running_stack(..., llm=...)`, another server), also a
process of its own.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import SecretStr

from podium_cli.stack.processes import free_port
from podium_common.admin import delete_topics, ensure_topics
from podium_common.kafka import client_options
from podium_common.settings import KafkaSettings
from podium_recorder.migrations import apply as apply_migrations
from tests.conftest import BOOTSTRAP, fresh_database

SERVICES = (
    "podium-planner",
    "podium-worker-researcher",
    "podium-worker-specialist",
    "podium-worker-validator",
    "podium-worker-synthesizer",
    "podium-aggregator",
    "podium-recorder",
    "podium-gateway",
)


@dataclass
class Stack:
    gateway: str
    llm: str
    logs: Path
    kafka: KafkaSettings
    pg_dsn: str
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)  # every service's environment

    def log_tail(self, lines: int = 30) -> str:
        parts = []
        for path in sorted(self.logs.glob("*.log")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"==> {path.name}\n" + "\n".join(text))
        return "\n".join(parts)

    def dead(self) -> list[str]:
        return [name for name, proc in self.processes.items() if proc.poll() is not None]

    def restart(self, name: str, **extra_env: str) -> subprocess.Popen[bytes]:
        """Stops one service (if it still runs) and starts it again, with `extra_env` on top
        of the stack's environment; its log goes on in the same file."""
        _stop({name: self.processes[name]})
        self.processes[name] = _spawn(name, [_bin(name)], {**self.env, **extra_env}, self.logs)
        return self.processes[name]


def kafka_env(kafka: KafkaSettings) -> dict[str, str]:
    """The environment that gives a service the Kafka settings `kafka` was made with."""
    env = {}
    for name in kafka.model_fields_set:
        value = getattr(kafka, name)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if value is not None:
            env[f"PODIUM_KAFKA__{name.upper()}"] = str(value)
    return env


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _spawn(name: str, args: list[str], env: dict[str, str], logs: Path) -> subprocess.Popen[bytes]:
    with (logs / f"{name}.log").open("ab") as log:  # the child keeps its own descriptor
        return subprocess.Popen(
            args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def _stop(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    for proc in processes.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for proc in processes.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _wait_ready(url: str, stack: Stack, within_s: float = 60) -> None:
    deadline = time.monotonic() + within_s
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if stack.dead():
                raise RuntimeError(f"{stack.dead()} exited at start:\n{stack.log_tail()}")
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError(f"{url} not ready after {within_s}s:\n{stack.log_tail()}")


async def wait_for_members(
    kafka: KafkaSettings, service: str, members: int, within_s: float = 60
) -> None:
    """Returns once `service`'s consumer group is stable with `members` members: replicas
    started after the stack have joined, so no rebalance moves a record in flight later."""
    group = kafka.topics.group(service)
    admin = AIOKafkaAdminClient(**client_options(kafka))
    await admin.start()
    try:
        deadline = time.monotonic() + within_s
        while True:
            (response,) = await admin.describe_consumer_groups([group])
            (_error, _name, state, _kind, _protocol, joined, *_) = response.groups[0]
            if state == "Stable" and len(joined) == members:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{group}: {len(joined)} members ({state}), {members} wanted")
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


@dataclass(frozen=True)
class LLMServer:
    """The LLM process a stack runs: its command on a port, what the services are told
    about it beyond its address, and the path that answers once it is ready."""

    name: str
    command: Callable[[int], list[str]]
    env: dict[str, str]
    ready_path: str
    ready_within_s: float = 60


SCRIPTED = LLMServer(
    name="scripted-llm",
    command=lambda port: [_bin("podium-scripted-llm"), "--host", "127.0.0.1", "--port", str(port)],
    env={"PODIUM_LLM__API_KEY": "scripted"},
    ready_path="/healthz",
)


@asynccontextmanager
async def running_stack(
    tmp_path_factory: pytest.TempPathFactory,
    pg_dsn: str,
    llm: LLMServer = SCRIPTED,
    extra_env: dict[str, str] | None = None,
    kafka: KafkaSettings | None = None,
) -> AsyncIterator[Stack]:
    """Every service on fresh topics (deleted afterwards) and database `pg_dsn`, with `llm`
    (the scripted one by default) and `extra_env` on top of their environment, for the
    length of the block.
    `kafka` names the broker and how to reach it (the test session's by default)."""
    prefix = f"e{uuid.uuid4().hex[:12]}."
    kafka = (kafka or KafkaSettings(bootstrap_servers=BOOTSTRAP)).model_copy(
        update={"topic_prefix": prefix, "partitions": 3}
    )
    await ensure_topics(kafka)
    await apply_migrations(pg_dsn)
    logs = tmp_path_factory.mktemp("logs")
    llm_port, gateway_port = free_port(), free_port()
    env = {
        **os.environ,
        **kafka_env(kafka),
        "PODIUM_POSTGRES__DSN": pg_dsn,
        "PODIUM_LLM__BASE_URL": f"http://127.0.0.1:{llm_port}/v1",
        "PODIUM_LLM__BACKOFF_BASE_S": "0.05",
        **llm.env,
        "PODIUM_HOST": "127.0.0.1",
        "PODIUM_PORT": str(gateway_port),
        **(extra_env or {}),
    }
    stack = Stack(
        gateway=f"http://127.0.0.1:{gateway_port}",
        llm=f"http://127.0.0.1:{llm_port}",
        logs=logs,
        kafka=kafka,
        pg_dsn=pg_dsn,
        env=env,
    )
    stack.processes[llm.name] = _spawn(llm.name, llm.command(llm_port), env, logs)
    for service in SERVICES:
        stack.processes[service] = _spawn(service, [_bin(service)], env, logs)
    try:
        await _wait_ready(f"{stack.llm}{llm.ready_path}", stack, llm.ready_within_s)
        await _wait_ready(f"{stack.gateway}/readyz", stack)
        yield stack
    finally:
        _stop(stack.processes)
        await delete_topics(kafka)


async def llm_latency(stack: Stack, low_ms: float, high_ms: float) -> None:
    """The scripted LLM answers each call after a latency drawn from [low_ms, high_ms]."""
    async with httpx.AsyncClient(base_url=stack.llm, timeout=10) as client:
        changed = await client.post(
            "/_scripted/config", json={"latency_ms": low_ms, "latency_max_ms": high_ms}
        )
        assert changed.status_code == 200, changed.text


@pytest.fixture(scope="module")
async def stack(
    tmp_path_factory: pytest.TempPathFactory, module_pg_dsn: str
) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path_factory, module_pg_dsn) as running:
        yield running


@pytest.fixture(scope="module")
async def module_pg_dsn() -> AsyncIterator[str]:
    async with fresh_database() as dsn:
        yield dsn


@pytest.fixture
async def gateway(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.gateway, timeout=10) as client:
        yield client
