"""The consumer run loop every Kafka-driven service shares.

A handler is a plain typed coroutine: an event in, the events to publish out. The loop
decodes each record, keeps up to `max_in_flight` handlers running at once, publishes what
they return, and commits each partition only below its lowest unfinished record.

The limit counts handlers (a worker's LLM calls), not records: a record taken from Kafka and
waiting for a handler, or whose outputs wait for the broker's acknowledgement, holds no
slot. So the loop takes up to twice the limit in records, and a slot goes to the next
record as soon as a handler returns; on a busy process the wait for a turn of the event
loop and for the acknowledgement would otherwise add a tenth to every slot
(docs/benchmarks-history.md).

What happens to a failure is decided here, by one `RetryPolicy` (`LoopConfig.retry`):
- a retriable error is tried again after the policy's backoff (with jitter, and never
  sooner than the `next_retry_delay` the error carries, e.g. a Retry-After), within the
  policy's attempts; a dependency that is down (`Unavailable`) is retried with no attempt
  limit, until it is back or the loop stops;
- a `PoisonRecord`, any permanent error, or one whose attempts are used up parks the
  record in `<topic>.dlq` with the error, then the loop moves on;
- parking is itself retried with backoff, for as long as it fails: a record's offset is
  released for commit only once it is handled or parked. When the loop stops first, the
  record stays uncommitted and is redelivered, never skipped.

A commit the group refuses (it rebalanced without this member, whose heartbeats stopped)
ends nothing: the loop rejoins, and what it had not committed is delivered again.

When the loop is at capacity it waits for a handler to finish; a longer wait pauses its
partitions but keeps polling, so a long LLM call never exceeds the consumer's poll
interval and causes no rebalance.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, IllegalStateError

from podium_common import faults, fetch_sessions, tracing
from podium_common.avro import decoded
from podium_common.backoff import RetryPolicy
from podium_common.errors import PodiumError, kind_of
from podium_common.events import Event
from podium_common.kafka import Publisher, client_options
from podium_common.logs import bind_event
from podium_common.metrics import IN_FLIGHT, LAG, topic_metrics
from podium_common.offsets import OffsetTracker
from podium_common.settings import KafkaSettings

log = logging.getLogger(__name__)

# The longest a poll waits for records when none come (it ends at once when some do, and
# when a commit is due): how soon the loop sees a stop while idle. Polled every 100 ms, an
# idle loop spent about 5.5 ms of CPU a second; every 500 ms, about 2.8.
IDLE_POLL_S = 0.5

Handler = Callable[[Event], Awaitable[Sequence[Event]]]


@dataclass(frozen=True)
class Fetching:
    """How long the broker may hold a fetch for more records: until `min_bytes` are there,
    or `max_wait_ms` passed. aiokafka's defaults answer as soon as one record is there: a
    record is handled at once, and a consumer of many busy partitions fetches (and
    encodes and decodes a request naming every partition) for every few records."""

    min_bytes: int = 1
    max_wait_ms: int = 500


@dataclass(frozen=True)
class LoopConfig:
    group_id: str
    topics: Sequence[str]
    max_in_flight: int = 256
    commit_interval_s: float = 1.0
    # At capacity, the longest wait for a handler to finish before polling (paused); never
    # more than a fifth of max_poll_interval_ms.
    capacity_poll_s: float = 1.0
    # After stop(): how long the records in flight get to finish (KafkaSettings.drain_timeout_s).
    drain_timeout_s: float = 150.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_poll_interval_ms: int = 300_000
    session_timeout_ms: int = 10_000
    fetching: Fetching = field(default_factory=Fetching)


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, loop: RunLoop) -> None:
        self._loop = loop

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        try:
            await self._loop.commit(set(revoked))
        finally:
            self._loop.tracker.forget(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("assigned %s", sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned))


class _Stopped(Exception):
    """The loop stopped while a record waited to be tried again: left for redelivery."""


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
        self._fetch_sessions = settings.fetch_sessions
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
            fetch_min_bytes=config.fetching.min_bytes,
            fetch_max_wait_ms=config.fetching.max_wait_ms,
        )
        self._tasks: set[asyncio.Task[bool]] = set()
        # Records taken: up to twice the limit; handlers running: up to the limit.
        self._intake = 2 * config.max_in_flight
        self._slots = asyncio.Semaphore(config.max_in_flight)
        self._running = 0
        # Finished records a `committed` fault waits for: (partition, offset, key).
        self._fault_watch: list[tuple[TopicPartition, int, str]] = []
        self._room = asyncio.Event()
        self._stopping = asyncio.Event()
        self.handled = 0
        self._started = False
        self._crashed: BaseException | None = None
        IN_FLIGHT.labels(config.group_id).set_function(lambda: self._running)

    @property
    def in_flight(self) -> int:
        """Handlers running now (at most `max_in_flight`)."""
        return self._running

    def assignment(self) -> list[TopicPartition]:
        return sorted(self._consumer.assignment())

    def ready(self) -> bool:
        """Consuming: started and holding an assignment (or waiting for one in a group)."""
        return self._started and not self._stopping.is_set()

    def stop(self) -> None:
        """Asks the loop to drain and return; safe from a signal handler."""
        self._stopping.set()

    async def run(self) -> None:
        self._consumer.subscribe(list(self.config.topics), listener=_Rebalance(self))
        fetch_sessions.install(self._fetch_sessions)
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
        if self._crashed is not None:
            raise RuntimeError("the run loop failed; see the error above") from self._crashed

    async def commit(self, partitions: set[TopicPartition] | None = None) -> None:
        offsets = self.tracker.to_commit(partitions)
        if not offsets:
            return
        await faults.reach("stored", self._watched(offsets))
        try:
            await self._consumer.commit(offsets)
        except CommitFailedError:
            # The group dropped this member (its heartbeats stopped, e.g. a starved process)
            # and may have given its partitions to another. Nothing is lost: the records
            # after the last commit are delivered again, and the loop rejoins at its next poll.
            log.warning(
                "commit refused: the group rebalanced without this member; rejoining, and "
                "the records after the last commit of %s are delivered again",
                ", ".join(sorted(f"{tp.topic}[{tp.partition}]" for tp in offsets)),
            )
            return
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
            room = self._intake - len(self._tasks)
            if room <= 0:
                await self._wait_for_room()
            else:
                if self._consumer.paused():
                    self._consumer.resume(*self._consumer.paused())
                wait_s = min(IDLE_POLL_S, max(0.0, next_commit - loop.time()))
                batches = await self._consumer.getmany(
                    timeout_ms=round(wait_s * 1000), max_records=room
                )
                for tp, records in batches.items():
                    for record in records:
                        self._start(tp, record)
            if loop.time() >= next_commit:
                await self.commit()
                await self._measure_lag()
                next_commit = loop.time() + self.config.commit_interval_s

    async def _measure_lag(self) -> None:
        """Sets the lag gauge of every assigned partition whose high watermark is known."""
        group = self.config.group_id
        for tp in self._consumer.assignment():
            highwater = self._consumer.highwater(tp)
            if highwater is None:
                continue
            try:
                position = await self._consumer.position(tp)
            except IllegalStateError:
                continue  # revoked meanwhile
            LAG.labels(group, tp.topic, str(tp.partition)).set(max(0, highwater - position))

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

        def done(finished: asyncio.Task[bool]) -> None:
            self._tasks.discard(finished)
            self._room.set()
            if finished.cancelled():
                return  # stopped past the drain timeout: redelivered
            error = finished.exception()
            if error is None:
                if finished.result():  # handled or parked; else left for redelivery
                    self.tracker.finished(ticket)
                return
            # A fault of the loop itself, not of a handler: its record would hold back the
            # partition's commits for good, so the process stops (and fails) instead.
            log.error("record %s broke the run loop", _where(record), exc_info=error)
            self._crashed = self._crashed or error
            self.stop()

        task.add_done_callback(done)

    async def _drain(self) -> None:
        if not self._tasks:
            return
        log.info("draining %d in-flight records", len(self._tasks))
        _done, pending = await asyncio.wait(self._tasks, timeout=self.config.drain_timeout_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _handle(self, record: ConsumerRecord[bytes, bytes]) -> bool:
        """True once the record is handled or parked; False if the loop stopped first."""
        key = (record.key or b"").decode(errors="replace")
        await faults.reach("consumed", key)
        try:
            gave_up = await self._attempt_until_done(record, key)
            if gave_up is not None:
                error, attempts = gave_up
                await self._dead_letter(record, error, attempts)
        except _Stopped:
            return False
        return True

    async def _attempt_until_done(
        self, record: ConsumerRecord[bytes, bytes], key: str
    ) -> tuple[BaseException, int] | None:
        """Handles the record and publishes its outputs, trying again as the policy says.
        None once done; else the error that ended it and after how many attempts."""
        metrics = topic_metrics(self.config.group_id, record.topic)
        attempt = 0
        while True:
            attempt += 1
            try:
                event = await decoded(record.value or b"")
                bind_event(event)
                with tracing.consuming(record.topic, event, self.config.group_id):
                    started, outputs = await self._in_slot(event)
                    await self._publisher.publish(outputs)
            except _Stopped:
                raise
            except Exception as error:  # each failure is judged by the policy
                wait = self.config.retry.next_delay(error, attempt)
                if wait is None:
                    if not isinstance(error, PodiumError):
                        log.error("handler crashed (%s)", _where(record), exc_info=error)
                    return error, attempt
                log.warning("retry %d in %.2fs: %s (%s)", attempt, wait, error, _where(record))
                metrics.retried(kind_of(error))
                await self._pause(wait)
                continue
            metrics.seconds.observe(time.perf_counter() - started)
            metrics.handled.inc()
            self.handled += 1
            # Here the handler's work is stored: published, or (the recorder) written.
            await faults.reach("published", key)
            self._watch_for_commit(record, key)
            return None

    async def _in_slot(self, event: Event) -> tuple[float, Sequence[Event]]:
        """Runs the handler once a slot is free: when it started, and its outputs. Raises
        `_Stopped` if the loop stopped while the record waited (left for redelivery)."""
        async with self._slots:
            if self._stopping.is_set():
                raise _Stopped
            started = time.perf_counter()
            self._running += 1
            try:
                return started, await self._handler(event)
            finally:
                self._running -= 1

    async def _pause(self, seconds: float) -> None:
        """Waits before the next attempt; raises `_Stopped` if the loop stops first."""
        if not self._stopping.is_set():
            try:
                await asyncio.wait_for(self._stopping.wait(), seconds)
            except TimeoutError:
                return
        raise _Stopped

    def _watch_for_commit(self, record: ConsumerRecord[bytes, bytes], key: str) -> None:
        if faults.armed("stored", key) or faults.armed("committed", key):
            tp = TopicPartition(record.topic, record.partition)
            self._fault_watch.append((tp, record.offset, key))

    async def _dead_letter(
        self, record: ConsumerRecord[bytes, bytes], error: BaseException, attempts: int
    ) -> None:
        """Parks the record in `<topic>.dlq`, trying until the broker takes it or the loop
        stops: until then its offset is not committed (nor skipped)."""
        log.error("dead letter after %d attempt(s): %s (%s)", attempts, error, _where(record))
        failures = 0
        while True:
            try:
                await self._publisher.dead_letter(
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    key=record.key,
                    value=record.value,
                    error=error,
                    attempts=attempts,
                )
                topic_metrics(self.config.group_id, record.topic).dead_lettered(kind_of(error))
                return
            except Exception as failure:  # noqa: BLE001 - nothing may drop the record
                failures += 1
                wait = self.config.retry.interval(failures, failure)
                log.error(
                    "dead letter %d of %s failed, next try in %.2fs: %r",
                    failures,
                    _where(record),
                    wait,
                    failure,
                )
                await self._pause(wait)


def _where(record: ConsumerRecord[bytes, bytes]) -> str:
    return f"{record.topic}[{record.partition}]@{record.offset}"
