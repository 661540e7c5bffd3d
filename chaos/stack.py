"""The chaos run's own local stack (`podium up` on free ports, a private state folder, and
further replicas of the services that run several) and the faults it suffers: a service
instance SIGKILLed and restarted, the broker restarted, PostgreSQL stopped for a while."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from podium_cli.errors import StackError
from podium_cli.settings import CliSettings
from podium_cli.stack.kafka import Kafka
from podium_cli.stack.layout import Layout, find_checkout
from podium_cli.stack.postgres import Postgres
from podium_cli.stack.prepare import topics_when_ready
from podium_cli.stack.services import Process, Runner, processes_of

log = logging.getLogger("chaos")

CHECKOUT = find_checkout(Path(__file__).resolve().parent)
PORTS = (
    "KAFKA_PORT",
    "CONTROLLER_PORT",
    "PG_PORT",
    "GATEWAY_PORT",
    "LLM_PORT",
)
# Consumers serve /readyz on consecutive ports from the base: keep a block free.
HEALTH_BLOCK = 16
# Where the stack's ports are picked: below the range the kernel hands out to outgoing
# connections (read from /proc when it can be), so no client socket of this machine takes
# one between the pick and the service's start, or while a killed service restarts.
LOWEST_PORT = 10000
EPHEMERAL_FROM = Path("/proc/sys/net/ipv4/ip_local_port_range")


def first_ephemeral_port() -> int:
    try:
        return int(EPHEMERAL_FROM.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_block(size: int, rng: random.Random | None = None) -> int:
    """The first of `size` consecutive ports free now, all below the ephemeral range."""
    rng = rng or random.Random()  # noqa: S311 - picks ports, not secrets
    top = first_ephemeral_port() - size
    if top <= LOWEST_PORT:
        raise RuntimeError(
            f"no room for {size} ports between {LOWEST_PORT} and the ephemeral range, "
            f"which starts at {top + size} ({EPHEMERAL_FROM})"
        )
    for _ in range(200):
        base = rng.randrange(LOWEST_PORT, top)
        if all(bindable(base + i) for i in range(size)):
            return base
    raise RuntimeError(f"no {size} consecutive free ports found below {top + size}")


def private_env(state: Path, partitions: int, extra: dict[str, str]) -> dict[str, str]:
    """This environment without any PODIUM_ setting (but the jar cache), plus a private
    stack's: its state folder and one block of free ports."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PODIUM_") or key == "PODIUM_CACHE_DIR"
    }
    base = free_block(len(PORTS) + HEALTH_BLOCK)
    env.update({f"PODIUM_DEV__{name}": str(base + i) for i, name in enumerate(PORTS)})
    env["PODIUM_DEV__HEALTH_PORT_BASE"] = str(base + len(PORTS))
    env["PODIUM_DEV__STATE_DIR"] = str(state)
    env["PODIUM_KAFKA__PARTITIONS"] = str(partitions)
    env.update(extra)
    return env


@dataclass
class ChaosStack:
    """A private stack; the environment is this process's too, so restarts see the same.
    `replicas` runs that many instances of the consumer services it names (one group each)."""

    state: Path
    settings: CliSettings
    layout: Layout
    replicas: Mapping[str, int] = field(default_factory=dict)
    # What this process started (restarted services, the broker): stopped and reaped here,
    # since `podium down` cannot wait for another process's children.
    children: list[subprocess.Popen[bytes]] = field(default_factory=list)
    broker: subprocess.Popen[bytes] | None = None

    @classmethod
    def create(
        cls, partitions: int, extra_env: dict[str, str], replicas: Mapping[str, int]
    ) -> ChaosStack:
        # Under the system temp folder, which PostgreSQL's own user may enter when we are root.
        state = Path(tempfile.mkdtemp(prefix="podium-chaos-"))
        state.chmod(0o755)
        os.environ.clear()
        os.environ.update(private_env(state, partitions, extra_env))
        settings = CliSettings()
        return cls(state, settings, Layout.of(settings, cwd=CHECKOUT), replicas)

    @property
    def driver_log(self) -> Path:
        return self.state / "logs" / "chaos.log"

    def podium(self, *args: str) -> None:
        """Runs the `podium` CLI on this stack, its output in the driver's log."""
        self.driver_log.parent.mkdir(parents=True, exist_ok=True)
        with self.driver_log.open("ab") as out:
            done = subprocess.run(  # noqa: S603 - fixed argv
                [sys.executable, "-m", "podium_cli", *args],
                cwd=CHECKOUT,
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
            )
        if done.returncode != 0:
            raise RuntimeError(f"podium {' '.join(args)} failed; see {self.driver_log}")

    @property
    def processes(self) -> list[Process]:
        """Every service instance, replicas included, in start order."""
        return processes_of(self.settings, self.replicas)

    @property
    def instances(self) -> list[str]:
        return [process.instance for process in self.processes]

    async def up(self) -> None:
        """`podium up`, then the further replicas, started together and awaited ready."""
        await asyncio.to_thread(self.podium, "up")
        runner = Runner(self.layout, self.settings)
        further = [process for process in self.processes if process.replica > 1]
        spawned = [runner.start(process) for process in further]
        self.children += [child for child in spawned if child is not None]
        for process, child in zip(further, spawned, strict=True):
            took = await asyncio.to_thread(runner.wait_ready, process, child)
            log.info("%s started, ready in %.1fs", process.instance, took)

    def _process(self, instance: str) -> Process:
        return next(p for p in self.processes if p.instance == instance)

    def pid(self, instance: str) -> int | None:
        return Runner(self.layout, self.settings).pid(self._process(instance))

    def service_pid(self, instance: str) -> int | None:
        """The pid in the instance's events (`worker_id`): the service's, not its keeper's."""
        return Runner(self.layout, self.settings).service_pid(self._process(instance))

    async def kill(self, name: str) -> bool:
        """SIGKILLs the instance's process group; False if it was not running."""
        pid = self.pid(name)
        if pid is None:
            return False
        os.killpg(pid, signal.SIGKILL)
        await asyncio.to_thread(_wait_gone, pid)
        self._reap()
        return True

    async def restart(self, name: str, tries: int = 3) -> float:
        """Starts the service again and waits until it is ready; returns the seconds it took.
        A process that exits while starting is started again, as a supervisor would."""
        for _ in range(tries - 1):
            try:
                return await self._start(name)
            except StackError as error:
                log.warning("%s did not start, starting it again: %s", name, error)
        return await self._start(name)

    async def _start(self, name: str) -> float:
        runner, process = Runner(self.layout, self.settings), self._process(name)
        spawned = runner.start(process)
        if spawned is not None:
            self.children.append(spawned)
        return await asyncio.to_thread(runner.wait_ready, process, spawned)

    async def restart_broker(self, down_s: float) -> None:
        kafka = Kafka(self.layout, self.settings.dev, self.settings.kafka.partitions)
        await asyncio.to_thread(kafka.stop)
        await asyncio.sleep(down_s)
        self.broker = await asyncio.to_thread(kafka.start) or self.broker
        settings = self.settings
        await topics_when_ready(settings.kafka_for_stack(), settings.dev.ready_timeout_s)

    async def postgres_outage(self, seconds: float) -> None:
        postgres = Postgres(self.layout, self.settings.dev)
        await asyncio.to_thread(postgres.stop)
        await asyncio.sleep(seconds)
        await asyncio.to_thread(postgres.start)

    def _reap(self) -> None:
        self.children = [child for child in self.children if child.poll() is None]

    def down(self) -> None:
        """The further replicas stopped here (`podium down` knows one of each), then
        `podium down`, while threads reap what this process started (services it
        restarted, the broker): a child left unreaped would look alive to `down`."""
        runner = Runner(self.layout, self.settings)
        for process in reversed(self.processes):
            if process.replica > 1:
                runner.stop(process)
        children = [*self.children, *([self.broker] if self.broker else [])]
        for child in children:
            threading.Thread(target=child.wait, daemon=True).start()
        self.podium("down")


def _wait_gone(pid: int) -> None:
    try:
        psutil.Process(pid).wait(timeout=10)
    except psutil.NoSuchProcess:
        return
