"""What a chaos run left behind, read from the topics (from the beginning) and from
PostgreSQL: every accepted goal's outcome, duplicates, redeliveries and repeated LLM calls."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from podium_common.avro import codec
from podium_common.events import (
    Event,
    GoalCompleted,
    GoalFailed,
    PlanCreated,
    PlanningStarted,
    TaskAssigned,
    TaskResult,
    TokenUsage,
)
from podium_common.kafka import client_options
from podium_common.settings import KafkaSettings
from podium_common.topics import TaskType

log = logging.getLogger("chaos")

WORKER_ROLES = ("researcher", "specialist", "validator", "synthesizer")
# LLM calls that answered (a refusal and a malformed reply are answers too): one per task
# attempt or planning ask when nothing is done twice.
ANSWERED = ("ok", "refused", "malformed")


async def read_topic(kafka: KafkaSettings, topic: str) -> list[Event]:
    """Every event on `topic`, from the beginning to its end as of now."""
    consumer = AIOKafkaConsumer(
        **client_options(kafka), enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(kafka.partitions)]
        consumer.assign(partitions)
        end = await consumer.end_offsets(partitions)
        events: list[Event] = []
        while any([await consumer.position(tp) < end[tp] for tp in partitions]):
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                events += [codec().decode(record.value or b"") for record in records]
        return events
    finally:
        await consumer.stop()


@dataclass
class Findings:
    """The run's counts; `violations` says what broke a promise, one line each."""

    goals: int = 0
    completed: int = 0
    failed: int = 0
    lost: int = 0
    duplicate_outputs: int = 0
    republished_outputs: int = 0
    redelivered_tasks: int = 0
    duplicate_llm_calls: int = 0
    violations: list[str] = field(default_factory=list)


def outcomes_by_goal(events: Iterable[Event]) -> dict[uuid.UUID, list[Event]]:
    found: dict[uuid.UUID, list[Event]] = defaultdict(list)
    for event in events:
        if isinstance(event, GoalCompleted | GoalFailed):
            found[event.goal_id].append(event)
    return found


async def wait_for_outcomes(
    kafka: KafkaSettings, dsn: str, goals: Sequence[uuid.UUID], within_s: float
) -> list[uuid.UUID]:
    """Waits until every goal has an outcome on `outputs` and a final status in PostgreSQL;
    returns the goals still without one after `within_s`."""
    give_up = time.monotonic() + within_s
    while True:
        ended = outcomes_by_goal(await read_topic(kafka, kafka.topics.outputs))
        statuses = await pg_statuses(dsn)
        waiting = [
            g for g in goals if g not in ended or statuses.get(g) not in ("completed", "failed")
        ]
        if not waiting or time.monotonic() > give_up:
            return waiting
        log.info("waiting for %d goals to end, e.g. %s", len(waiting), waiting[0])
        await asyncio.sleep(3)


async def describe_stuck(dsn: str, goals: Sequence[uuid.UUID]) -> list[str]:
    """A line per goal that never ended: its status and the events PostgreSQL holds for it."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT g.goal_id, g.status, "
            "  (SELECT string_agg(e.type, ' ' ORDER BY e.seq) FROM events e "
            "   WHERE e.goal_id = g.goal_id AND e.run = g.run) AS events "
            "FROM goals g WHERE g.run = 1 AND g.goal_id = ANY($1::uuid[])",
            list(goals),
        )
    finally:
        await conn.close()
    known = {row["goal_id"]: row for row in rows}
    return [
        f"goal {goal_id} never ended: "
        + (
            f"{known[goal_id]['status']}; events {known[goal_id]['events']}"
            if goal_id in known
            else "no row in PostgreSQL"
        )
        for goal_id in goals
    ]


async def pg_statuses(dsn: str) -> dict[uuid.UUID, str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT goal_id, status FROM goals WHERE run = 1")
    finally:
        await conn.close()
    return {row["goal_id"]: row["status"] for row in rows}


async def pg_outcomes(dsn: str) -> tuple[dict[uuid.UUID, dict[str, Any]], Counter[uuid.UUID]]:
    """Each goal's row (status, reason) and how many outcome events were recorded for it."""
    conn = await asyncpg.connect(dsn)
    try:
        goals = await conn.fetch("SELECT goal_id, status, reason_kind FROM goals WHERE run = 1")
        counted = await conn.fetch(
            "SELECT goal_id, count(*) AS n FROM events "
            "WHERE type IN ('GoalCompleted', 'GoalFailed') GROUP BY goal_id"
        )
    finally:
        await conn.close()
    rows = {row["goal_id"]: dict(row) for row in goals}
    return rows, Counter({row["goal_id"]: row["n"] for row in counted})


async def findings(
    kafka: KafkaSettings, dsn: str, accepted: Sequence[uuid.UUID], llm_stats: dict[str, Any]
) -> Findings:
    topics = kafka.topics
    outputs = await read_topic(kafka, topics.outputs)
    results = [e for e in await read_topic(kafka, topics.results) if isinstance(e, TaskResult)]
    plans = await read_topic(kafka, topics.plans)
    assigned = [
        event
        for task_type in TaskType
        for event in await read_topic(kafka, topics.tasks(task_type))
        if isinstance(event, TaskAssigned)
    ]
    rows, recorded = await pg_outcomes(dsn)
    found = Findings(goals=len(accepted))
    judge_outcomes(found, accepted, outcomes_by_goal(outputs), rows, recorded)
    found.redelivered_tasks = redelivered(results, assigned)
    found.duplicate_llm_calls = duplicate_calls(llm_stats, results, plans)
    found.violations += counted_twice(outputs, results, plans)
    return found


def redelivered(results: Sequence[TaskResult], assigned: Sequence[TaskAssigned]) -> int:
    """Task records a worker process took over from another: for each task attempt, the
    processes that published a result for it beyond the copies of it that were dispatched.
    A record is handled by one process unless it is redelivered (a restarted process has a
    new pid), so each process beyond the copies is a redelivery; an attempt dispatched twice
    (a replayed plan or result) or one process publishing twice is not one."""
    copies = Counter((task.task_id, task.attempt) for task in assigned)
    processes: dict[tuple[str, int], set[str]] = defaultdict(set)
    for result in results:
        processes[(result.task_id, result.attempt)].add(result.worker_id)
    return sum(max(0, len(seen) - copies[attempt]) for attempt, seen in processes.items())


def judge_outcomes(
    found: Findings,
    accepted: Sequence[uuid.UUID],
    ended: Mapping[uuid.UUID, Sequence[Event]],
    rows: Mapping[uuid.UUID, Mapping[str, Any]],
    recorded: Counter[uuid.UUID],
) -> None:
    for goal_id in accepted:
        outcomes, row = ended.get(goal_id, ()), rows.get(goal_id)
        distinct = len({outcome_said(outcome) for outcome in outcomes})
        doubled = max(0, distinct - 1) + max(0, recorded[goal_id] - 1)
        found.duplicate_outputs += doubled
        found.republished_outputs += len(outcomes) - distinct
        if doubled:
            found.violations.append(
                f"goal {goal_id}: {distinct} different outcomes on outputs, "
                f"{recorded[goal_id]} outcome events in PostgreSQL"
            )
        if not outcomes or row is None or row["status"] not in ("completed", "failed"):
            found.lost += 1
            found.violations.append(
                f"goal {goal_id}: {len(outcomes)} outcomes on outputs, "
                f"{row['status'] if row else 'no row'} in PostgreSQL"
            )
            continue
        outcome = outcomes[0]
        if isinstance(outcome, GoalCompleted):
            found.completed += 1
        elif isinstance(outcome, GoalFailed):
            found.failed += 1
            if not outcome.reason:
                found.violations.append(f"goal {goal_id} failed without a reason")
        expected = "completed" if isinstance(outcome, GoalCompleted) else "failed"
        if row["status"] != expected:
            found.violations.append(f"goal {goal_id}: {expected} on outputs, {row['status']} in PG")


def outcome_said(event: Event) -> tuple[object, ...]:
    """What an outcome record tells a reader that dedupes by event id: its id, its kind and
    its answer or reason. A copy published again after a crash (the same deterministic id,
    the same outcome) is one outcome; two that differ in any of these double the goal. The
    totals are left out: a copy's wall time is measured when it is published."""
    if isinstance(event, GoalCompleted):
        return (event.event_id, "completed", event.output)
    if isinstance(event, GoalFailed):
        return (event.event_id, "failed", event.kind, event.reason)
    return (event.event_id, type(event).__name__)


def duplicate_calls(
    llm_stats: dict[str, Any], results: Sequence[TaskResult], plans: Sequence[Event]
) -> int:
    """Answered LLM calls beyond one per distinct task attempt and planning ask."""
    by_role: dict[str, dict[str, int]] = llm_stats.get("by_role_outcome", {})

    def answered(role: str) -> int:
        return sum(by_role.get(role, {}).get(outcome, 0) for outcome in ANSWERED)

    attempts = len({(r.task_id, r.attempt) for r in results})
    asks = len({e.event_id for e in plans if isinstance(e, PlanningStarted)})
    workers = sum(answered(role) for role in WORKER_ROLES)
    return max(0, workers - attempts) + max(0, answered("planner") - asks)


def counted_twice(
    outputs: Sequence[Event], results: Sequence[TaskResult], plans: Sequence[Event]
) -> list[str]:
    """Completed goals whose totals count a task result more than once: their token usage
    must equal the plan's plus one of each distinct (task, attempt) result."""
    usage: dict[uuid.UUID, TokenUsage] = defaultdict(TokenUsage)
    seen: set[tuple[str, int]] = set()
    for result in results:
        if (result.task_id, result.attempt) not in seen:
            seen.add((result.task_id, result.attempt))
            usage[result.goal_id] = usage[result.goal_id] + result.usage
    # A goal planned again after a crash has its plan twice (one event id, the usage of
    # each ask): the first is the one the aggregator and the recorder keep.
    planned: dict[uuid.UUID, TokenUsage] = {}
    for event in plans:
        if isinstance(event, PlanCreated) and event.run == 1:
            planned.setdefault(event.goal_id, event.usage)
    wrong = []
    for outcome in outputs:
        if not isinstance(outcome, GoalCompleted) or outcome.goal_id not in planned:
            continue
        expected = planned[outcome.goal_id] + usage[outcome.goal_id]
        if outcome.totals.usage != expected:
            wrong.append(
                f"goal {outcome.goal_id}: totals {outcome.totals.usage} but its plan and "
                f"distinct results add up to {expected}"
            )
    return wrong
