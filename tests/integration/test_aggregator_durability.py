"""The aggregator's offsets never pass a record whose effects are not in Kafka, on the real broker.

A goal's result is handled while its table write (changelog record) is held in the producer;
faust must not commit the result's offset meanwhile. The process is then SIGKILLed: the
restarted one recovers the table without that result, so the result must be redelivered
and the goal must go on to its final synthesis. And a handler error, a failed store and a
send the broker refuses are never acknowledged: the process exits non-zero, and the record
is handled again after the restart.
"""

from __future__ import annotations

import asyncio
import re
import signal
from collections.abc import Callable

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from podium_common.avro import codec
from podium_common.events import TaskAssigned, TaskResult
from podium_common.kafka import Publisher
from podium_common.settings import KafkaSettings
from podium_common.topics import TaskType
from tests.integration.test_aggregator import Goal, Reader, Record, Worker

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

# faust commits acknowledged offsets this often (its default `broker_commit_interval`).
COMMIT_INTERVAL_S = 2.8


async def committed(kafka: KafkaSettings, tp: TopicPartition) -> int:
    """The aggregator group's committed offset on a partition (-1: none yet)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(kafka.topics.group("aggregator"))
    finally:
        await admin.close()
    meta = offsets.get(tp)
    return meta.offset if meta is not None else -1


def offset_of(records: list[Record], task_id: str) -> int:
    for record in records:
        event = codec().decode(record.value)
        if isinstance(event, TaskResult) and event.task_id == task_id:
            return int(record.offset)
    raise AssertionError(f"no result of {task_id} on results")


async def committed_past(kafka: KafkaSettings, tp: TopicPartition, offset: int) -> None:
    """Waits until the group's commit on `tp` passes `offset` (a few commit intervals)."""
    async with asyncio.timeout(3 * COMMIT_INTERVAL_S + 10):
        while await committed(kafka, tp) <= offset:  # noqa: ASYNC110 - the broker's state
            await asyncio.sleep(0.2)


def states_of(goal: Goal, records: list[Record]) -> list[bytes]:
    """The goal's states among the changelog's records, oldest first."""
    key = f"{goal.goal_id}:1".encode()
    return [r.value or b"" for r in records if key in r.key]


def with_output(state: bytes, output: str) -> bool:
    """Whether a stored state has a task with this output."""
    return f'"output":"{output}"'.encode() in state


def stored_with(goal: Goal, output: str) -> Callable[[list[Record]], bool]:
    """Whether the changelog holds a state of the goal with a task's output."""
    return lambda records: any(with_output(s, output) for s in states_of(goal, records))


async def raises_at(worker: Worker, publisher: Publisher, goal: Goal, point: str) -> None:
    """Starts the aggregator with a `raise` at `point` for the goal's records, publishes its
    plan and two results, and waits for the process to exit non-zero there."""
    await worker.start(PODIUM_FAULT=f"{point}@{goal.goal_id}=raise")
    await publisher.publish([goal.plan(), goal.result("t1", "one"), goal.result("t2", "two")])
    assert worker.process is not None
    returncode = await asyncio.wait_for(worker.process.wait(), 60)
    log = worker.logfile.read_text()
    assert returncode != 0, log
    assert f"fault: raise at {point}" in log


def changelog(kafka: KafkaSettings) -> str:
    return f"{kafka.topics.group('aggregator')}-goals-changelog"


def assigned(reader: Reader) -> list[str]:
    return [
        event.task_id for event in reader.events(TaskAssigned) if isinstance(event, TaskAssigned)
    ]


async def test_a_result_whose_state_write_is_held_is_never_committed_and_survives_a_kill(
    kafka: KafkaSettings, worker: Worker, publisher: Publisher
) -> None:
    goal = Goal()
    topics = kafka.topics
    key = str(goal.goal_id).encode()
    tasks = Reader.released(kafka)
    results = Reader(kafka, topics.results)
    async with tasks, results:
        await worker.start()  # creates the table's changelog topic
        await publisher.publish([goal.plan(), goal.result("t1", "one")])
        async with Reader(kafka, changelog(kafka)) as table:
            # Both stored: a state on the changelog has the plan and t1's output.
            await table.until(stored_with(goal, "one"))
        assert await worker.stop() == 0

        # A new process whose first write for this goal, t2's, is held in the producer.
        await worker.start(PODIUM_FAULT=f"changelog@{goal.goal_id}=stall:600")
        await publisher.publish([goal.result("t2", "two")])
        await tasks.until(lambda records: goal.tid("t3") in assigned(tasks))  # published first
        await results.until(lambda records: len(records) >= 2)
        t2 = offset_of(results.records, goal.tid("t2"))
        tp = TopicPartition(topics.results, results.records[0].partition)
        assert all(record.key == key for record in results.records)

        # Three commit intervals: a commit past t2 would be visible by now.
        loop = asyncio.get_running_loop()
        until = loop.time() + 3 * COMMIT_INTERVAL_S
        while loop.time() < until:
            assert await committed(kafka, tp) <= t2, "t2 committed while its state was held"
            await asyncio.sleep(0.2)

        assert worker.process is not None
        worker.process.send_signal(signal.SIGKILL)
        assert await worker.process.wait() == -signal.SIGKILL
        await worker.start()  # no fault: t2 comes back, then t3's result completes the set
        await publisher.publish([goal.result("t3", "three")])
        await tasks.until(lambda records: goal.tid("final") in assigned(tasks), within_s=60)
        assert await worker.stop() == 0
        assert await committed(kafka, tp) > t2

    final = [e for e in tasks.events(TaskAssigned) if isinstance(e, TaskAssigned) and e.final]
    assert [i.output for i in final[0].inputs] == ["one", "two", "three"]


async def test_a_handler_error_is_not_acknowledged_and_the_record_comes_back(
    kafka: KafkaSettings, worker: Worker, publisher: Publisher
) -> None:
    goal = Goal()
    topics = kafka.topics
    tasks = Reader(kafka, topics.tasks(TaskType.SPECIALIST))
    async with tasks:
        # Its first record of this goal raises, as a bug in the handler would.
        await raises_at(worker, publisher, goal, "consumed")
        await tasks.settle(0)
        assert tasks.records == []
        partition = await partition_of(kafka, goal)
        assert await committed(kafka, TopicPartition(topics.plans, partition)) <= 0

        await worker.start()
        await tasks.until(lambda records: goal.tid("t3") in assigned(tasks), within_s=60)
        assert await worker.stop() == 0


async def partition_of(kafka: KafkaSettings, goal: Goal) -> int:
    plans = Reader(kafka, kafka.topics.plans)
    async with plans:
        await plans.until(lambda records: len(records) >= 1)
    return int(plans.records[0].partition)


async def test_the_records_of_a_store_interval_share_one_write_and_are_committed_after_it(
    kafka: KafkaSettings, worker: Worker, publisher: Publisher
) -> None:
    goal = Goal()
    topics = kafka.topics
    tasks = Reader.released(kafka)
    results = Reader(kafka, topics.results)
    async with tasks, results:
        await worker.start(PODIUM_STORE_INTERVAL_S="5")
        await publisher.publish([goal.plan(), goal.result("t1", "one"), goal.result("t2", "two")])
        await tasks.until(lambda records: goal.tid("t3") in assigned(tasks))
        await results.until(lambda records: len(records) >= 2)
        tp = TopicPartition(topics.results, results.records[0].partition)
        t2 = offset_of(results.records, goal.tid("t2"))
        await committed_past(kafka, tp, t2)

        # Stopped within a store interval of its last record: the store runs, and the
        # record is committed, not handled again by the next process.
        await publisher.publish([goal.result("t3", "three")])
        await tasks.until(lambda records: goal.tid("final") in assigned(tasks))
        await results.until(lambda records: len(records) >= 3)
        t3 = offset_of(results.records, goal.tid("t3"))
        assert await worker.stop() == 0
        assert await committed(kafka, tp) > t3

    async with Reader(kafka, changelog(kafka)) as table:
        await table.until(stored_with(goal, "three"))
        writes = [s for s in states_of(goal, table.records) if not with_output(s, "three")]
    # The first three records within a store interval: one write, or two if a store fell
    # between them.
    assert 1 <= len(writes) < 3, writes


async def test_a_failed_store_stops_the_process_and_its_records_come_back(
    kafka: KafkaSettings, worker: Worker, publisher: Publisher
) -> None:
    goal = Goal()
    async with Reader(kafka, kafka.topics.results) as results:
        await raises_at(worker, publisher, goal, "stored")
        await handled_again(kafka, worker, goal, results, uncommitted="t2")


async def handled_again(
    kafka: KafkaSettings, worker: Worker, goal: Goal, results: Reader, uncommitted: str
) -> None:
    """Once the process stopped non-zero: nothing from the goal's `uncommitted` result on
    was committed; a new process handles the results again, commits past t2 and stores
    t2's output."""
    await results.until(lambda records: len(records) >= 2)
    tp = TopicPartition(kafka.topics.results, results.records[0].partition)
    first = offset_of(results.records, goal.tid(uncommitted))
    t2 = offset_of(results.records, goal.tid("t2"))
    assert await committed(kafka, tp) <= first

    await worker.start()
    await committed_past(kafka, tp, t2)
    assert await worker.stop() == 0
    async with Reader(kafka, changelog(kafka)) as table:
        await table.until(stored_with(goal, "two"))


async def test_a_refused_sequence_stops_the_process_and_its_records_come_back(
    kafka: KafkaSettings, worker: Worker, publisher: Publisher
) -> None:
    """faust's producer is idempotent: once the plan's state is written, its sequence numbers
    are pushed out of step with the broker's (as a broker's restart can leave them), and the
    broker refuses the goal's next state write."""
    goal = Goal()
    async with Reader(kafka, kafka.topics.results) as results:
        await worker.start(PODIUM_FAULT=f"stored@{goal.goal_id}=desync")
        await publisher.publish([goal.plan()])
        async with Reader(kafka, changelog(kafka)) as table:
            await table.until(lambda records: bool(states_of(goal, records)))
        await publisher.publish([goal.result("t1", "one"), goal.result("t2", "two")])
        assert worker.process is not None
        returncode = await asyncio.wait_for(worker.process.wait(), 60)
        log = worker.logfile.read_text()
        assert returncode != 0, log
        assert re.search(r"fault: desync pushed [1-9]\d* partitions ahead", log), log
        assert "OutOfOrderSequenceNumber" in log, log
        await handled_again(kafka, worker, goal, results, uncommitted="t1")
