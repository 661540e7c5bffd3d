"""A dead letter the broker will not take holds its partition's commits below it, and nothing
is lost: on the real broker, a run loop reads a topic whose dead-letter topic does not exist
(topics are never created on demand), so parking its undecodable record fails until the
topic is created. The record's offset is committed only once the letter is on the broker;
a loop stopped before that leaves it uncommitted, and the next one parks it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from podium_common.avro import codec
from podium_common.backoff import RetryPolicy
from podium_common.events import Event
from podium_common.kafka import Publisher
from podium_common.runloop import LoopConfig, RunLoop
from podium_common.settings import KafkaSettings
from podium_common.topics import dlq
from tests.unit.workers.fakes import make_task

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

POLICY = RetryPolicy(initial_interval_s=0.1, maximum_interval_s=0.3)


class Seen:
    """The run loop's handler: keeps the events it was given, publishes none."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    async def __call__(self, event: Event) -> Sequence[Event]:
        self.events.append(event)
        return []


@asynccontextmanager
async def admin(kafka: KafkaSettings) -> AsyncIterator[AIOKafkaAdminClient]:
    client = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    await client.start()
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def topic(kafka: KafkaSettings) -> AsyncIterator[str]:
    """One partition holding a good record, an undecodable one, a good one; no `.dlq`."""
    name = f"{kafka.topic_prefix}parking"
    async with admin(kafka) as client:
        await client.create_topics([NewTopic(name, 1, 1)])
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers)
    await producer.start()
    try:
        for value in (codec().encode(make_task()), b"not avro", codec().encode(make_task())):
            await producer.send_and_wait(name, value, key=b"goal", partition=0)
    finally:
        await producer.stop()
    yield name
    async with admin(kafka) as client:
        existing = set(await client.list_topics())
        await client.delete_topics([t for t in (name, dlq(name)) if t in existing])


async def create_dlq(kafka: KafkaSettings, topic: str) -> None:
    async with admin(kafka) as client:
        await client.create_topics([NewTopic(dlq(topic), 1, 1)])


@asynccontextmanager
async def running(kafka: KafkaSettings, topic: str, handler: Seen) -> AsyncIterator[RunLoop]:
    """A run loop on the topic, its publisher waiting at most 1 s for a topic's metadata;
    stopped on exit, and waited for until it has committed and closed."""
    publisher = Publisher(kafka, client_id="parking-test", request_timeout_ms=1000)
    await publisher.start()
    config = LoopConfig(
        group_id=f"{kafka.topic_prefix}parking", topics=[topic], commit_interval_s=0.2, retry=POLICY
    )
    loop = RunLoop(kafka, config, handler, publisher)
    task = asyncio.create_task(loop.run())
    try:
        yield loop
        loop.stop()
        async with asyncio.timeout(15):
            await task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await publisher.stop()


async def committed(kafka: KafkaSettings, topic: str) -> int | None:
    async with admin(kafka) as client:
        offsets = await client.list_consumer_group_offsets(f"{kafka.topic_prefix}parking")
    meta = offsets.get(TopicPartition(topic, 0))
    return None if meta is None or meta.offset < 0 else int(meta.offset)


async def until_committed(kafka: KafkaSettings, topic: str, offset: int) -> None:
    async with asyncio.timeout(30):
        while True:
            if await committed(kafka, topic) == offset:
                return
            await asyncio.sleep(0.1)


async def until_failures(caplog: pytest.LogCaptureFixture, count: int) -> None:
    """Waits until the loop logged `count` failed tries to park the record."""
    async with asyncio.timeout(30):
        while True:
            messages = [record.getMessage() for record in caplog.records]
            if sum("dead letter" in m and "failed" in m for m in messages) >= count:
                return
            await asyncio.sleep(0.05)


async def letters(kafka: KafkaSettings, topic: str) -> list[dict[str, str]]:
    """The headers of every letter in the topic's dead-letter topic."""
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers)
    await consumer.start()
    try:
        tp = TopicPartition(dlq(topic), 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        found = []
        while await consumer.position(tp) < end:
            for record in (await consumer.getmany(tp, timeout_ms=1000)).get(tp, []):
                found.append({name: value.decode() for name, value in record.headers})
        return found
    finally:
        await consumer.stop()


async def test_the_partition_commits_past_an_unparked_record_only_once_it_is_parked(
    kafka: KafkaSettings, topic: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="podium_common.runloop")
    seen = Seen()
    async with running(kafka, topic, seen):
        await until_committed(kafka, topic, 1)  # the first record; not past the second
        await until_failures(caplog, 3)
        assert len(seen.events) == 2  # the third record is handled, and waits to commit
        assert await committed(kafka, topic) == 1
        await create_dlq(kafka, topic)
        await until_committed(kafka, topic, 3)
    [letter] = await letters(kafka, topic)
    assert letter["error.kind"] == "undecodable"
    assert (letter["source.topic"], letter["source.offset"]) == (topic, "1")


async def test_a_loop_stopped_before_the_record_is_parked_leaves_it_to_the_next(
    kafka: KafkaSettings, topic: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="podium_common.runloop")
    first = Seen()
    async with running(kafka, topic, first):
        await until_failures(caplog, 1)
    # Stopped (the loop's last commit is done): the undecodable record was not skipped.
    assert len(first.events) == 2
    assert await committed(kafka, topic) == 1
    await create_dlq(kafka, topic)
    second = Seen()
    async with running(kafka, topic, second):
        await until_committed(kafka, topic, 3)
    assert len(second.events) == 1  # the record after it, redelivered: at least once
    [letter] = await letters(kafka, topic)
    assert (letter["error.kind"], letter["source.offset"]) == ("undecodable", "1")
