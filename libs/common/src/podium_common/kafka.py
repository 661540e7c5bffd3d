"""Kafka clients for Podium: a producer that publishes events, and dead letters.

Producers use `acks=all` with idempotence on. `publish` hands every event to the producer
before awaiting any delivery, so one handler's outputs travel in one batch. A broker that
cannot take them for now (aiokafka's retriable errors, or a timeout) raises `Unavailable`, which the
run loop retries until the broker is back.

A producer whose sequence numbers the broker refuses (`OutOfOrderSequenceNumber`: after a
broker restart, a batch written whose answer was lost) can send nothing more to that
partition: aiokafka keeps the sequence it has. The `Publisher` then starts a new producer (a
new producer id, its sequences from 0) in its place and raises `Unavailable`: the record is
handled again and its events sent by the new one; what the old one had written is sent a
second time, which readers dedupe by event id.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    KafkaError,
    KafkaTimeoutError,
    OutOfOrderSequenceNumber,
    ProducerClosed,
)
from aiokafka.helpers import create_ssl_context

from podium_common import tracing
from podium_common.avro import encoded
from podium_common.errors import Unavailable, kind_of
from podium_common.events import Event, topic_for
from podium_common.settings import KafkaSettings
from podium_common.topics import Topics

log = logging.getLogger(__name__)
T = TypeVar("T")


def client_options(settings: KafkaSettings) -> dict[str, Any]:
    """Connection options every Kafka client of a service shares."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "security_protocol": settings.security_protocol,
    }
    if settings.sasl_mechanism:
        options["sasl_mechanism"] = settings.sasl_mechanism
        options["sasl_plain_username"] = settings.sasl_username
        if settings.sasl_password is not None:
            options["sasl_plain_password"] = settings.sasl_password.get_secret_value()
    if settings.security_protocol in {"SSL", "SASL_SSL"}:
        options["ssl_context"] = create_ssl_context(cafile=settings.ssl_cafile)
    return options


def headers_for(event: Event) -> list[tuple[str, bytes]]:
    return [
        ("traceparent", event.trace.traceparent.encode()),
        ("event_type", type(event).__name__.encode()),
    ]


class Publisher:
    """Publishes events to their topics; one per process, shared by every handler."""

    def __init__(
        self, settings: KafkaSettings, *, client_id: str, request_timeout_ms: int = 30_000
    ) -> None:
        """`request_timeout_ms`: the longest a send waits for the broker's acknowledgement,
        or for a topic's metadata, before it fails."""
        self.topics: Topics = settings.topics
        self._options: dict[str, Any] = {
            **client_options(settings),
            "client_id": client_id,
            "acks": "all",
            "enable_idempotence": True,
            "linger_ms": settings.linger_ms,
            "max_batch_size": 256 * 1024,
            "request_timeout_ms": request_timeout_ms,
        }
        self._producer = AIOKafkaProducer(**self._options)
        self._renewing = asyncio.Lock()

    async def start(self) -> None:
        """Connects; a producer that could not start is closed before the error rises."""
        try:
            await self._producer.start()
        except BaseException:
            await self._producer.stop()
            raise

    async def stop(self) -> None:
        await self._producer.stop()

    async def publish(self, events: Iterable[Event]) -> None:
        """Sends every event, then waits until the broker has acknowledged all of them."""
        events = tracing.sending(events, lambda event: topic_for(event, self.topics))

        async def sending(producer: AIOKafkaProducer) -> None:
            pending = [
                await producer.send(
                    topic, await encoded(event, topic), key=event.key, headers=headers_for(event)
                )
                for event in events
                for topic in [topic_for(event, self.topics)]
            ]
            if pending:
                await asyncio.gather(*pending)

        try:
            await self._with_producer(sending)
        except KafkaError as error:
            # A timeout is what a broker that is down looks like; aiokafka calls it final.
            if error.retriable or isinstance(error, KafkaTimeoutError):
                raise Unavailable(f"Kafka did not take the events: {error!r}") from error
            raise

    async def send(self, topic: str, key: bytes, value: bytes) -> None:
        """Sends one record that is no event (a heartbeat); waits for its acknowledgement."""
        await self._with_producer(lambda producer: producer.send_and_wait(topic, value, key=key))

    async def _with_producer(self, use: Callable[[AIOKafkaProducer], Awaitable[T]]) -> T:
        """`use` of the current producer; one the broker refused the sequence of is replaced
        (once, whoever saw it first) and `Unavailable` raised, to be sent again."""
        producer = self._producer
        try:
            return await use(producer)
        except OutOfOrderSequenceNumber as error:
            await self._renew(producer)
            raise Unavailable(
                f"Kafka refused this producer's sequence ({error!r}); a new producer sends again"
            ) from error
        except ProducerClosed as error:
            if self._producer is producer:
                raise  # stopped: the process is shutting down
            raise Unavailable("the producer was replaced while sending: sent again") from error

    async def _renew(self, refused: AIOKafkaProducer) -> None:
        async with self._renewing:
            if self._producer is not refused:
                return  # renewed already, for another send that failed with it
            log.warning("Kafka refused the producer's sequence numbers: starting a new producer")
            fresh = AIOKafkaProducer(**self._options)
            await fresh.start()
            self._producer = fresh
        await refused.stop()

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
        """Parks a record that cannot be handled in `<topic>.dlq`, the error in its headers."""
        headers = dead_letter_headers(
            topic=topic, partition=partition, offset=offset, error=error, attempts=attempts
        )
        dlq = self.topics.dlq(topic)
        await self._with_producer(
            lambda producer: producer.send_and_wait(dlq, value, key=key, headers=headers)
        )


def dead_letter_headers(
    *, topic: str, partition: int, offset: int, error: BaseException, attempts: int = 1
) -> list[tuple[str, bytes]]:
    """The headers of a dead letter: the error, how many attempts it ended, and where the
    record came from."""
    return [
        ("error.kind", kind_of(error).encode()),
        ("error.message", str(error)[:4000].encode()),
        ("error.attempts", str(attempts).encode()),
        ("source.topic", topic.encode()),
        ("source.partition", str(partition).encode()),
        ("source.offset", str(offset).encode()),
    ]
