"""`podium up --infra` starts a real Kafka broker and PostgreSQL, a second call leaves them be,
`podium down` stops them; a port held by a stranger or a stale pidfile gets a clear word.

The stack under test runs on free ports with its own state folder, so it never touches a
developer's stack or the servers the other tests use.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from podium_cli.stack.layout import find_checkout
from podium_cli.stack.processes import free_ports
from podium_common.admin import ensure_topics
from podium_common.settings import KafkaSettings

pytestmark = pytest.mark.integration

CHECKOUT = find_checkout(Path(__file__).resolve().parent)


@pytest.fixture
def stack_env() -> Iterator[dict[str, str]]:
    """Settings for a private stack; whatever it started is stopped afterwards."""
    # Under the system temp folder, which PostgreSQL's own user may enter when we are root.
    state = Path(tempfile.mkdtemp(prefix="podium-stack-"))
    state.chmod(0o755)
    kafka_port, controller_port, pg_port = free_ports(3)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PODIUM_") or key.startswith("PODIUM_CACHE_DIR")
    }
    env.update(
        PODIUM_DEV__STATE_DIR=str(state),
        PODIUM_DEV__KAFKA_PORT=str(kafka_port),
        PODIUM_DEV__CONTROLLER_PORT=str(controller_port),
        PODIUM_DEV__PG_PORT=str(pg_port),
        PODIUM_KAFKA__PARTITIONS="2",
    )
    try:
        yield env
    finally:
        podium(env, "down")
        shutil.rmtree(state, ignore_errors=True)


def podium(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "podium_cli", *args],
        cwd=CHECKOUT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def pids(state: Path) -> tuple[str, str]:
    kafka = (state / "run" / "kafka.pid").read_text().strip()
    postgres = (state / "postgres" / "data" / "postmaster.pid").read_text().splitlines()[0]
    return kafka, postgres


async def test_up_infra_twice_is_harmless_and_down_stops_it(stack_env: dict[str, str]):
    state = Path(stack_env["PODIUM_DEV__STATE_DIR"])
    kafka_port = int(stack_env["PODIUM_DEV__KAFKA_PORT"])
    pg_port = int(stack_env["PODIUM_DEV__PG_PORT"])
    (state / "run").mkdir(parents=True)
    (state / "run" / "kafka.pid").write_text(f"{dead_pid()}\n")

    first = podium(stack_env, "up", "--infra")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "removed stale pidfile" in first.stdout
    assert f"kafka        started at 127.0.0.1:{kafka_port}" in first.stdout
    assert f"postgres     started at 127.0.0.1:{pg_port}" in first.stdout
    started = pids(state)

    second = podium(stack_env, "up", "--infra")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "kafka        running" in second.stdout
    assert "postgres     running" in second.stdout
    assert "topics       all present" in second.stdout
    assert pids(state) == started

    kafka = KafkaSettings(bootstrap_servers=f"127.0.0.1:{kafka_port}", partitions=2)
    assert await ensure_topics(kafka) == []
    conn = await asyncpg.connect(f"postgresql://podium@127.0.0.1:{pg_port}/podium")
    try:
        assert await conn.fetchval("SELECT current_database()") == "podium"
    finally:
        await conn.close()

    status = podium(stack_env, "status")
    assert f"running (pid {started[0]})" in status.stdout
    assert f"running (pid {started[1]})" in status.stdout

    down = podium(stack_env, "down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert "stopped kafka, postgres" in down.stdout
    await asyncio.sleep(0)
    assert not port_open(kafka_port)
    assert not port_open(pg_port)
    assert not (state / "run" / "kafka.pid").exists()
    assert podium(stack_env, "down").stdout.strip() == "nothing was running"


def test_a_port_held_by_a_stranger_is_named(stack_env: dict[str, str]):
    with socket.socket() as stranger:
        stranger.bind(("127.0.0.1", 0))
        stranger.listen()
        port = stranger.getsockname()[1]
        stack_env["PODIUM_DEV__KAFKA_PORT"] = str(port)
        refused = podium(stack_env, "up", "--infra")
    assert refused.returncode == 1
    assert f"port {port} is in use by pid {os.getpid()}" in refused.stderr
    assert "PODIUM_DEV__KAFKA_PORT=<port>" in refused.stderr
