"""A kept `Reader` on the real broker: one pair of clients serves every read, each read sees
what was published since the last, and nothing is fetched between reads."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError

from podium_common.deadletters import dlq_topics, read_via
from podium_common.errors import UndecodableRecord
from podium_common.heartbeat import Heartbeat, Holding, beats_via, lag_via
from podium_common.kafka import Publisher, client_options
from podium_common.reader import Reader
from podium_common.settings import KafkaSettings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


async def letter(publisher: Publisher, kafka: KafkaSettings, offset: int) -> None:
    await publisher.dead_letter(
        topic=kafka.topics.results,
        partition=0,
        offset=offset,
        key=b"k",
        value=f"bytes {offset}".encode(),
        error=UndecodableRecord(f"broken {offset}"),
    )


async def test_a_kept_reader_reads_again_on_the_same_clients(
    kafka: KafkaSettings, publisher: Publisher
) -> None:
    topics = dlq_topics(kafka, None)
    async with Reader(kafka) as reader:
        assert await read_via(reader, topics) == []
        async with reader.clients() as first:
            assert first.consumer.paused() == first.consumer.assignment()  # no fetch between reads

        await letter(publisher, kafka, 10)
        await letter(publisher, kafka, 11)
        seen = await read_via(reader, topics)
        assert [one.value for one in seen] == [b"bytes 10", b"bytes 11"]
        async with reader.clients() as second:
            assert second is first
            assert second.consumer.paused() == second.consumer.assignment() != set()

    async with reader.clients() as after_close:  # closed: the next read starts anew
        assert after_close is not first
    await reader.close()


async def test_a_kept_reader_reads_heartbeats_and_lag(kafka: KafkaSettings) -> None:
    producer = AIOKafkaProducer(**client_options(kafka))
    await producer.start()
    group = kafka.topics.group("worker-researcher")
    sender = Heartbeat(
        worker_id="w-1",
        service="worker-researcher",
        group=group,
        topic=kafka.topics.heartbeats,
        send=lambda topic, key, value: producer.send_and_wait(topic, value, key=key),
        holding=lambda: Holding(in_flight=3, partitions=["results[0]"]),
        interval_s=5,
    )
    try:
        await sender.send()
        async with Reader(kafka) as reader:
            (beat,) = await beats_via(reader)
            assert (beat.worker_id, beat.in_flight, beat.stopped) == ("w-1", 3, False)
            assert await lag_via(reader, [group]) == {group: 0}  # nothing committed
            await sender.send(stopped=True)
            (again,) = await beats_via(reader)
            assert again.stopped
    finally:
        await producer.stop()


async def test_a_reader_closes_right_after_reading_empty_topics(kafka: KafkaSettings) -> None:
    async def read_and_close() -> None:
        async with Reader(kafka) as reader:
            assert await read_via(reader, dlq_topics(kafka, None)) == []
            assert await beats_via(reader) == []

    await asyncio.wait_for(read_and_close(), 20)


async def test_a_reader_that_cannot_connect_says_so_on_every_read(kafka: KafkaSettings) -> None:
    nowhere = kafka.model_copy(update={"bootstrap_servers": "127.0.0.1:9"})
    async with Reader(nowhere) as reader:
        for _ in range(2):  # a failed start leaves nothing half-started behind
            with pytest.raises(KafkaConnectionError, match="Unable to bootstrap"):
                await asyncio.wait_for(read_via(reader, dlq_topics(nowhere, None)), 30)
