"""The aggregator's faust app: one agent over `goals` + `plans` + `results` + `approvals`,
a goal table, a timer for deadlines and approval timeouts.

What is durable before a record's offset is committed: every event its handling publishes
(acknowledged by the broker) and then the goal's new state (its changelog record
acknowledged by the broker). A record is acknowledged to faust only after both, so faust's
commits never pass a record whose effects are not in Kafka; a crash anywhere before that
redelivers the record, which is applied to the state the changelog restores and publishes
the same events again (same deterministic ids). Nothing relies on faust's producer buffer
or its flush before a commit. A handler error stops the process without acknowledging its
record, so the record is redelivered after the restart.

A batch's events go out as soon as it is handled; the states it changed are written by the
next store (`store_interval_s`), each goal once for every record of the interval, and only
then are those records acknowledged. A changelog thus never holds a state whose events are
not in Kafka. faust waits for every record to be acknowledged before a rebalance and at
shutdown, so the store runs through both: the records of a stopping process are committed,
not handled again by the next.

The table is keyed by `goal_id:run`, but the topics are keyed by goal id: a state's
changelog partition is the partition its goal's records arrive on, kept with the state
(`Stored`) so the deadline timer can write outside any record.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Awaitable, Iterable
from typing import Any, NamedTuple, cast

import faust
from aiokafka.errors import KafkaError
from aiokafka.structs import RecordMetadata
from faust.types import TP, EventT
from mode import CrashingSupervisor
from pydantic import BaseModel, TypeAdapter

from podium_aggregator.consumer import HandledConsumer, HandledTransport
from podium_aggregator.due import DueIndex
from podium_aggregator.handler import handle, on_tick
from podium_aggregator.lean_faust import NoHttpClient
from podium_aggregator.parsed import ParsedStates
from podium_aggregator.producer import IdempotentProducer, push_sequences_ahead
from podium_aggregator.settings import AggregatorSettings
from podium_aggregator.state import GoalState
from podium_common import faults, metrics, tracing
from podium_common.avro import codec, decoded, encoded
from podium_common.backoff import RetryPolicy
from podium_common.errors import PoisonRecord, Unavailable, UnexpectedEvent
from podium_common.events import (
    ApprovalDecided,
    ApprovalRequested,
    Event,
    GoalCancelled,
    GoalSubmitted,
    PlanCreated,
    PlanningStarted,
    PlanRejected,
    TaskResult,
    topic_for,
    utcnow,
)
from podium_common.kafka import dead_letter_headers, headers_for
from podium_common.settings import KafkaSettings

log = logging.getLogger(__name__)

SERVICE = "aggregator"
TABLE = "goals"
# Goal states kept parsed between batches (`ParsedStates`): about the open goals of a busy
# aggregator, at a few kB each.
PARSED_STATES = 1024
# What the aggregator takes from its topics; anything else there is a dead letter.
Taken = (
    GoalSubmitted
    | PlanningStarted
    | PlanCreated
    | PlanRejected
    | TaskResult
    | GoalCancelled
    | ApprovalRequested
    | ApprovalDecided
)
# What it takes and leaves to the read model: such a record, known by its schema, is
# passed over undecoded.
READ_MODEL_ONLY = frozenset({PlanningStarted, ApprovalRequested})


class Stored(BaseModel):
    """A table value: the goal's state and the partition its records arrive on."""

    partition: int
    state: GoalState


class Unstored(NamedTuple):
    """A goal's state changed since the last store: its partition, the state, and the
    value the table held before (a state that comes back to it is not written)."""

    partition: int
    state: GoalState
    before: bytes


class GoalTable(faust.Table[str, bytes]):
    """The goal table. The aggregator writes its changelog itself (`write`), with the
    partition given, whether for a record or for the deadline timer, straight to faust's
    producer: faust's own path (`send_changelog`) queues each write in a buffer that one
    task drains, a write at a time, and holds the agent's next record while more than a
    hundred wait. A test's fault switch can hold a write in memory (`changelog` point) the
    way a slow producer would."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._holding: set[asyncio.Future[Any]] = set()  # held writes, until sent

    async def write(self, partition: int, key: str, value: bytes | None) -> Awaitable[Any]:
        """Sends the goal's state (None: a tombstone) to its changelog partition; returns
        what the broker's acknowledgement completes."""
        if faults.armed("changelog", key) is not None:
            held = asyncio.ensure_future(self._held(partition, key, value))
            self._holding.add(held)
            held.add_done_callback(self._holding.discard)
            return held
        return await self._send(partition, key, value)

    async def _held(self, partition: int, key: str, value: bytes | None) -> None:
        await faults.reach("changelog", key)
        await (await self._send(partition, key, value))

    async def _send(
        self, partition: int, key: str, value: bytes | None
    ) -> asyncio.Future[RecordMetadata]:
        topic = self.changelog_topic
        # Serialized as faust's own writes are (JSON), for its recovery to read.
        serialized, _headers = topic.prepare_key(key, self.key_serializer)
        sent = asyncio.ensure_future(
            await self.app.producer.send(
                topic.get_topic_name(), serialized, value, partition, None, None
            )
        )
        sent.add_done_callback(self._persisted)
        return sent

    def _persisted(self, sent: asyncio.Future[RecordMetadata]) -> None:
        """What faust does once a write is acknowledged: a store on disk keeps the offset,
        so a restart knows what it holds already."""
        if not sent.cancelled() and sent.exception() is None:
            written = sent.result()
            self.data.set_persisted_offset(written.topic_partition, written.offset)


def brokers(kafka: KafkaSettings) -> list[str]:
    return [f"kafka://{host.strip()}" for host in kafka.bootstrap_servers.split(",")]


def credentials(kafka: KafkaSettings) -> faust.SASLCredentials | faust.SSLCredentials | None:
    secure = kafka.security_protocol in {"SSL", "SASL_SSL"}
    context = ssl.create_default_context(cafile=kafka.ssl_cafile) if secure else None
    if kafka.sasl_mechanism:
        password = kafka.sasl_password.get_secret_value() if kafka.sasl_password else None
        return faust.SASLCredentials(
            username=kafka.sasl_username,
            password=password,
            mechanism=kafka.sasl_mechanism,
            ssl_context=context,
        )
    return faust.SSLCredentials(context) if context is not None else None


def create_app(settings: AggregatorSettings) -> faust.App:
    kafka = settings.kafka
    app = faust.App(
        kafka.topics.group(SERVICE),
        broker=brokers(kafka),
        broker_credentials=credentials(kafka),
        store=settings.store,
        datadir=settings.data_dir,
        Table=GoalTable,
        topic_partitions=kafka.partitions,
        topic_replication_factor=kafka.replication_factor,
        # No `on_leader` tasks here: no leader-election topic either.
        topic_disable_leader=True,
        # The timer ticks only active partitions; standby copies would be unused.
        table_standby_replicas=0,
        producer_acks=-1,  # all in-sync replicas
        producer_linger=kafka.linger_ms / 1000,
        consumer_auto_offset_reset="earliest",
        stream_buffer_maxsize=settings.max_in_flight,
        # Faust waits this long after a rebalance before recovering tables (default 3 s).
        stream_recovery_delay=settings.recovery_delay_s,
        # A crashed aggregator holds its goals this long (faust's own default is 60 s).
        broker_session_timeout=kafka.session_timeout_ms / 1000,
        web_enabled=False,  # health endpoints come from podium_common.health
        autodiscover=False,
        HttpClient=NoHttpClient,  # none: see lean_faust
    )
    app.transport = HandledTransport(app.conf.broker_consumer, app)
    return app


class Aggregator:
    """Wires the handler into a faust app; `app` is what a faust worker runs."""

    def __init__(self, settings: AggregatorSettings, retry: RetryPolicy | None = None) -> None:
        self.settings = settings
        # The backoff while a record cannot be decoded for want of the schema registry.
        self._retry = retry or RetryPolicy()
        self.limits = settings.limits()
        self.topics = settings.kafka.topics
        self.app = create_app(settings)
        self.table = cast(
            GoalTable,
            self.app.Table(
                TABLE, key_type=str, value_type=bytes, partitions=settings.kafka.partitions
            ),
        )
        self.source = self.app.topic(
            self.topics.goals,
            self.topics.plans,
            self.topics.results,
            self.topics.approvals,
            key_serializer="raw",
            value_serializer="raw",
        )
        self._sinks: dict[str, faust.TopicT] = {}
        # faust's settings are slow to read: the group id is read once, not per record.
        self._group = self.app.conf.id
        self._parsed = ParsedStates(capacity=PARSED_STATES)
        # The agent, the timer and the store take turns with a goal's state.
        self._lock = asyncio.Lock()
        # The stream the agent acknowledges its records on (set when it starts).
        self._stream: faust.StreamT[bytes] | None = None
        # States changed by records whose events are published, not yet written, by table
        # key; and those records, acknowledged once the states are written.
        self._unstored: dict[str, Unstored] = {}
        self._unacked: list[EventT[bytes]] = []
        # Open goals with a deadline, and states the table may forget, by table key, with
        # their partition; rebuilt from the table after each rebalance (the table then holds
        # what the new assignment recovered).
        self._deadlines = DueIndex()
        self._expiries = DueIndex()
        self._recovered = False
        # A handler error stops the process with its record unacknowledged, so faust never
        # commits it and the restarted process handles it again.
        self.app.agent(self.source, name="aggregate", supervisor_strategy=CrashingSupervisor)(
            self._consume
        )
        self.app.timer(settings.tick_interval_s, name="deadlines")(self._tick)
        if settings.store_interval_s > 0:
            # A task of its own, not a faust timer: timers stop with the app, before faust
            # waits for the last records to be acknowledged, which only a store does.
            self.app.task(self._storing)
        self.app.timer(settings.stall_s, name="stalls")(self._unstick)
        self.table.on_recover(self._on_recovered)
        faults.desync_with(self._desync)

    def _desync(self) -> int:
        """The test-only `desync` fault: faust's producer out of step with the broker."""
        producer = cast(IdempotentProducer, self.app.producer)
        return push_sequences_ahead(producer._ensure_producer())

    def ready(self) -> bool:
        """Recovered its table after the latest rebalance and consuming."""
        return self._recovered and not self.app.rebalancing

    async def _consume(self, stream: faust.StreamT[bytes]) -> None:
        manual = self._stream = cast("faust.Stream[bytes]", stream).noack()
        # What faust has fetched and not yet given the agent: a batch takes what is there
        # already, never waiting for more.
        buffered = cast("faust.ChannelT[bytes]", manual.channel).queue
        records = manual.events()
        async for first in records:
            batch = [first]
            while len(batch) < self.settings.max_in_flight and not buffered.empty():
                try:
                    batch.append(await anext(records))
                except StopAsyncIteration:
                    break
            await self.on_batch(manual, batch)

    async def on_batch(self, manual: faust.StreamT[bytes], batch: list[EventT[bytes]]) -> None:
        """Handles a batch of records in order. Their events are sent together and
        acknowledged by the broker; the goals they changed wait for the next store (see
        the module's docstring), or are written now if the store runs after every batch."""
        consumer = cast(HandledConsumer, self.app.consumer)
        taken: list[tuple[EventT[bytes], Event | None]] = []
        for record in batch:
            message = record.message
            if not await consumer.admit(message.tp, message.offset):
                await manual.ack(record)  # not its turn: it comes again, in order
                continue
            # The partition's next record is the one after it, in this batch or a later
            # one; commits stay below it until it is acknowledged, after its store.
            consumer.on_handled(message.tp, message.offset)
            taken.append((record, await self._decoded(record)))
        if not taken:
            return
        started = time.perf_counter()
        acked: list[EventT[bytes]] = []
        async with self._lock:
            await self._sent(self._apply(taken))
            for record, _event in taken:
                await faults.reach("published", _where(record))
            seconds = (time.perf_counter() - started) / len(taken)
            for record, _event in taken:
                metrics.topic_metrics(self._group, record.message.topic).seconds.observe(seconds)
            self._unacked += [record for record, _event in taken]
            if self.settings.store_interval_s == 0:
                acked = await self._store_all()
        for record in acked:
            await self._after_ack(record)

    async def _decoded(self, record: EventT[bytes]) -> Event | None:
        """The record's event; None for a poison record, which is parked here, and for one
        whose schema says it is the read model's alone (`READ_MODEL_ONLY`), not decoded.
        While the schema registry cannot be reached the record waits, tried again with
        backoff: the aggregator neither stops nor parks it."""
        message = record.message
        await faults.reach("consumed", _where(record))
        if codec().model_of(record.value or b"") in READ_MODEL_ONLY:
            return None
        attempt = 0
        while True:
            attempt += 1
            try:
                event = await decoded(record.value or b"")  # a tombstone is no event
                if not isinstance(event, Taken):
                    raise UnexpectedEvent(
                        f"{type(event).__name__} does not belong on {message.topic}",
                        goal_id=event.goal_id,
                    )
                return event
            except PoisonRecord as error:
                await self.dead_letter(record, error)
                return None
            except Unavailable as error:
                wait = self._retry.interval(attempt, error)
                where = f"{message.topic}[{message.partition}]@{message.offset}"
                log.warning("%s waits %.2fs to be decoded: %s", where, wait, error)
                await asyncio.sleep(wait)

    def _apply(self, taken: list[tuple[EventT[bytes], Event | None]]) -> list[Event]:
        """Applies each event to its goal's state, in order, and returns the events to
        publish; the states touched wait in `_unstored` for the next store."""
        pending: list[Event] = []
        for record, event in taken:
            if event is None:
                continue
            message = record.message
            key = f"{event.goal_id}:{event.run}"
            state = self._unstored_state(key, event, message.partition)
            with tracing.consuming(message.topic, event, self._group):
                pending += tracing.sending(
                    handle(state, event, utcnow(), self.limits),
                    lambda out: topic_for(out, self.topics),
                )
        return pending

    def _unstored_state(self, key: str, event: Event, partition: int) -> GoalState:
        """The goal's state to change: the one changed since the last store, else what the
        table holds, else a new one (stored only once an event changes it)."""
        entry = self._unstored.get(key)
        if entry is None:
            value = self.table.get(key)
            if value is None:
                state = GoalState.new(event.goal_id, event.run)
                entry = Unstored(partition, state, _dump(partition, state))
            else:
                entry = Unstored(partition, self._parsed.take(key, value) or _parse(value), value)
            self._unstored[key] = entry
        return entry.state

    async def _storing(self) -> None:
        """Stores every `store_interval_s` while the process runs. A failed store stops the
        process, its records unacknowledged, as a handler error does."""
        while True:
            await asyncio.sleep(self.settings.store_interval_s)
            if not self._unacked:
                continue
            try:
                async with self._lock:
                    acked = await self._store_all()
                for record in acked:
                    await self._after_ack(record)
            except Exception as error:
                log.exception("storing goal states failed: the aggregator stops")
                await self.app.crash(error)
                return

    async def _store_all(self) -> list[EventT[bytes]]:
        """Writes every changed state and waits until the broker has acknowledged each;
        then acknowledges the records that changed them, and returns those. The writes are
        sent together and awaited as the producer's futures (no task of its own for each)."""
        written: list[tuple[str, int, GoalState, bytes]] = []
        sent: list[Awaitable[Any]] = []
        for key, (partition, state, before) in self._unstored.items():
            value = _dump(partition, state)
            if value != before:
                sent.append(await self._write(key, partition, value))
                written.append((key, partition, state, value))
            elif key in self.table.data:
                self._parsed.keep(key, value, state)
        self._unstored = {}
        if sent:
            await asyncio.gather(*sent)
        for write in written:
            self._written(*write)
        acked, self._unacked = self._unacked, []
        for record in acked:
            await faults.reach("stored", _where(record))
        stream = cast("faust.StreamT[bytes]", self._stream)
        for record in acked:
            await stream.ack(record)
            metrics.topic_metrics(self._group, record.message.topic).handled.inc()
        return acked

    async def _after_ack(self, record: EventT[bytes]) -> None:
        """The `committed` crash point: once faust has committed past this record."""
        message = record.message
        where = _where(record)
        if faults.armed("committed", where) is None:
            return
        # faust's own record of what it committed; a test-only wait, so a poll will do.
        committed = cast("faust.transport.consumer.Consumer", self.app.consumer)._committed_offset
        while (committed.get(message.tp) or 0) <= message.offset:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        await faults.reach("committed", where)

    async def _tick(self) -> None:
        if not self.ready():
            return
        now, active = utcnow(), self._active_partitions()
        for key, partition in self._deadlines.due(now, active):
            async with self._lock:
                state = self._load(key)
                events = on_tick(state, now) if state is not None else []
                if state is not None and events:
                    await self.publish(events)
                    await self._store(key, partition, state)
        for key, partition in self._expiries.due(now, active):
            async with self._lock:
                if key not in self._unstored:  # changed since: due again once stored
                    await self._forget(key, partition)

    async def _on_recovered(self) -> None:
        self._deadlines = DueIndex()
        self._expiries = DueIndex()
        for key, value in self.table.items():
            stored = Stored.model_validate_json(value)
            self._index(key, stored.partition, stored.state)
        self._recovered = True
        log.info(
            "goal table recovered: %d open goals with a deadline, %d to forget later",
            len(self._deadlines),
            len(self._expiries),
        )

    async def _unstick(self) -> None:
        """Rewinds a partition whose records stopped reaching the agent (see `consumer`).
        Best effort, every `stall_s`: a broker that does not answer now is asked next time."""
        if not self.ready():
            return
        consumer = cast(HandledConsumer, self.app.consumer)
        try:
            await consumer.unstick(self._source_partitions(), self.settings.stall_s)
        except (KafkaError, TimeoutError) as error:
            log.warning("could not check the partitions for stalls: %r", error)

    def _source_partitions(self) -> set[TP]:
        actives: set[TP] = self.app.assignor.assigned_actives()
        return {tp for tp in actives if tp.topic in self.source.topics}

    def _active_partitions(self) -> set[int]:
        actives: set[TP] = self.app.assignor.assigned_actives()
        return {tp.partition for tp in actives if tp.topic == self.topics.plans}

    def _load(self, key: str) -> GoalState | None:
        unstored = self._unstored.get(key)
        if unstored is not None:
            return unstored.state
        value = self.table.get(key)
        if value is None:
            return None
        return self._parsed.take(key, value) or _parse(value)

    async def _store(self, key: str, partition: int, state: GoalState) -> None:
        await self._stored(key, partition, state, _dump(partition, state))

    async def _stored(self, key: str, partition: int, state: GoalState, value: bytes) -> None:
        """Writes the state and waits until its changelog record is acknowledged by the
        broker: only then may the record that changed it be acknowledged."""
        await (await self._write(key, partition, value))
        self._written(key, partition, state, value)
        # Written whole: the next store need not write it again (its records wait for that
        # store all the same, to be acknowledged in order).
        self._unstored.pop(key, None)

    async def _write(self, key: str, partition: int, value: bytes) -> Awaitable[Any]:
        self.table.data[key] = value  # the local copy; the changelog write follows
        return await self.table.write(partition, key, value)

    def _written(self, key: str, partition: int, state: GoalState, value: bytes) -> None:
        """Once the broker has the write: the state's deadlines, and its parsed copy."""
        self._index(key, partition, state)
        self._parsed.keep(key, value, state)

    async def _forget(self, key: str, partition: int) -> None:
        """Deletes an expired state: a tombstone on the changelog, which compaction keeps
        only until the key is gone."""
        self.table.data.pop(key, None)
        self._parsed.forget(key)
        await (await self.table.write(partition, key, None))
        self._deadlines.discard(key)
        self._expiries.discard(key)

    def _index(self, key: str, partition: int, state: GoalState) -> None:
        due = state.due()  # its deadline, or an approval's timeout
        if due is None:
            self._deadlines.discard(key)
        else:
            self._deadlines.put(key, due, partition)
        expires = state.expires_at(self.limits.retention, self.limits.unplanned_ttl)
        if expires is None:
            self._expiries.discard(key)
        else:
            self._expiries.put(key, expires, partition)

    async def publish(self, events: Iterable[Event]) -> None:
        """Sends every event, then waits until the broker has acknowledged all of them."""
        await self._sent(tracing.sending(events, lambda event: topic_for(event, self.topics)))

    async def _sent(self, events: list[Event]) -> None:
        """Sends events already traced, then waits until the broker has acknowledged all.
        Straight to faust's producer: a topic's `send` adds faust's message objects, its
        sensors and a callback per record, none of which the aggregator uses."""
        producer = self.app.producer
        pending = [
            await producer.send(
                topic, event.key, await encoded(event, topic), None, None, headers_for(event)
            )
            for event in events
            for topic in [topic_for(event, self.topics)]
        ]
        if pending:
            await asyncio.gather(*pending)
            metrics.goals_ended(events)

    async def dead_letter(self, record: EventT[bytes], error: PoisonRecord) -> None:
        message = record.message
        log.warning("dead letter from %s[%d]@%d: %s", *message.tp, message.offset, error)
        headers = dead_letter_headers(
            topic=message.topic, partition=message.partition, offset=message.offset, error=error
        )
        sink = self._sink(self.topics.dlq(message.topic))
        await (await sink.send(key=message.key, value=message.value, headers=headers))
        metrics.topic_metrics(self._group, message.topic).dead_lettered(error.kind)

    def _sink(self, topic: str) -> faust.TopicT:
        if topic not in self._sinks:
            self._sinks[topic] = self.app.topic(topic, key_serializer="raw", value_serializer="raw")
        return self._sinks[topic]


_STORED = TypeAdapter(Stored)


def _dump(partition: int, state: GoalState) -> bytes:
    """A table value as JSON bytes, written straight from the model (no `str` between)."""
    return _STORED.dump_json(Stored(partition=partition, state=state))


def _parse(value: bytes) -> GoalState:
    return Stored.model_validate_json(value).state


def _where(record: EventT[bytes]) -> str:
    """The record's key: what a test's fault switch names."""
    return (record.message.key or b"").decode(errors="replace")
