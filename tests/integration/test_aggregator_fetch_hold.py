"""The aggregator's fetch holds on the real broker: an idle consumer fetches a few times a
second, a record on any partition ends a long hold at once, and a partition left out of
the fetches (its records not taken) makes them short until it is taken again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from podium_aggregator.fetch_hold import IDLE_HOLD_MS, SHORT_HOLD_MS, hold_per_fetch
from podium_common.settings import KafkaSettings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

# A record on a partition the fetch asks for reaches the consumer well within this, however
# long the hold (the machine may be busy: a round trip here takes a few ms).
PROMPT_S = 0.15


@dataclass
class Fetches:
    """Each fetch the consumer sent: when, and the hold it asked for."""

    sent: list[tuple[float, int]] = field(default_factory=list)

    def holds_since(self, since: float) -> list[int]:
        return [hold for at, hold in self.sent if at >= since]


@dataclass
class Reader:
    consumer: AIOKafkaConsumer
    producer: AIOKafkaProducer
    fetches: Fetches
    read: list[TopicPartition]  # every partition but the "changelog"'s
    changelog: TopicPartition


@pytest.fixture
async def reader(kafka: KafkaSettings) -> AsyncIterator[Reader]:
    """A consumer of `results` holding its fetches per fetch, `approvals` taken as the
    changelog (fetched, never read), each of its fetches recorded."""
    topics = kafka.topics
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="latest",
        fetch_max_wait_ms=SHORT_HOLD_MS,
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers)
    await consumer.start()
    await producer.start()
    fetcher: Any = consumer._fetcher
    fetches = Fetches()
    hold_per_fetch(fetcher, {topics.approvals})
    send = fetcher._proc_fetch_request

    def recorded(assignment: Any, node_id: int, request: Any) -> Any:
        fetches.sent.append((time.monotonic(), request._max_wait_ms))
        return send(assignment, node_id, request)

    fetcher._proc_fetch_request = recorded
    read = [TopicPartition(topics.results, p) for p in range(kafka.partitions)]
    changelog = TopicPartition(topics.approvals, 0)
    consumer.assign([*read, changelog])
    await consumer.seek_to_end(*read, changelog)
    try:
        yield Reader(consumer, producer, fetches, read, changelog)
    finally:
        await producer.stop()
        await consumer.stop()


async def delivery_s(reader: Reader, tp: TopicPartition, *, alone: bool = False) -> float:
    """Seconds from a record's acknowledgement by the broker to the consumer taking it
    (taking records of that partition `alone`, else of every partition read)."""
    await reader.producer.send_and_wait(tp.topic, b"x", partition=tp.partition)
    acknowledged = time.monotonic()
    async with asyncio.timeout(5):
        taking = [tp] if alone else reader.read
        while not (await reader.consumer.getmany(*taking, timeout_ms=1000)).get(tp):
            pass
    return time.monotonic() - acknowledged


async def test_an_idle_consumer_fetches_seldom_and_a_record_ends_the_hold(reader: Reader) -> None:
    await asyncio.sleep(0.5)  # positions known, the first fetches sent
    idle_from = time.monotonic()
    await asyncio.sleep(2)
    idle = reader.fetches.holds_since(idle_from)
    assert set(idle) == {IDLE_HOLD_MS}
    assert len(idle) <= 2 / (IDLE_HOLD_MS / 1000) + 1  # held 20 ms, it would be ~100
    for n in range(5):  # at different points of a hold
        await asyncio.sleep(0.1 * n)
        assert await delivery_s(reader, reader.read[n % len(reader.read)]) < PROMPT_S


async def test_records_not_taken_make_the_fetches_short_until_taken(reader: Reader) -> None:
    waiting, other = reader.read[0], reader.read[1]
    await reader.producer.send_and_wait(waiting.topic, b"left", partition=waiting.partition)
    await asyncio.sleep(0.5)  # fetched, not taken: left out once aiokafka's backoff is over
    left_out_from = time.monotonic()
    await asyncio.sleep(0.5)
    assert set(reader.fetches.holds_since(left_out_from)) == {SHORT_HOLD_MS}
    # Another partition is still fetched; the one left out comes once taken.
    taken = await reader.consumer.getmany(other, timeout_ms=100)
    assert other not in taken
    assert await delivery_s(reader, other, alone=True) < PROMPT_S
    assert [
        r.value for r in (await reader.consumer.getmany(waiting, timeout_ms=1000))[waiting]
    ] == [b"left"]
    # Taken: a record on it now comes within the short hold of the fetch in flight.
    taken_at = time.monotonic()
    assert await delivery_s(reader, waiting) < PROMPT_S
    await asyncio.sleep(1)
    assert set(reader.fetches.holds_since(taken_at + 0.2)) == {IDLE_HOLD_MS}


async def test_the_changelog_left_out_does_not_shorten_the_hold(reader: Reader) -> None:
    changelog = reader.changelog
    await reader.producer.send_and_wait(changelog.topic, b"state", partition=changelog.partition)
    await asyncio.sleep(0.5)  # fetched, never taken
    since = time.monotonic()
    await asyncio.sleep(1.5)
    assert set(reader.fetches.holds_since(since)) == {IDLE_HOLD_MS}
    assert await delivery_s(reader, reader.read[2]) < PROMPT_S
