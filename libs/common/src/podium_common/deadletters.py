"""Dead letters: read `<topic>.dlq` topics, and re-drive their records to their source topics
(the `podium dlq` command and the gateway's console both use this).

A dead letter is the original record (key and value, byte for byte) with the error and its
origin in headers (`error.kind`, `error.message`, `source.topic`, `source.partition`,
`source.offset`). Re-driving publishes the original bytes to the source topic again, where
every consumer group of that topic reads it.

Each dead-letter topic's re-drives are remembered by the consumer group
`podium-cli-redrive`: per partition, its committed offset is the first letter not yet
re-driven, and the commit's metadata lists the letters above it re-driven one by one
(`--offset`). A letter is therefore re-driven once, however often the command is run
(at least once if the command dies between publishing and committing).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import OffsetAndMetadata

from podium_common.admin import partition_counts_via
from podium_common.errors import PodiumError
from podium_common.kafka import client_options
from podium_common.reader import Reader, read_all
from podium_common.settings import KafkaSettings
from podium_common.topics import DLQ_SUFFIX

REDRIVE_SERVICE = "cli-redrive"


class NoSuchLetter(PodiumError):
    """A topic, partition or letter asked for does not exist; the message names it."""

    kind = "no_such_letter"


@dataclass(frozen=True)
class Letter:
    topic: str
    partition: int
    offset: int
    timestamp: datetime
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]

    @classmethod
    def of(cls, record: ConsumerRecord[bytes, bytes]) -> Letter:
        return cls(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            timestamp=datetime.fromtimestamp(record.timestamp / 1000, UTC),
            key=record.key,
            value=record.value,
            headers={name: value.decode(errors="replace") for name, value in record.headers},
        )

    @property
    def source_topic(self) -> str:
        return self.headers.get("source.topic") or self.topic.removesuffix(DLQ_SUFFIX)

    def get(self, header: str) -> str:
        return self.headers.get(header, "")


@dataclass
class Position:
    """How far a dead-letter partition has been re-driven."""

    below: int  # every letter below this offset has been re-driven
    above: set[int]  # letters at or above `below` re-driven one by one

    @classmethod
    def of(cls, committed: OffsetAndMetadata | None, start: int) -> Position:
        if committed is None or committed.offset < 0:
            return cls(start, set())
        above = set(json.loads(committed.metadata or "[]"))
        return cls(max(committed.offset, start), {o for o in above if o >= committed.offset})

    def done(self, offset: int) -> bool:
        return offset < self.below or offset in self.above

    def mark(self, offset: int) -> None:
        self.above.add(offset)
        while self.below in self.above:
            self.above.remove(self.below)
            self.below += 1

    def commit(self) -> OffsetAndMetadata:
        return OffsetAndMetadata(self.below, json.dumps(sorted(self.above)))


def dlq_topics(kafka: KafkaSettings, topic: str | None) -> list[str]:
    """The dead-letter topics a name means: every one, or the one of `topic` (with or
    without the `.dlq` suffix and the deployment's prefix)."""
    topics = kafka.topics
    if topic is None:
        return [name for name in topics.all() if name.endswith(DLQ_SUFFIX)]
    name = topic if topic.startswith(topics.prefix) else topics.prefix + topic
    return [name if name.endswith(DLQ_SUFFIX) else topics.dlq(name)]


async def read(kafka: KafkaSettings, topics: Sequence[str]) -> list[Letter]:
    """Every letter now in `topics`, oldest first per partition; nothing is committed."""
    async with Reader(kafka) as reader:
        return await read_via(reader, topics)


async def read_via(reader: Reader, topics: Sequence[str]) -> list[Letter]:
    """`read` over a reader's clients."""
    async with reader.clients() as (consumer, admin):
        partitions = await _partitions(admin, topics)
        return [Letter.of(record) for record in await read_all(consumer, partitions)]


async def redrive(
    kafka: KafkaSettings, dlq_topic: str, *, offset: int | None, partition: int
) -> list[Letter]:
    """Re-publishes to their source topics the letters of `dlq_topic` not re-driven yet
    (only the one at `partition`@`offset` when an offset is given); returns them."""
    group = kafka.topics.group(REDRIVE_SERVICE)
    consumer = AIOKafkaConsumer(**client_options(kafka), group_id=group, enable_auto_commit=False)
    producer = AIOKafkaProducer(**client_options(kafka), acks="all", enable_idempotence=True)
    admin = AIOKafkaAdminClient(**client_options(kafka))
    await consumer.start()
    await producer.start()
    await admin.start()
    try:
        partitions = await _partitions(admin, [dlq_topic])
        if offset is not None:
            partitions = [tp for tp in partitions if tp.partition == partition]
            if not partitions:
                raise NoSuchLetter(f"{dlq_topic} has no partition {partition}")
        positions = await _positions(admin, group, consumer, partitions)
        letters = [
            Letter.of(record)
            for record in await read_all(consumer, partitions)
            if not positions[TopicPartition(record.topic, record.partition)].done(record.offset)
            and offset in (None, record.offset)
        ]
        if offset is not None and not letters:
            raise NoSuchLetter(f"no letter to re-drive at {dlq_topic}[{partition}]@{offset}")
        await _publish(producer, letters)
        for letter in letters:
            positions[TopicPartition(letter.topic, letter.partition)].mark(letter.offset)
        if offset is None:  # everything up to the end has been re-driven
            ends = await consumer.end_offsets(partitions)
            for tp in partitions:
                positions[tp] = Position(ends[tp], set())
        await consumer.commit({tp: position.commit() for tp, position in positions.items()})
        return letters
    finally:
        await admin.close()
        await producer.stop()
        await consumer.stop()


async def _publish(producer: AIOKafkaProducer, letters: Iterable[Letter]) -> None:
    """Queues every letter in order, then waits for all: one acknowledgement's wait for the
    lot, not one each. The idempotent producer keeps each partition's order, so a goal's
    letters reach their source topic in the order they were parked."""
    sent = []
    for letter in letters:
        headers = [("redriven.from", f"{letter.topic}[{letter.partition}]@{letter.offset}")]
        sent.append(
            await producer.send(
                letter.source_topic,
                letter.value,
                key=letter.key,
                headers=[(name, value.encode()) for name, value in headers],
            )
        )
    done = await asyncio.gather(*sent, return_exceptions=True)
    errors = [outcome for outcome in done if isinstance(outcome, BaseException)]
    if errors:
        raise errors[0]


async def _partitions(admin: AIOKafkaAdminClient, topics: Sequence[str]) -> list[TopicPartition]:
    counts = await partition_counts_via(admin, list(topics))
    missing = [topic for topic in topics if topic not in counts]
    if missing:
        raise NoSuchLetter(f"no such topic: {', '.join(missing)}")
    return [TopicPartition(topic, p) for topic in topics for p in range(counts[topic])]


async def _positions(
    admin: AIOKafkaAdminClient,
    group: str,
    consumer: AIOKafkaConsumer,
    partitions: list[TopicPartition],
) -> dict[TopicPartition, Position]:
    committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
    starts = await consumer.beginning_offsets(partitions)
    return {tp: Position.of(committed.get(tp), starts[tp]) for tp in partitions}
