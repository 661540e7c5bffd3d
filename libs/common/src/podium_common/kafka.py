"""Kafka clients for Podium: a producer that publishes events, and dead letters.

Producers use `acks=all` with idempotence on. `publish` hands every event to the producer
before awaiting any delivery, so one handler's outputs travel in one batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.helpers import create_ssl_context

from podium_common.avro import codec
from podium_common.errors import PodiumError
from podium_common.events import Event, topic_for
from podium_common.settings import KafkaSettings
from podium_common.topics import Topics


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

    def __init__(self, settings: KafkaSettings, *, client_id: str) -> None:
        self.topics: Topics = settings.topics
        self._producer = AIOKafkaProducer(
            **client_options(settings),
            client_id=client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=settings.linger_ms,
            max_batch_size=256 * 1024,
            request_timeout_ms=30_000,
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def publish(self, events: Iterable[Event]) -> None:
        """Sends every event, then waits until the broker has acknowledged all of them."""
        encode = codec().encode
        pending = [
            await self._producer.send(
                topic_for(event, self.topics),
                encode(event),
                key=event.key,
                headers=headers_for(event),
            )
            for event in events
        ]
        if pending:
            await asyncio.gather(*pending)

    async def dead_letter(
        self,
        *,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        error: BaseException,
    ) -> None:
        """Parks a record that cannot be handled in `<topic>.dlq`, the error in its headers."""
        headers = dead_letter_headers(topic=topic, partition=partition, offset=offset, error=error)
        await self._producer.send_and_wait(self.topics.dlq(topic), value, key=key, headers=headers)


def dead_letter_headers(
    *, topic: str, partition: int, offset: int, error: BaseException
) -> list[tuple[str, bytes]]:
    """The headers of a dead letter: the error, and where the record came from."""
    kind = error.kind if isinstance(error, PodiumError) else type(error).__name__
    return [
        ("error.kind", kind.encode()),
        ("error.message", str(error)[:4000].encode()),
        ("source.topic", topic.encode()),
        ("source.partition", str(partition).encode()),
        ("source.offset", str(offset).encode()),
    ]
