"""What the run loop's unit tests share: a fake publisher, records fed straight to the loop
(no broker; the consumer never starts), and the type of the `loop_of` fixture (conftest)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Protocol

from aiokafka import ConsumerRecord, TopicPartition

from podium_common.avro import codec
from podium_common.backoff import RetryPolicy
from podium_common.errors import Unavailable, kind_of
from podium_common.events import Event
from podium_common.kafka import Publisher
from podium_common.runloop import Handler, RunLoop
from tests.unit.workers.fakes import make_task

TOPIC = "tasks.researcher"
TP = TopicPartition(TOPIC, 0)
FAST = RetryPolicy(initial_interval_s=0.001, maximum_interval_s=0.002, maximum_attempts=3)


class LoopOf(Protocol):
    def __call__(
        self, handler: Handler, publisher: Publisher, *, max_in_flight: int = ...
    ) -> RunLoop: ...


class FakePublisher(Publisher):
    """Keeps what is published; its dead letters fail while `broker_down` is set."""

    def __init__(self) -> None:  # no producer: nothing here talks to Kafka
        self.published: list[Event] = []
        self.letters: list[tuple[int, str, int]] = []  # offset, error kind, attempts
        self.letter_failures = 0
        self.broker_down = False
        self.failed = asyncio.Event()

    async def publish(self, events: Iterable[Event]) -> None:
        self.published += events

    async def dead_letter(
        self,
        *,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        error: BaseException,
        attempts: int = 1,
    ) -> None:
        if self.broker_down:
            self.letter_failures += 1
            self.failed.set()
            raise Unavailable("the broker is down")
        self.letters.append((offset, kind_of(error), attempts))


def record(
    offset: int, value: bytes | None = None, topic: str = TOPIC
) -> ConsumerRecord[bytes, bytes]:
    """A record at `offset` of partition 0 of `topic`; a task event unless `value` is given."""
    value = codec().encode(make_task()) if value is None else value
    return ConsumerRecord(
        topic=topic,
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=b"goal",
        value=value,
        checksum=None,
        serialized_key_size=4,
        serialized_value_size=len(value),
        headers=[],
    )
