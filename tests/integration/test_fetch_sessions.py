"""Consumers fetch in incremental sessions on the real broker and lose no record: through
records taken, a seek back, paused partitions, and a session the broker no longer knows."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from podium_common import fetch_sessions
from podium_common.fetch_sessions import FetchSession, SessionFetcher
from podium_common.settings import KafkaSettings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


@pytest.fixture
async def consumer(kafka: KafkaSettings) -> AsyncIterator[AIOKafkaConsumer]:
    """A consumer of four topics (twelve partitions) started with sessions installed."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=50,
    )
    fetch_sessions.install()
    try:
        await consumer.start()
    finally:
        fetch_sessions.install(False)
    topics = kafka.topics
    names = (topics.goals, topics.plans, topics.results, topics.approvals)
    consumer.assign([TopicPartition(name, p) for name in names for p in range(kafka.partitions)])
    try:
        yield consumer
    finally:
        await consumer.stop()


def session_of(consumer: AIOKafkaConsumer) -> FetchSession:
    fetcher = consumer._fetcher
    assert isinstance(fetcher, SessionFetcher)
    (session,) = fetcher._sessions.values()  # one broker
    return session


async def produce(kafka: KafkaSettings, topic: str, count: int, start: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers)
    await producer.start()
    try:
        for n in range(start, start + count):
            await producer.send_and_wait(topic, str(n).encode(), partition=n % kafka.partitions)
    finally:
        await producer.stop()


async def take(consumer: AIOKafkaConsumer, count: int) -> dict[TopicPartition, list[int]]:
    """`count` records, by partition, in the order each partition delivered them."""
    got: dict[TopicPartition, list[int]] = defaultdict(list)
    taken = 0
    async with asyncio.timeout(30):
        while taken < count:
            batches = await consumer.getmany(timeout_ms=200)
            for tp, records in batches.items():
                got[tp] += [int(record.value or b"") for record in records]
                taken += len(records)
    assert taken == count
    return got


async def settled(kafka: KafkaSettings, consumer: AIOKafkaConsumer, topic: str, count: int) -> None:
    """`count` records produced to `topic` (from 0, partition by partition) and taken."""
    await produce(kafka, topic, count, start=0)
    await take(consumer, count)


async def test_records_arrive_once_and_in_order_within_a_session(
    kafka: KafkaSettings, consumer: AIOKafkaConsumer
) -> None:
    topic = kafka.topics.results
    for round_ in range(5):  # records taken move positions: each is sent again
        await produce(kafka, topic, 30, start=round_ * 30)
        got = await take(consumer, 30)
        for p in range(kafka.partitions):
            assert got[TopicPartition(topic, p)] == list(
                range(round_ * 30 + p, round_ * 30 + 30, 3)
            )
    session = session_of(consumer)
    assert session.id != 0
    assert session.epoch > 5
    # Idle, the broker holds every partition at its end: nothing left to send.
    await asyncio.sleep(0.3)
    held = session.held
    assert len(held) == 4 * kafka.partitions
    ends = await consumer.end_offsets(list(consumer.assignment()))
    assert {tp: held[(tp.topic, tp.partition)][0] for tp in ends} == ends


async def test_a_seek_back_is_fetched_again(
    kafka: KafkaSettings, consumer: AIOKafkaConsumer
) -> None:
    topic = kafka.topics.plans
    await settled(kafka, consumer, topic, 9)
    first = TopicPartition(topic, 0)
    consumer.seek(first, 1)
    again = await take(consumer, 2)
    assert again == {first: [3, 6]}


async def test_a_paused_partition_is_forgotten_and_resumes(
    kafka: KafkaSettings, consumer: AIOKafkaConsumer
) -> None:
    topic = kafka.topics.goals
    paused = TopicPartition(topic, 1)
    await settled(kafka, consumer, topic, 3)
    consumer.pause(paused)
    await produce(kafka, topic, 6, start=3)
    got = await take(consumer, 4)
    assert paused not in got
    assert (topic, 1) not in session_of(consumer).held
    consumer.resume(paused)
    assert await take(consumer, 2) == {paused: [4, 7]}


async def test_a_session_the_broker_does_not_know_starts_anew(
    kafka: KafkaSettings, consumer: AIOKafkaConsumer
) -> None:
    topic = kafka.topics.approvals
    await settled(kafka, consumer, topic, 3)
    session = session_of(consumer)
    old_id = session.id
    session.id, session.epoch = old_id ^ 0x5A5A5A5, 7  # one the broker never gave
    await produce(kafka, topic, 6, start=3)
    got = await take(consumer, 6)
    assert sorted(n for records in got.values() for n in records) == list(range(3, 9))
    assert session.id not in (0, old_id ^ 0x5A5A5A5)
