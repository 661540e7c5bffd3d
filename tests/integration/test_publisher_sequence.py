"""A producer whose sequence numbers the real broker refuses is replaced: the send that saw
the refusal is asked again (`Unavailable`), and the events reach the topic, in order."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from podium_common.avro import codec
from podium_common.errors import Unavailable
from podium_common.events import GoalSubmitted
from podium_common.kafka import Publisher
from podium_common.settings import KafkaSettings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def submitted(goal_id: uuid.UUID, run: int) -> GoalSubmitted:
    return GoalSubmitted.accepted("Explain Kafka", goal_id=goal_id, run=run)


async def records_on(kafka: KafkaSettings, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(kafka.partitions)]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        found: list[ConsumerRecord[bytes, bytes]] = []

        async def behind() -> bool:
            return any([await consumer.position(tp) < ends[tp] for tp in partitions])

        while await behind():
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found += records
        return found
    finally:
        await consumer.stop()


async def test_a_refused_sequence_gets_a_new_producer_and_nothing_is_lost(
    kafka: KafkaSettings, publisher: Publisher
) -> None:
    goal_id = uuid.uuid4()  # every event below is keyed by it: one partition
    await publisher.publish([submitted(goal_id, 1)])
    (first,) = await records_on(kafka, kafka.topics.goals)
    # What a broker restart can leave behind: the producer's next sequence for the
    # partition is not the one the broker expects.
    producer = publisher._producer
    partition = TopicPartition(first.topic, first.partition)
    producer._txn_manager.increment_sequence_number(partition, 5)

    with pytest.raises(Unavailable, match="sequence"):
        await publisher.publish([submitted(goal_id, 2)])
    assert publisher._producer is not producer

    await publisher.publish([submitted(goal_id, 2), submitted(goal_id, 3)])
    on_topic = await records_on(kafka, kafka.topics.goals)
    runs = [codec().decode(record.value or b"") for record in on_topic]
    assert [(event.goal_id, getattr(event, "run", None)) for event in runs] == [
        (goal_id, 1),
        (goal_id, 2),
        (goal_id, 3),
    ]
