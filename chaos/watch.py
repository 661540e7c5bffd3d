"""Task results as they arrive on `results`, by the worker process that published them: the
chaos run kills a worker replica right after it published a result, before the offset commit
that covers the task (every second), so the task is handled again by another process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from podium_common.avro import codec
from podium_common.events import TaskResult
from podium_common.kafka import client_options
from podium_common.settings import KafkaSettings

log = logging.getLogger("chaos")


def pid_of(worker_id: str) -> int | None:
    """The process id in a result's `worker_id` (`<service>@<host>:<pid>`), if it has one."""
    _, _, pid = worker_id.rpartition(":")
    return int(pid) if pid.isdigit() else None


class ResultWatch:
    """Follows `results` from its end; `published_by(pid)` waits for that process's next."""

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self._consumer = consumer
        self._waiting: dict[int, asyncio.Event] = {}

    @classmethod
    @contextlib.asynccontextmanager
    async def following(cls, kafka: KafkaSettings) -> AsyncIterator[ResultWatch]:
        consumer = AIOKafkaConsumer(
            **client_options(kafka), enable_auto_commit=False, fetch_max_wait_ms=50
        )
        await consumer.start()
        try:
            partitions = [TopicPartition(kafka.topics.results, p) for p in range(kafka.partitions)]
            consumer.assign(partitions)
            await consumer.seek_to_end(*partitions)
            watch = cls(consumer)
            follower = asyncio.create_task(watch._follow())
            try:
                yield watch
            finally:
                follower.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await follower
        finally:
            await consumer.stop()

    async def published_by(self, pid: int, within_s: float) -> bool:
        """Whether process `pid` published a result within `within_s` from now."""
        arrived = self._waiting.setdefault(pid, asyncio.Event())
        try:
            async with asyncio.timeout(within_s):
                await arrived.wait()
        except TimeoutError:
            return False
        finally:
            self._waiting.pop(pid, None)
        return True

    async def _follow(self) -> None:
        while True:
            try:
                batches = await self._consumer.getmany(timeout_ms=200)
            except KafkaError as error:  # the broker is being restarted: read on after it
                log.warning("following results: %r", error)
                await asyncio.sleep(1)
                continue
            for records in batches.values():
                for record in records:
                    self._saw(codec().decode(record.value or b""))

    def _saw(self, event: object) -> None:
        if isinstance(event, TaskResult):
            pid = pid_of(event.worker_id)
            if pid is not None and pid in self._waiting:
                self._waiting[pid].set()
