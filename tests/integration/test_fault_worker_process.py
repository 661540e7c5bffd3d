"""A worker as a real process (`podium-worker-researcher`) against the real broker and the
scripted LLM: an LLM call longer than the consumer's max poll interval causes no rebalance
and runs once; SIGTERM with tasks in flight drains them, commits and exits 0, and a new
process redelivers nothing that had finished; a 60 s LLM call, within the default drain
timeout, finishes during the drain."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest

from podium_common.events import TaskStatus
from podium_common.settings import KafkaSettings
from podium_scripted_llm.settings import FaultConfig
from podium_scripted_llm.testing import ScriptedLLM, serve
from tests.integration.test_worker_runloop import Results, committed_and_end, publish, tasks

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SCRIPT = Path(sys.executable).parent / "podium-worker-researcher"


def worker_env(kafka: KafkaSettings, llm: ScriptedLLM, **settings: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PODIUM_")}
    env.update(
        PODIUM_KAFKA__BOOTSTRAP_SERVERS=kafka.bootstrap_servers,
        PODIUM_KAFKA__TOPIC_PREFIX=kafka.topic_prefix,
        PODIUM_KAFKA__PARTITIONS=str(kafka.partitions),
        PODIUM_LLM__BASE_URL=llm.base_url,
        PODIUM_LLM__API_KEY="scripted",
        PYTHONUNBUFFERED="1",
        **settings,
    )
    return env


@contextmanager
def spawned(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        process = subprocess.Popen([str(SCRIPT)], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


async def assigned(log: Path, process: subprocess.Popen[bytes], count: int = 1) -> None:
    """Waits until the worker's log shows `count` partition assignments."""
    async with asyncio.timeout(40):
        while assignments(log) < count:
            assert process.poll() is None, text(log)
            await asyncio.sleep(0.1)


async def consumed(log: Path, process: subprocess.Popen[bytes]) -> None:
    """Waits until the worker read a record: `PODIUM_FAULT=consumed=stall:0` says so."""
    async with asyncio.timeout(40):
        while "at consumed" not in text(log):
            assert process.poll() is None, text(log)
            await asyncio.sleep(0.1)


def text(log: Path) -> str:
    return log.read_text(errors="replace")


def assignments(log: Path) -> int:
    return sum(" assigned [" in line for line in text(log).splitlines())


@asynccontextmanager
async def llm_with_latency(latency_ms: float) -> AsyncIterator[ScriptedLLM]:
    async with serve(FaultConfig(latency_ms=latency_ms)) as llm:
        yield llm


async def test_an_llm_call_longer_than_the_poll_interval_runs_once(kafka, tmp_path: Path):
    log = tmp_path / "worker.log"
    sent = tasks(3)
    async with llm_with_latency(3_000) as llm, Results(kafka) as results:
        env = worker_env(
            kafka,
            llm,
            PODIUM_KAFKA__MAX_POLL_INTERVAL_MS="1000",
            PODIUM_KAFKA__SESSION_TIMEOUT_MS="6000",
            PODIUM_MAX_IN_FLIGHT="1",  # at capacity for the whole call: paused, still polling
        )
        with spawned(env, log) as process:
            await assigned(log, process)
            await publish(kafka, sent)
            received = await results.wait_for(len(sent))
            await asyncio.sleep(2.0)  # time for a rebalance and a second call, if any
            assert process.poll() is None, text(log)
            process.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(process.wait, 30) == 0, text(log)
    # Each call took three poll intervals: one call and one result per task, one assignment.
    assert llm.stats()["by_role"] == {"researcher": len(sent)}
    assert sorted(r.task_id for r in received) == sorted(t.task_id for t in sent)
    assert len(results.received) == len(sent)
    assert assignments(log) == 1, text(log)
    assert "rebalanc" not in text(log).lower()


async def test_sigterm_drains_in_flight_tasks_and_nothing_finished_is_redelivered(
    kafka, tmp_path: Path
):
    log = tmp_path / "worker.log"
    sent = tasks(5)
    async with llm_with_latency(4_000) as llm, Results(kafka) as results:
        env = worker_env(kafka, llm)
        with spawned(env, log) as first:
            await assigned(log, first)
            await publish(kafka, sent)
            await asyncio.sleep(2.0)  # fetched and with the LLM, which answers after 4 s
            assert not results.received
            stopped_at = time.monotonic()
            first.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(first.wait, 30) == 0, text(log)
        received = await results.wait_for(len(sent))
        # Every result came from the first process, after it was told to stop: drained.
        assert {r.worker_id.rsplit(":", 1)[1] for r in received} == {str(first.pid)}
        assert all(at > stopped_at for at, _ in results.received)
        committed, ends = await committed_and_end(kafka)
        assert all(committed.get(partition, 0) == end for partition, end in ends.items())

        with spawned(env, log) as second:
            await assigned(log, second, count=2)
            await asyncio.sleep(5.0)  # longer than one LLM call: a redelivery would show
            second.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(second.wait, 30) == 0
    assert llm.stats()["by_role"] == {"researcher": len(sent)}
    assert len(results.received) == len(sent)


@pytest.mark.timeout(180)
async def test_a_60_s_llm_call_finishes_during_the_sigterm_drain(kafka, tmp_path: Path):
    log = tmp_path / "worker.log"
    sent = tasks(1)
    async with llm_with_latency(60_000) as llm, Results(kafka) as results:
        # The default drain timeout (150 s) and LLM timeout (120 s): what a deployment gets.
        env = worker_env(kafka, llm, PODIUM_FAULT="consumed=stall:0")
        with spawned(env, log) as process:
            await assigned(log, process)
            await publish(kafka, sent)
            await consumed(log, process)  # its call is starting: 60 s to go
            stopped_at = time.monotonic()
            process.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(process.wait, 120) == 0, text(log)
        [result] = await results.wait_for(1)
    assert "draining 1 in-flight records" in text(log)
    assert result.status is TaskStatus.SUCCEEDED, result.error
    assert result.latency_ms >= 60_000
    assert results.received[0][0] > stopped_at
    committed, ends = await committed_and_end(kafka)
    assert sum(ends.values()) == 1
    assert all(committed.get(partition, 0) == end for partition, end in ends.items())
    assert llm.stats()["by_role"] == {"researcher": 1}
