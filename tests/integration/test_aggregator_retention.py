"""Bounded state on the real broker: an ended goal, and results of a goal that never gets a
plan, leave the aggregator's table after their retention: a tombstone on its changelog."""

from __future__ import annotations

import pytest

from podium_common.events import GoalCompleted
from podium_common.kafka import Publisher
from podium_common.settings import KafkaSettings
from tests.integration.test_aggregator import Goal, Reader, Worker
from tests.integration.test_aggregator_durability import changelog

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


async def test_ended_and_unplanned_goals_leave_the_table_as_tombstones(
    kafka: KafkaSettings, worker: Worker, publisher: Publisher
) -> None:
    done, orphan = Goal(), Goal()
    await worker.start(PODIUM_RETENTION_S="1", PODIUM_UNPLANNED_TTL_S="1")
    outputs = Reader(kafka, kafka.topics.outputs)
    table = Reader(kafka, changelog(kafka))
    async with outputs, table:
        await publisher.publish(
            [done.plan(), *(done.result(local, local) for local in ("t1", "t2", "t3"))]
        )
        await publisher.publish([orphan.result("t1", "no plan will come")])
        await publisher.publish([done.result("final", "the answer")])
        await outputs.until(lambda records: len(records) >= 1)
        assert isinstance(outputs.events()[0], GoalCompleted)

        keys = {f"{goal.goal_id}:1" for goal in (done, orphan)}
        await table.until(lambda records: keys <= tombstones(records), within_s=30)
    assert await worker.stop() == 0

    # The states came before their tombstones: the table held them until they expired.
    for key in keys:
        values = [record.value for record in table.records if key in record.key.decode()]
        assert values[-1] is None
        assert any(value is not None for value in values[:-1])


def tombstones(records) -> set[str]:
    return {record.key.decode().strip('"') for record in records if record.value is None}
