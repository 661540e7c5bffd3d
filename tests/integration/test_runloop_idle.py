"""An idle run loop on the real broker: it polls every half second (not ten times a second),
still commits a record handled meanwhile on the commit schedule, and sees a stop within a
poll."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from podium_common.events import Event
from podium_common.kafka import Publisher
from podium_common.runloop import IDLE_POLL_S, LoopConfig, RunLoop
from podium_common.settings import KafkaSettings
from podium_common.topics import TaskType
from tests.integration.test_worker_runloop import committed_and_end, publish, tasks

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


async def test_an_idle_loop_polls_seldom_commits_on_schedule_and_stops_within_a_poll(
    kafka: KafkaSettings,
) -> None:
    handled = asyncio.Event()

    async def handler(_event: Event) -> list[Event]:
        handled.set()
        return []

    publisher = Publisher(kafka, client_id="idle-loop")
    await publisher.start()
    config = LoopConfig(
        group_id=kafka.topics.group("worker-researcher"),
        topics=[kafka.topics.tasks(TaskType.RESEARCHER)],
    )
    loop = RunLoop(kafka, config, handler, publisher)
    polls: list[tuple[float, int]] = []  # when each poll began, and how long it might wait
    take = loop._consumer.getmany

    async def timed(*partitions: Any, timeout_ms: int = 0, max_records: int | None = None) -> Any:
        polls.append((time.monotonic(), timeout_ms))
        return await take(*partitions, timeout_ms=timeout_ms, max_records=max_records)

    loop._consumer.getmany = timed
    running = asyncio.create_task(loop.run())
    try:
        async with asyncio.timeout(30):
            while not loop.assignment():  # noqa: ASYNC110 - aiokafka has no event for it
                await asyncio.sleep(0.1)
        idle_from = time.monotonic()
        await asyncio.sleep(3)
        idle = [wait_ms for began, wait_ms in polls if began >= idle_from]
        assert idle
        assert max(idle) <= 500
        assert len(idle) <= 10  # twice a second, and commits; every 100 ms, it would be ~30

        await publish(kafka, tasks(1))
        await asyncio.wait_for(handled.wait(), 10)
        finished = time.monotonic()
        async with asyncio.timeout(10):
            while True:
                committed, ends = await committed_and_end(kafka)
                if all(committed.get(p, 0) == end for p, end in ends.items()):
                    break
                await asyncio.sleep(0.05)
        # Committed by the next commit (every second), not left for a later poll.
        assert time.monotonic() - finished < config.commit_interval_s + 1.0

        stopping = time.monotonic()
        loop.stop()
        await asyncio.wait_for(running, 10)
        assert time.monotonic() - stopping < IDLE_POLL_S + 1.0
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await publisher.stop()
