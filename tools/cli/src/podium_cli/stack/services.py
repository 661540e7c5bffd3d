"""Podium's services and the scripted LLM as detached processes of the local stack.

Each runs its console script with a pidfile in `.dev/run/` and its log in
`.dev/logs/<name>.log`; a service runs under a `keeper`, which starts it again if it fails.
Consumer services serve `/readyz` on their own health port; the gateway serves it on its
HTTP port. A consumer service may run as several replicas (one consumer group): the second
is `<name>.2`, with its own pidfile, log and health port.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from podium_cli import models
from podium_cli.errors import StackError
from podium_cli.settings import CliSettings
from podium_cli.stack import processes
from podium_cli.stack.apicurio import registry_url
from podium_cli.stack.layout import Layout
from podium_cli.stack.zipkin import trace_link, tracing_env

SCRIPTED_LLM = "scripted-llm"
GATEWAY = "gateway"
# Started in this order (consumers before the gateway that feeds them), stopped in reverse.
CONSUMERS = (
    "recorder",
    "aggregator",
    "planner",
    "worker-researcher",
    "worker-specialist",
    "worker-validator",
    "worker-synthesizer",
)
SERVICES = (*CONSUMERS, GATEWAY)


@dataclass(frozen=True)
class Process:
    """One process of the stack: its console script, the port it listens on (and the setting
    that moves it), and how to tell that it is ready."""

    name: str
    port: int
    port_setting: str
    args: tuple[str, ...] = ()
    env: Mapping[str, str] | None = None
    ready_url: str | None = None
    replica: int = 1
    # A process that is not one of Podium's console scripts: its command line, and what in
    # that command line tells it from another program's.
    command: tuple[str, ...] = ()
    marker: str = ""
    # Started again when it fails, as a container's restart policy would (`keeper`).
    kept: bool = False

    @property
    def script(self) -> str:
        return self.marker or f"podium-{self.name}"

    @property
    def instance(self) -> str:
        """What names its pidfile and log: the service, and `.2`, `.3`... for further replicas."""
        return self.name if self.replica == 1 else f"{self.name}.{self.replica}"


def health_port(settings: CliSettings, name: str, replica: int = 1) -> int:
    """Replica 1 of every consumer first, then replica 2 of every consumer, and so on."""
    return settings.dev.health_port_base + (replica - 1) * len(CONSUMERS) + CONSUMERS.index(name)


def service_env(settings: CliSettings) -> dict[str, str]:
    """The environment every service gets: where Kafka, PostgreSQL and the LLM are; token
    budgets and LLM rates kept in the stack's database (unless `PODIUM_LEDGER__DSN` names
    another)."""
    env = dict(os.environ)
    env.update(
        PODIUM_KAFKA__BOOTSTRAP_SERVERS=settings.bootstrap_servers,
        PODIUM_POSTGRES__DSN=settings.postgres_dsn,
        PODIUM_LLM__BASE_URL=settings.llm_base_url,
        PYTHONUNBUFFERED="1",
    )
    env.setdefault("PODIUM_LEDGER__DSN", settings.postgres_dsn)
    if settings.dev.tracing:
        env.update(tracing_env(settings.dev.zipkin_port))
        env["PODIUM_TRACE_URL"] = trace_link(settings.dev.zipkin_port)
    if settings.dev.registry:
        env["PODIUM_SCHEMA_REGISTRY__URL"] = registry_url(settings.dev.registry_port)
    if settings.llm_kind == "scripted":
        env["PODIUM_LLM__API_KEY"] = "scripted"
    elif settings.llm_kind == "local":
        env.update(
            models.service_env(models.find(settings.local_model), settings.llm_base_url, env)
        )
    return env


def processes_of(settings: CliSettings, replicas: Mapping[str, int] | None = None) -> list[Process]:
    """Every service process, in start order, with its own port settings; `replicas` runs
    that many copies of the consumer services it names (one otherwise)."""
    unknown = set(replicas or {}) - set(CONSUMERS)
    if unknown:
        raise StackError(f"only consumer services run as replicas, not {sorted(unknown)}")
    base = service_env(settings)
    listed = []
    for name in CONSUMERS:
        for replica in range(1, (replicas or {}).get(name, 1) + 1):
            port = health_port(settings, name, replica)
            listed.append(
                Process(
                    name,
                    port,
                    "PODIUM_DEV__HEALTH_PORT_BASE",
                    env={**base, "PODIUM_HEALTH_PORT": str(port)},
                    ready_url=f"http://127.0.0.1:{port}/readyz",
                    replica=replica,
                    kept=True,
                )
            )
    port = settings.dev.gateway_port
    gateway_env = {**base, "PODIUM_PORT": str(port)}
    ready = f"{settings.gateway_url}/readyz"
    listed.append(
        Process(
            GATEWAY, port, "PODIUM_DEV__GATEWAY_PORT", env=gateway_env, ready_url=ready, kept=True
        )
    )
    return listed


def scripted_llm(settings: CliSettings) -> Process:
    port = settings.dev.llm_port
    return Process(SCRIPTED_LLM, port, "PODIUM_DEV__LLM_PORT", args=("--port", str(port)))


def script_path(script: str) -> str:
    """The console script in this interpreter's environment, else on PATH."""
    beside = Path(sys.executable).parent / script
    if beside.is_file():
        return str(beside)
    found = shutil.which(script)
    if found is None:
        raise StackError(f"the console script {script} is not installed; run `uv sync`")
    return found


class Runner:
    """Starts, finds and stops the stack's processes."""

    def __init__(self, layout: Layout, settings: CliSettings) -> None:
        self.layout, self.settings = layout, settings

    def pid(self, process: Process) -> int | None:
        return processes.running_pid(self.layout.pidfile(process.instance), process.script)

    def start(self, process: Process) -> subprocess.Popen[bytes] | None:
        """Starts `process` unless it runs; returns the new process, or None if it ran."""
        if self.pid(process) is not None:
            return None
        processes.refuse_foreign_port(process.port, process.instance, process.port_setting)
        argv = list(process.command) or [script_path(process.script), *process.args]
        if process.kept:
            counted = str(self.layout.restarts(process.instance))
            argv = [
                sys.executable,
                "-m",
                "podium_cli.stack.keeper",
                "--restarts",
                counted,
                "--",
                *argv,
            ]
        return processes.spawn(
            argv,
            log=self.layout.log(process.instance),
            pidfile=self.layout.pidfile(process.instance),
            env=process.env,
            cwd=self.layout.checkout,
        )

    def service_pid(self, process: Process) -> int | None:
        """The service's own process (whose pid its events carry): its keeper's child when
        it runs under one; None while the keeper waits to start it again."""
        pid = self.pid(process)
        if pid is None or not process.kept:
            return pid
        try:
            children = psutil.Process(pid).children()
        except psutil.NoSuchProcess:
            return None
        return children[0].pid if children else None

    def restarts(self, process: Process) -> str:
        """How often its keeper started it again, and its last exit status; "" if never."""
        try:
            count, *status = self.layout.restarts(process.instance).read_text().split()
        except (FileNotFoundError, ValueError):  # none yet, or a file being written
            return ""
        if count == "0" or not status:
            return ""
        times = "once" if count == "1" else f"{count} times"
        return f"started again {times} (last exit status {status[0]})"

    def ready(self, process: Process) -> bool:
        if process.ready_url is not None:
            return http_ok(process.ready_url)
        return processes.port_open(process.port)

    def wait_ready(self, process: Process, spawned: subprocess.Popen[bytes] | None) -> float:
        return processes.wait_until(
            lambda: self.ready(process),
            what=process.instance,
            timeout_s=self.settings.dev.ready_timeout_s,
            log=self.layout.log(process.instance),
            process=spawned,
        )

    def stop(self, process: Process) -> bool:
        pid = self.pid(process)
        if pid is None:
            return False
        if processes.terminate(pid, self.settings.dev.stop_timeout_s):
            timeout = self.settings.dev.stop_timeout_s
            print(f"  {process.instance} did not stop within {timeout:.0f}s")
        self.layout.pidfile(process.instance).unlink(missing_ok=True)
        self.layout.restarts(process.instance).unlink(missing_ok=True)
        return True


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False
