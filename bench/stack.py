"""Podium's services and the scripted LLM as processes, on one run's topics and database."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.infra import Run
from bench.procstat import cpu_seconds, rss_mb
from podium_cli.stack.processes import free_port

BIN = Path(sys.executable).parent
ALL_SERVICES = (
    "planner",
    "worker-researcher",
    "worker-specialist",
    "worker-validator",
    "worker-synthesizer",
    "aggregator",
    "recorder",
    "gateway",
)


@dataclass
class Stack:
    """Processes by name (`worker-researcher#2` for a second replica), with their ports."""

    run: Run
    llm_latency_ms: float = 0.0
    env_overrides: dict[str, str] = field(default_factory=dict)
    logs: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="podium-bench-")))
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    ready_urls: dict[str, str] = field(default_factory=dict)
    llm_port: int = field(default_factory=free_port)
    gateway_port: int = field(default_factory=free_port)

    @property
    def llm_url(self) -> str:
        return f"http://127.0.0.1:{self.llm_port}"

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PODIUM_KAFKA__BOOTSTRAP_SERVERS": self.run.kafka.bootstrap_servers,
            "PODIUM_KAFKA__TOPIC_PREFIX": self.run.kafka.topic_prefix,
            "PODIUM_KAFKA__PARTITIONS": str(self.run.kafka.partitions),
            "PODIUM_POSTGRES__DSN": self.run.dsn,
            "PODIUM_LLM__BASE_URL": f"{self.llm_url}/v1",
            "PODIUM_LLM__API_KEY": "scripted",
            "PODIUM_LOG_LEVEL": "WARNING",
            "PODIUM_HOST": "127.0.0.1",
            "PODIUM_PORT": str(self.gateway_port),
            **self.env_overrides,
        }

    def start_llm(self) -> None:
        args = ["--host", "127.0.0.1", "--port", str(self.llm_port)]
        args += ["--latency-ms", str(self.llm_latency_ms), "--log-level", "warning"]
        self._spawn("scripted-llm", [str(BIN / "podium-scripted-llm"), *args], self.env())
        self.ready_urls["scripted-llm"] = f"{self.llm_url}/healthz"

    def start(self, service: str, *, replica: int = 1, **env: str) -> str:
        """Starts one service process; `env` adds PODIUM_* settings for it alone."""
        name = service if replica == 1 else f"{service}#{replica}"
        environ = self.env() | env
        if service == "gateway":
            self.ready_urls[name] = f"{self.gateway_url}/readyz"
        else:
            port = free_port()
            environ["PODIUM_HEALTH_PORT"] = str(port)
            environ["PODIUM_DATA_DIR"] = str(self.logs / name)
            self.ready_urls[name] = f"http://127.0.0.1:{port}/readyz"
        self._spawn(name, [str(BIN / f"podium-{service}")], environ)
        return name

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> None:
        with (self.logs / f"{name}.log").open("wb") as log:
            self.processes[name] = subprocess.Popen(
                args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    async def wait_ready(self, within_s: float = 90) -> None:
        deadline = time.monotonic() + within_s
        pending = dict(self.ready_urls)
        async with httpx.AsyncClient(timeout=2) as client:
            while pending:
                self.check_alive()
                if time.monotonic() > deadline:
                    raise TimeoutError(f"not ready after {within_s}s: {sorted(pending)}")
                for name, url in list(pending.items()):
                    try:
                        if (await client.get(url)).status_code == 200:
                            del pending[name]
                    except httpx.TransportError:
                        pass
                await asyncio.sleep(0.2)

    def check_alive(self) -> None:
        if dead := self.exited():
            raise self.died(dead)

    def exited(self) -> list[str]:
        return [name for name, proc in self.processes.items() if proc.poll() is not None]

    def died(self, names: list[str]) -> RuntimeError:
        return RuntimeError(f"{names} exited; logs in {self.logs}:\n{self.log_tail(names)}")

    @asynccontextmanager
    async def watched(self, every_s: float = 0.5) -> AsyncIterator[None]:
        """Fails the body, with the logs, as soon as a process exits: a scenario waiting on
        goals would otherwise wait for a service that is gone until its own time limit."""
        body = asyncio.current_task()
        assert body is not None
        dead: list[str] = []

        async def watch() -> None:
            while not dead:  # a child's exit is polled: asyncio has no event for it here
                await asyncio.sleep(every_s)
                dead.extend(self.exited())
            body.cancel()

        watcher = asyncio.create_task(watch())
        try:
            yield
        except asyncio.CancelledError:
            if not dead:
                raise
        finally:
            watcher.cancel()
        if dead:  # the body was cancelled for it (or swallowed the cancel)
            body.uncancel()
            raise self.died(dead)

    def log_tail(self, names: list[str], lines: int = 20) -> str:
        parts = []
        for name in names:
            text = (self.logs / f"{name}.log").read_text(errors="replace").splitlines()
            parts.append(f"==> {name}\n" + "\n".join(text[-lines:]))
        return "\n".join(parts)

    def pids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self.processes.items()}

    def cpu(self) -> dict[str, float]:
        return {name: cpu_seconds(proc.pid) for name, proc in self.processes.items()}

    def rss(self) -> dict[str, float]:
        return {name: rss_mb(proc.pid) for name, proc in self.processes.items()}

    async def configure_llm(self, latency_ms: float) -> None:
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{self.llm_url}/_scripted/config", json={"latency_ms": latency_ms}
            )
            response.raise_for_status()

    def stop(self) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in self.processes.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@asynccontextmanager
async def every_service(
    run: Run, max_in_flight: int | None = None, *, aggregators: int = 1
) -> AsyncIterator[Stack]:
    """The scripted LLM and every service, ready; stopped afterwards. `max_in_flight` sets
    every service's in-flight limit (None keeps their default)."""
    limit = {} if max_in_flight is None else {"PODIUM_MAX_IN_FLIGHT": str(max_in_flight)}
    stack = Stack(run, env_overrides=limit)
    stack.start_llm()
    for service in ALL_SERVICES:
        stack.start(service)
    for replica in range(2, aggregators + 1):
        stack.start("aggregator", replica=replica)
    try:
        await stack.wait_ready()
        async with stack.watched():
            yield stack
    finally:
        stack.stop()
