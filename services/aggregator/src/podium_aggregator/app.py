"""The aggregator's faust app: one agent over `plans` + `results`, a goal table, a deadline timer.

Each record is decoded, applied to its goal's state by `handler.handle`, and the events
that follow are published and acknowledged by the broker *before* the new state is written
to the table. A crash in between replays the record against the old state and publishes
the same events again (same deterministic ids), so nothing is lost; the reverse order could
record a goal as advanced whose events never left.

The table is keyed by `goal_id:run`, but `plans` and `results` are keyed by goal id: a
state's changelog partition is the partition its goal's records arrive on, which faust
takes from the record being handled. The deadline timer writes outside any record, so each
state is stored with its partition (`Stored`), and `GoalTable` uses it there.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import faust
from faust.types import TP, EventT
from mode import CrashingSupervisor
from pydantic import BaseModel

from podium_aggregator.handler import handle, on_tick
from podium_aggregator.settings import AggregatorSettings
from podium_aggregator.state import GoalState
from podium_common.avro import codec
from podium_common.errors import PoisonRecord, UnexpectedEvent
from podium_common.events import (
    Event,
    GoalCancelled,
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


class Stored(BaseModel):
    """A table value: the goal's state and the partition its records arrive on."""

    partition: int
    state: GoalState


class GoalTable(faust.Table[str, bytes]):
    """A table the deadline timer can write to as well as the agent."""

    def partition_for_key(self, key: Any) -> int | None:
        if faust.current_event() is not None:
            return super().partition_for_key(key)
        # Only goals already in the table are written outside a record.
        return Stored.model_validate_json(self.data[key]).partition


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
    return faust.App(
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
    )


class Aggregator:
    """Wires the handler into a faust app; `app` is what a faust worker runs."""

    def __init__(self, settings: AggregatorSettings) -> None:
        self.settings = settings
        self.limits = settings.limits()
        self.topics = settings.kafka.topics
        self.app = create_app(settings)
        self.table = self.app.Table(
            TABLE,
            key_type=str,
            value_type=bytes,
            partitions=settings.kafka.partitions,
        )
        self.source = self.app.topic(
            self.topics.plans, self.topics.results, key_serializer="raw", value_serializer="raw"
        )
        self._sinks: dict[str, faust.TopicT] = {}
        # The agent and the timer take turns with a goal's state.
        self._lock = asyncio.Lock()
        # Open goals with a deadline, by table key; rebuilt from the table after each
        # rebalance (the table then holds what the new assignment recovered).
        self._deadlines: dict[str, tuple[datetime, int]] = {}
        self._recovered = False
        # A bug in the handler stops the process (the record is redelivered on restart)
        # rather than leave a restarted agent behind a record it cannot get past.
        self.app.agent(self.source, name="aggregate", supervisor_strategy=CrashingSupervisor)(
            self._consume
        )
        self.app.timer(settings.tick_interval_s, name="deadlines")(self._tick)
        self.table.on_recover(self._on_recovered)

    def ready(self) -> bool:
        """Recovered its table after the latest rebalance and consuming."""
        return self._recovered and not self.app.rebalancing

    async def _consume(self, stream: faust.StreamT[bytes]) -> None:
        async for record in stream.events():
            await self.on_record(record)

    async def on_record(self, record: EventT[bytes]) -> None:
        message = record.message
        try:
            event = codec().decode(record.value or b"")  # a tombstone is no event
            if not isinstance(
                event, PlanningStarted | PlanCreated | PlanRejected | TaskResult | GoalCancelled
            ):
                raise UnexpectedEvent(
                    f"{type(event).__name__} does not belong on {message.topic}",
                    goal_id=event.goal_id,
                )
        except PoisonRecord as error:
            await self.dead_letter(record, error)
            return
        if isinstance(event, PlanningStarted):
            return  # progress, for the read model only
        async with self._lock:
            key = f"{event.goal_id}:{event.run}"
            state = self._load(key) or GoalState.new(event.goal_id, event.run)
            before = state.model_dump_json()
            await self.publish(handle(state, event, utcnow(), self.limits))
            if state.model_dump_json() != before:
                self._store(key, message.partition, state)

    async def _tick(self) -> None:
        if not self.ready():
            return
        now = utcnow()
        active = self._active_partitions()
        due = [
            (key, partition)
            for key, (deadline, partition) in self._deadlines.items()
            if deadline <= now and partition in active
        ]
        for key, partition in due:
            async with self._lock:
                state = self._load(key)
                events = on_tick(state, now) if state is not None else []
                if state is not None and events:
                    await self.publish(events)
                    self._store(key, partition, state)

    async def _on_recovered(self) -> None:
        self._deadlines = {}
        for key, value in self.table.items():
            stored = Stored.model_validate_json(value)
            self._index(key, stored.partition, stored.state)
        self._recovered = True
        log.info("goal table recovered: %d open goals with a deadline", len(self._deadlines))

    def _active_partitions(self) -> set[int]:
        actives: set[TP] = self.app.assignor.assigned_actives()
        return {tp.partition for tp in actives if tp.topic == self.topics.plans}

    def _load(self, key: str) -> GoalState | None:
        value = self.table.get(key)
        return Stored.model_validate_json(value).state if value is not None else None

    def _store(self, key: str, partition: int, state: GoalState) -> None:
        self.table[key] = Stored(partition=partition, state=state).model_dump_json().encode()
        self._index(key, partition, state)

    def _index(self, key: str, partition: int, state: GoalState) -> None:
        if state.ended or state.deadline is None:
            self._deadlines.pop(key, None)
        else:
            self._deadlines[key] = (state.deadline, partition)

    async def publish(self, events: Iterable[Event]) -> None:
        """Sends every event, then waits until the broker has acknowledged all of them."""
        encode = codec().encode
        pending = [
            await self._sink(topic_for(event, self.topics)).send(
                key=event.key, value=encode(event), headers=headers_for(event)
            )
            for event in events
        ]
        if pending:
            await asyncio.gather(*pending)

    async def dead_letter(self, record: EventT[bytes], error: PoisonRecord) -> None:
        message = record.message
        log.warning("dead letter from %s[%d]@%d: %s", *message.tp, message.offset, error)
        headers = dead_letter_headers(
            topic=message.topic, partition=message.partition, offset=message.offset, error=error
        )
        sink = self._sink(self.topics.dlq(message.topic))
        await (await sink.send(key=message.key, value=message.value, headers=headers))

    def _sink(self, topic: str) -> faust.TopicT:
        if topic not in self._sinks:
            self._sinks[topic] = self.app.topic(topic, key_serializer="raw", value_serializer="raw")
        return self._sinks[topic]
