"""The consumer run loop every Kafka-driven service shares.

A handler is a plain typed coroutine: an event in, the events to publish out. The loop
decodes each record, keeps up to `max_in_flight` handlers running at once, publishes what
they return, and commits each partition only below its lowest unfinished record.

What happens to a failure is decided here, and only here:
- a `PoisonRecord`, or any permanent error, parks the record in `<topic>.dlq`, then the
  loop moves on;
- a retriable error (`retriable = True`) is retried with backoff and jitter until it
  succeeds or the loop stops (the record is then redelivered, never skipped).

When the loop is at capacity it waits for a handler to finish; a longer wait pauses its
partitions but keeps polling, so a long LLM call never exceeds the consumer's poll
interval and causes no rebalance.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener

from podium_common import faults
from podium_common.avro import codec
from podium_common.backoff import delay
from podium_common.errors import PodiumError
from podium_common.events import Event
from podium_common.kafka import Publisher, client_options
from podium_common.offsets import OffsetTracker
from podium_common.settings import KafkaSettings

log = logging.getLogger(__name__)

Handler = Callable[[Event], Awaitable[Sequence[Event]]]


@dataclass(frozen=True)
class LoopConfig:
    group_id: str
    topics: Sequence[str]
    max_in_flight: int = 64
    commit_interval_s: float = 1.0
    # At capacity, the longest wait for a handler to finish before polling (paused); never
    # more than a fifth of max_poll_interval_ms.
    capacity_poll_s: float = 1.0
    drain_timeout_s: float = 30.0
    retry_base_s: float = 0.2
    retry_cap_s: float = 10.0
    max_poll_interval_ms: int = 300_000
    session_timeout_ms: int = 10_000


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, loop: RunLoop) -> None:
        self._loop = loop

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._loop.commit(set(revoked))
        self._loop.tracker.forget(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("assigned %s", sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned))


class RunLoop:
    def __init__(
        self,
        settings: KafkaSettings,
        config: LoopConfig,
        handler: Handler,
        publisher: Publisher,
    ) -> None:
        self.config = config
        self.tracker = OffsetTracker()
        self._handler = handler
        self._publisher = publisher
        self._consumer = AIOKafkaConsumer(
            **client_options(settings),
            group_id=config.group_id,
            client_id=config.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_interval_ms=config.max_poll_interval_ms,
            session_timeout_ms=config.session_timeout_ms,
            heartbeat_interval_ms=config.session_timeout_ms // 3,
        )
        self._tasks: set[asyncio.Task[None]] = set()
        # Finished records a `committed` fault waits for: (partition, offset, key).
        self._fault_watch: list[tuple[TopicPartition, int, str]] = []
        self._room = asyncio.Event()
        self._stopping = asyncio.Event()
        self.handled = 0
        self._started = False

    def ready(self) -> bool:
        """Consuming: started and holding an assignment (or waiting for one in a group)."""
        return self._started and not self._stopping.is_set()

    def stop(self) -> None:
        """Asks the loop to drain and return; safe from a signal handler."""
        self._stopping.set()

    async def run(self) -> None:
        self._consumer.subscribe(list(self.config.topics), listener=_Rebalance(self))
        await self._consumer.start()
        self._started = True
        try:
            await self._poll_until_stopped()
            await self._drain()
        finally:
            try:
                await self.commit()
            finally:
                await self._consumer.stop()

    async def commit(self, partitions: set[TopicPartition] | None = None) -> None:
        offsets = self.tracker.to_commit(partitions)
        if not offsets:
            return
        await faults.reach("stored", self._watched(offsets))
        await self._consumer.commit(offsets)
        self.tracker.committed(offsets)
        await faults.reach("committed", self._watched(offsets, forget=True))

    def _watched(self, offsets: dict[TopicPartition, int], *, forget: bool = False) -> str:
        """The key of a finished record a fault waits for that these offsets commit, or ''."""
        covered = [watch for watch in self._fault_watch if watch[1] < offsets.get(watch[0], -1)]
        if forget:
            self._fault_watch = [watch for watch in self._fault_watch if watch not in covered]
        return covered[0][2] if covered else ""

    async def _poll_until_stopped(self) -> None:
        loop = asyncio.get_running_loop()
        next_commit = loop.time() + self.config.commit_interval_s
        while not self._stopping.is_set():
            room = self.config.max_in_flight - len(self._tasks)
            if room <= 0:
                await self._wait_for_room()
            else:
                if self._consumer.paused():
                    self._consumer.resume(*self._consumer.paused())
                batches = await self._consumer.getmany(timeout_ms=100, max_records=room)
                for tp, records in batches.items():
                    for record in records:
                        self._start(tp, record)
            if loop.time() >= next_commit:
                await self.commit()
                next_commit = loop.time() + self.config.commit_interval_s

    async def _wait_for_room(self) -> None:
        """At capacity: returns as soon as a handler finishes. Only a long wait pauses the
        partitions and polls (pausing drops the records fetched ahead, costing a fetch
        round trip on resume), so the consumer keeps polling without taking more."""
        timeout = min(self.config.capacity_poll_s, self.config.max_poll_interval_ms / 5000)
        # An event the handlers' done callbacks set: waiting on it costs the same with 1024
        # handlers in flight as with one (asyncio.wait would hook every task, every time).
        self._room.clear()
        try:
            await asyncio.wait_for(self._room.wait(), timeout)
        except TimeoutError:
            self._consumer.pause(*self._consumer.assignment())
            await self._consumer.getmany(timeout_ms=0)

    def _start(self, tp: TopicPartition, record: ConsumerRecord[bytes, bytes]) -> None:
        ticket = self.tracker.started(tp, record.offset)
        task = asyncio.create_task(self._handle(record))
        self._tasks.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._tasks.discard(finished)
            self._room.set()
            if not finished.cancelled() and finished.exception() is None:
                self.tracker.finished(ticket)

        task.add_done_callback(done)

    async def _drain(self) -> None:
        if not self._tasks:
            return
        log.info("draining %d in-flight records", len(self._tasks))
        _done, pending = await asyncio.wait(self._tasks, timeout=self.config.drain_timeout_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _handle(self, record: ConsumerRecord[bytes, bytes]) -> None:
        key = (record.key or b"").decode(errors="replace")
        await faults.reach("consumed", key)
        attempt = 0
        while True:
            try:
                event = codec().decode(record.value or b"")
                outputs = await self._handler(event)
                await self._publisher.publish(outputs)
                self.handled += 1
                # Here the handler's work is stored: published, or (the recorder) written.
                await faults.reach("published", key)
                self._watch_for_commit(record, key)
                return
            except asyncio.CancelledError:
                raise
            except Exception as error:
                # aiokafka's errors and ours both say whether they are worth retrying.
                if not getattr(error, "retriable", False):
                    if not isinstance(error, PodiumError):
                        log.exception("handler crashed (%s)", _where(record))
                    await self._dead_letter(record, error)
                    return
                if self._stopping.is_set():
                    raise  # left uncommitted: redelivered after the restart
                attempt += 1
                wait = delay(attempt, base=self.config.retry_base_s, cap=self.config.retry_cap_s)
                log.warning("retry %d in %.2fs: %s (%s)", attempt, wait, error, _where(record))
                await asyncio.sleep(wait)

    def _watch_for_commit(self, record: ConsumerRecord[bytes, bytes], key: str) -> None:
        if faults.armed("stored", key) or faults.armed("committed", key):
            tp = TopicPartition(record.topic, record.partition)
            self._fault_watch.append((tp, record.offset, key))

    async def _dead_letter(
        self, record: ConsumerRecord[bytes, bytes], error: BaseException
    ) -> None:
        log.error("dead letter: %s (%s)", error, _where(record))
        await self._publisher.dead_letter(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value,
            error=error,
        )


def _where(record: ConsumerRecord[bytes, bytes]) -> str:
    return f"{record.topic}[{record.partition}]@{record.offset}"
