"""Reads made on demand — the dead letters, the heartbeats, the groups' lag — over one
consumer outside any group and one admin client, kept open between reads.

The gateway's console reads these on every view: with its clients kept, a view costs the
reads, not two more connections with their TLS and SASL handshakes. The clients start with
the first read (a process that never reads never connects) and stop with `close()`; a
start that fails is tried again by the next read. One read at a time: a read assigns the
consumer what it reads, and leaves it paused, so no fetch runs between reads (unassigning
it instead races aiokafka's fetcher: its `stop()` then hangs or fails).

`read_all` reads partitions from their first offsets to their ends. It asks the broker for
those offsets before it assigns the partitions and seeks to them at once, so the consumer
never has a position of its own to reset.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType
from typing import NamedTuple

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from podium_common.kafka import client_options
from podium_common.settings import KafkaSettings


class Clients(NamedTuple):
    consumer: AIOKafkaConsumer
    admin: AIOKafkaAdminClient


class Reader:
    def __init__(self, kafka: KafkaSettings, *, client_id: str = "podium-reader") -> None:
        self.kafka = kafka
        self._client_id = client_id
        self._lock = asyncio.Lock()
        self._clients: Clients | None = None

    @asynccontextmanager
    async def clients(self) -> AsyncIterator[Clients]:
        """The started clients, for one read; the consumer is paused after it."""
        async with self._lock:
            if self._clients is None:
                self._clients = await self._start()
            try:
                yield self._clients
            finally:
                consumer = self._clients.consumer
                consumer.pause(*consumer.assignment())

    async def close(self) -> None:
        async with self._lock:
            clients, self._clients = self._clients, None
            if clients is not None:
                await _stop(clients)

    async def __aenter__(self) -> Reader:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _start(self) -> Clients:
        options = client_options(self.kafka)
        clients = Clients(
            AIOKafkaConsumer(**options, client_id=self._client_id, enable_auto_commit=False),
            AIOKafkaAdminClient(**options, client_id=self._client_id),
        )
        try:
            await clients.consumer.start()
            await clients.admin.start()
        except BaseException:
            await _stop(clients)
            raise
        return clients


async def _stop(clients: Clients) -> None:
    try:
        await clients.consumer.stop()
    finally:
        await clients.admin.close()


async def read_all(
    consumer: AIOKafkaConsumer, partitions: list[TopicPartition]
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of `partitions` from their first offsets to their end offsets now,
    oldest first per partition; the consumer is left assigned `partitions`."""
    if not partitions:
        return []
    starts = await consumer.beginning_offsets(partitions)
    ends = await consumer.end_offsets(partitions)
    consumer.assign(partitions)
    for tp in partitions:  # in the same turn: no position is left for the consumer to reset
        consumer.seek(tp, starts[tp])
    left = {tp for tp in partitions if ends[tp] > starts[tp]}
    records: list[ConsumerRecord[bytes, bytes]] = []
    while left:
        batches = await consumer.getmany(*left, timeout_ms=1000)
        for tp, batch in batches.items():
            records += [record for record in batch if record.offset < ends[tp]]
        left = {tp for tp in left if await consumer.position(tp) < ends[tp]}
    return records
