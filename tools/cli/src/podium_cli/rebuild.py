"""Rebuilds the read model: every topic the recorder reads, replayed from its first record
into an empty PostgreSQL database with the recorder's own migrations and projection.

The end offsets are taken when the replay starts, and the replay stops there: what is
published meanwhile is left to the recorder. Records go through the recorder's `handle` and
group commit, so the rows come out as the recorder would write them. A record that does not
decode, or that the projection refuses, is counted and named in the report (the recorder
parks those as dead letters); PostgreSQL going away stops the rebuild with an error.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from pydantic import SecretStr

from podium_cli.errors import CommandError
from podium_cli.target import Target, create_if_missing, refuse_non_empty
from podium_common.admin import partition_counts
from podium_common.avro import codec
from podium_common.errors import PodiumError, Unavailable
from podium_common.events import Event
from podium_common.kafka import client_options
from podium_common.postgres import create_pool
from podium_common.settings import KafkaSettings, PostgresSettings
from podium_recorder import migrations
from podium_recorder.batching import GroupCommit
from podium_recorder.handler import handle
from podium_recorder.repository import Repository

Project = Callable[[Event], Awaitable[object]]

# Records handled together: the group commit writes them in one transaction.
BATCH = 500


@dataclass
class Report:
    database: str
    created: bool = False
    records: Counter[str] = field(default_factory=Counter)  # per topic, contract names
    skipped: list[str] = field(default_factory=list)  # one line per record left out
    goals: int = 0
    runs: int = 0
    elapsed_s: float = 0.0

    def lines(self) -> list[str]:
        width = max((len(topic) for topic in self.records), default=0)
        found = [f"  {topic:<{width}}  {count:>8} records" for topic, count in self.records.items()]
        left_out = [f"  skipped: {line}" for line in self.skipped]
        made = " (created)" if self.created else ""
        return [
            f"rebuilt {self.database}{made} from {len(self.records)} topics "
            f"in {self.elapsed_s:.1f}s: {self.records.total()} records",
            *found,
            *left_out,
            f"goals: {self.goals} ({self.runs} runs)",
        ]


async def rebuild(kafka: KafkaSettings, target: Target, *, allow_non_empty: bool) -> Report:
    """Creates the target if missing, refuses it if it holds rows (unless allowed), migrates
    it, and projects every record below the end offsets observed at start."""
    started = time.monotonic()
    created = await create_if_missing(target)
    if not allow_non_empty:
        await refuse_non_empty(target)
    await migrations.apply(target.dsn)
    pool = await create_pool(
        PostgresSettings(dsn=SecretStr(target.dsn), min_pool=0), reset_session=False
    )
    report = Report(database=target.name, created=created)
    try:
        store = GroupCommit(Repository(pool), max_batch=BATCH)
        await replay(kafka, functools.partial(handle, store=store), report)
        report.goals = await pool.fetchval("SELECT count(DISTINCT goal_id) FROM goals")
        report.runs = await pool.fetchval("SELECT count(*) FROM goals")
    finally:
        await pool.close()
    report.elapsed_s = time.monotonic() - started
    return report


async def replay(kafka: KafkaSettings, project: Project, report: Report) -> None:
    """Reads every partition of the recorder's topics from its beginning up to the end
    offset it had when the replay started, projecting each record."""
    topics = kafka.topics
    consumer = AIOKafkaConsumer(
        **client_options(kafka),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=BATCH,
    )
    await consumer.start()
    try:
        partitions = await _partitions(kafka, topics.all(with_dlq=False))
        for topic in topics.all(with_dlq=False):
            report.records[topics.unprefixed(topic)] = 0
        ends = await consumer.end_offsets(partitions)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        remaining = {tp for tp in partitions if await consumer.position(tp) < ends[tp]}
        while remaining:
            fetched = await consumer.getmany(*remaining, timeout_ms=1000, max_records=BATCH)
            records = [
                record
                for tp, batch in fetched.items()
                for record in batch
                if record.offset < ends[tp]
            ]
            await _project_all(records, project, report, topics.unprefixed)
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
                    consumer.pause(tp)
    finally:
        await consumer.stop()


async def _partitions(kafka: KafkaSettings, names: Sequence[str]) -> list[TopicPartition]:
    counts = await partition_counts(kafka, list(names))
    if not counts:
        raise CommandError(
            f"none of the topics exists ({', '.join(names)}): check PODIUM_KAFKA__BOOTSTRAP_SERVERS"
            " and PODIUM_KAFKA__TOPIC_PREFIX"
        )
    return [
        TopicPartition(name, partition)
        for name in names
        for partition in range(counts.get(name, 0))
    ]


async def _project_all(
    records: list[ConsumerRecord[bytes, bytes]],
    project: Project,
    report: Report,
    contract_name: Callable[[str], str],
) -> None:
    decoded: list[tuple[ConsumerRecord[bytes, bytes], Event]] = []
    for record in records:
        try:
            decoded.append((record, codec().decode(record.value or b"")))
        except PodiumError as error:
            report.skipped.append(f"{_where(record)}: {error}")
    outcomes = await asyncio.gather(
        *(project(event) for _, event in decoded), return_exceptions=True
    )
    for (record, _), outcome in zip(decoded, outcomes, strict=True):
        if isinstance(outcome, Unavailable):
            raise CommandError(f"PostgreSQL went away during the rebuild: {outcome}")
        if isinstance(outcome, BaseException):
            if not isinstance(outcome, Exception):
                raise outcome  # cancelled, interrupted: not a record's fault
            report.skipped.append(f"{_where(record)}: {outcome!r}")
            continue
        report.records[contract_name(record.topic)] += 1


def _where(record: ConsumerRecord[bytes, bytes]) -> str:
    return f"{record.topic}[{record.partition}]@{record.offset}"
