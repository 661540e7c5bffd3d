"""A run loop that missed its heartbeats keeps running: on the real broker, a handler blocks
the process past the group's session timeout (as an overloaded process does), so the group
drops the member and its next commit is refused. The loop rejoins, and every record ends
handled and committed (at least once: what the member had not committed may come again);
before, the refused commit ended the process."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence

import pytest

from podium_common.events import Event, TaskAssigned
from podium_common.kafka import Publisher
from podium_common.runloop import LoopConfig, RunLoop
from podium_common.settings import KafkaSettings
from podium_common.topics import TaskType
from tests.conftest import committed
from tests.unit.workers.fakes import make_task

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SESSION_MS = 6_000  # the broker's least session timeout (group.min.session.timeout.ms)


class Starving:
    """Blocks the whole process (no heartbeat goes out) on the first record it is given."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def __call__(self, event: Event) -> Sequence[Event]:
        assert isinstance(event, TaskAssigned)
        if not self.seen:
            time.sleep(SESSION_MS / 1000 * 1.6)  # noqa: ASYNC251 - the starvation is the test
        self.seen.append(event.task_id)
        return []


async def committed_on(kafka: KafkaSettings, group: str, topic: str) -> int:
    """How many records of `topic` the group has committed, over its partitions."""
    offsets = await committed(kafka, group)
    return sum(offset for tp, offset in offsets.items() if tp.topic == topic and offset > 0)


async def test_a_loop_dropped_from_its_group_rejoins_and_commits_every_record(
    kafka: KafkaSettings, publisher: Publisher, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="podium_common.runloop")
    topic = kafka.topics.tasks(TaskType.RESEARCHER)
    goal = uuid.uuid4()
    tasks = [make_task(task_id=f"t{n}", goal_id=goal) for n in range(6)]
    await publisher.publish(tasks)  # one key: one partition, in order
    group = f"{kafka.topic_prefix}starved"
    config = LoopConfig(
        group_id=group, topics=[topic], commit_interval_s=0.2, session_timeout_ms=SESSION_MS
    )
    handler = Starving()
    loop = RunLoop(kafka, config, handler, publisher)
    running = asyncio.create_task(loop.run())
    try:
        async with asyncio.timeout(60):
            while await committed_on(kafka, group, topic) < len(tasks):
                assert not running.done(), "the run loop ended when its commit was refused"
                await asyncio.sleep(0.2)
        assert set(handler.seen) == {task.task_id for task in tasks}
        # The group had dropped the member: its commit was refused, and the loop went on.
        refused = [r.getMessage() for r in caplog.records if "commit refused" in r.getMessage()]
        assert refused, "the group never dropped the member: the test proved nothing"
        assert not running.done()
    finally:
        loop.stop()
        await asyncio.wait_for(running, 30)
