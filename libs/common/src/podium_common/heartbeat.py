"""Heartbeats: every consumer process says, every few seconds, that it is alive and what
it holds, on the compacted topic `heartbeats`, keyed by worker id.

A beat is JSON (not an event of the goal log, so no Avro schema): the worker's identity,
its records in flight and its assigned partitions. A process that stops cleanly sends a
last beat marked `stopped`; one that dies just stops beating, and a reader shows it as
lost once its last beat is older than the reader's `lost_after_s`.

`Heartbeat.run` is the sender (a background task; a failed send is logged, never fatal);
`read_beats` gives the latest beat of every worker, `group_lag` each consumer group's lag
(`beats_via` and `lag_via` the same over a kept `Reader`), and `state` whether a worker is
alive, stopped or lost.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version

from aiokafka import TopicPartition
from pydantic import BaseModel, ValidationError

from podium_common.admin import partition_counts_via
from podium_common.reader import Reader, read_all
from podium_common.settings import KafkaSettings

log = logging.getLogger(__name__)

Send = Callable[[str, bytes, bytes], Awaitable[None]]  # topic, key, value


class Beat(BaseModel):
    worker_id: str
    service: str
    group: str
    host: str
    pid: int
    version: str
    in_flight: int
    partitions: list[str]
    started_at: datetime
    beat_at: datetime
    interval_s: float
    stopped: bool = False


@dataclass(frozen=True)
class Holding:
    """What a process holds right now: records in flight, assigned partitions."""

    in_flight: int
    partitions: list[str]


def podium_version() -> str:
    try:
        return version("podium-common")
    except PackageNotFoundError:
        return "unknown"


class Heartbeat:
    def __init__(
        self,
        *,
        worker_id: str,
        service: str,
        group: str,
        topic: str,
        send: Send,
        holding: Callable[[], Holding],
        interval_s: float,
    ) -> None:
        self._topic = topic
        self._send = send
        self._holding = holding
        self._identity = {
            "worker_id": worker_id,
            "service": service,
            "group": group,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "version": podium_version(),
            "started_at": datetime.now(UTC),
            "interval_s": interval_s,
        }

    def beat(self, *, stopped: bool = False) -> Beat:
        holding = self._holding()
        return Beat.model_validate(
            {
                **self._identity,
                "in_flight": holding.in_flight,
                "partitions": holding.partitions,
                "beat_at": datetime.now(UTC),
                "stopped": stopped,
            }
        )

    async def send(self, *, stopped: bool = False) -> None:
        beat = self.beat(stopped=stopped)
        try:
            await self._send(self._topic, beat.worker_id.encode(), beat.model_dump_json().encode())
        except Exception as error:  # noqa: BLE001 - a missed beat must not stop the service
            log.warning("heartbeat to %s not sent: %r", self._topic, error)

    async def run(self) -> None:
        """Beats every `interval_s` until cancelled, then sends a last `stopped` beat."""
        interval = float(self._identity["interval_s"])  # type: ignore[arg-type]
        try:
            while True:
                await self.send()
                await asyncio.sleep(interval)
        except asyncio.CancelledError:
            await asyncio.shield(self.send(stopped=True))
            raise


async def read_beats(kafka: KafkaSettings) -> list[Beat]:
    """The latest beat of every worker on the heartbeats topic (empty if it is missing)."""
    async with Reader(kafka) as reader:
        return await beats_via(reader)


async def beats_via(reader: Reader) -> list[Beat]:
    """`read_beats` over a reader's clients."""
    topic = reader.kafka.topics.heartbeats
    async with reader.clients() as (consumer, admin):
        counts = await partition_counts_via(admin, [topic])
        tps = [TopicPartition(topic, p) for p in range(counts.get(topic, 0))]
        if not tps:
            return []
        latest: dict[str, Beat] = {}
        for record in await read_all(consumer, tps):
            if record.value is None:
                latest.pop((record.key or b"").decode(), None)
                continue
            try:
                beat = Beat.model_validate_json(record.value)
            except ValidationError:
                log.warning("unreadable heartbeat at %s@%d", topic, record.offset)
                continue
            latest[beat.worker_id] = beat
        return sorted(latest.values(), key=lambda b: (b.service, b.worker_id))


def state(beat: Beat, now: datetime, lost_after_s: float) -> str:
    """alive | stopped (said so) | lost (no beat for `lost_after_s`)."""
    if beat.stopped:
        return "stopped"
    return "lost" if (now - beat.beat_at).total_seconds() > lost_after_s else "alive"


async def group_lag(kafka: KafkaSettings, groups: list[str]) -> dict[str, int]:
    """Each consumer group's lag: records past its committed offsets, summed over the
    partitions it has committed on."""
    async with Reader(kafka) as reader:
        return await lag_via(reader, groups)


async def lag_via(reader: Reader, groups: list[str]) -> dict[str, int]:
    """`group_lag` over a reader's clients."""
    async with reader.clients() as (consumer, admin):
        lags = {}
        for group in sorted(set(groups)):
            committed = await admin.list_consumer_group_offsets(group)
            ends = await consumer.end_offsets(list(committed)) if committed else {}
            lags[group] = sum(
                max(0, ends[tp] - meta.offset) for tp, meta in committed.items() if meta.offset >= 0
            )
        return lags
