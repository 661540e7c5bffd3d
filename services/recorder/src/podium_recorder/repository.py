"""The recorder's SQL: one transaction per batch of events, recording each new one and
upserting its projection (a batch of one when the events come one at a time).

Every upsert commutes with every other: the goal's status moves only to a higher rank,
fields an event does not know keep their value, and attempts are keyed by
`(task_id, attempt)`. An event already recorded (same `event_id`) changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import fields
from functools import cache
from operator import attrgetter
from typing import Any

import asyncpg

from podium_common.postgres import transient_as_unavailable
from podium_recorder.rows import (
    ApprovalRow,
    Assignment,
    AttemptResult,
    DecisionRow,
    GoalChange,
    Projection,
    TaskRow,
)

log = logging.getLogger(__name__)


def _insert(table: str, row: type[Any], conflict: str, action: str) -> str:
    """An upsert of one row type into the table whose columns its fields name."""
    columns = [field.name for field in fields(row)]
    values = ", ".join(f"${number}" for number in range(1, len(columns) + 1))
    return (
        f"INSERT INTO {table} AS old ({', '.join(columns)}) VALUES ({values}) "  # noqa: S608
        f"ON CONFLICT ({conflict}) DO {action}"
    )


@cache
def _getter(row: type[Any]) -> attrgetter[Any]:
    return attrgetter(*(field.name for field in fields(row)))


def _values(row: Any) -> tuple[Any, ...]:
    """A row's fields in order: the statement's parameters."""
    values: tuple[Any, ...] = _getter(row.__class__)(row)
    return values


# Many events in one statement, numbered (`seq`) in the order given; it returns the ids of
# those not recorded before.
INSERT_EVENTS = """INSERT INTO events (event_id, goal_id, run, type, topic, occurred_at, payload)
SELECT event_id, goal_id, run, type, topic, occurred_at, payload::jsonb
FROM unnest($1::uuid[], $2::uuid[], $3::integer[], $4::text[], $5::text[],
            $6::timestamptz[], $7::text[]) WITH ORDINALITY
    AS new (event_id, goal_id, run, type, topic, occurred_at, payload, position)
ORDER BY position
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id"""

# A later status wins only with a higher rank; what an event does not know stays.
UPSERT_GOAL = _insert(
    "goals",
    GoalChange,
    "goal_id, run",
    """UPDATE SET
    status = CASE WHEN EXCLUDED.status_rank > old.status_rank
        THEN EXCLUDED.status ELSE old.status END,
    reason_kind = CASE WHEN EXCLUDED.status_rank > old.status_rank
        THEN EXCLUDED.reason_kind ELSE old.reason_kind END,
    reason_message = CASE WHEN EXCLUDED.status_rank > old.status_rank
        THEN EXCLUDED.reason_message ELSE old.reason_message END,
    status_rank = GREATEST(old.status_rank, EXCLUDED.status_rank),
    updated_at = GREATEST(old.updated_at, EXCLUDED.updated_at),
    goal = COALESCE(EXCLUDED.goal, old.goal),
    submitter = COALESCE(EXCLUDED.submitter, old.submitter),
    tenant = COALESCE(EXCLUDED.tenant, old.tenant),
    options = COALESCE(EXCLUDED.options, old.options),
    submitted_at = COALESCE(EXCLUDED.submitted_at, old.submitted_at),
    plan = COALESCE(EXCLUDED.plan, old.plan),
    deadline = COALESCE(EXCLUDED.deadline, old.deadline),
    planning_prompt_tokens = COALESCE(EXCLUDED.planning_prompt_tokens, old.planning_prompt_tokens),
    planning_completion_tokens =
        COALESCE(EXCLUDED.planning_completion_tokens, old.planning_completion_tokens),
    output = COALESCE(EXCLUDED.output, old.output),
    outcome_totals = COALESCE(EXCLUDED.outcome_totals, old.outcome_totals),
    completed_at = COALESCE(EXCLUDED.completed_at, old.completed_at)""",
)

UPSERT_TASK = _insert(
    "tasks",
    TaskRow,
    "task_id",
    """UPDATE SET
    final = old.final OR EXCLUDED.final,
    description = COALESCE(EXCLUDED.description, old.description),
    requirements = COALESCE(EXCLUDED.requirements, old.requirements),
    depends_on = COALESCE(EXCLUDED.depends_on, old.depends_on),
    position = COALESCE(EXCLUDED.position, old.position),
    parent_id = COALESCE(EXCLUDED.parent_id, old.parent_id),
    depth = GREATEST(EXCLUDED.depth, old.depth)""",
)

UPSERT_ASSIGNMENT = _insert(
    "task_attempts",
    Assignment,
    "task_id, attempt",
    """UPDATE SET
    assigned_at = EXCLUDED.assigned_at,
    feedback = EXCLUDED.feedback,
    -- the model a result reports is the one that answered: it wins over the requested one
    model = COALESCE(old.model, EXCLUDED.model)""",
)

# The result's columns, from its own fields: a redelivered result rewrites the same values.
UPSERT_RESULT = _insert(
    "task_attempts",
    AttemptResult,
    "task_id, attempt",
    "UPDATE SET "
    + ", ".join(
        f"{field.name} = EXCLUDED.{field.name}"
        for field in fields(AttemptResult)
        if field.name not in {"task_id", "attempt", "goal_id", "run"}
    ),
)


# Requests and decisions are recorded as they were published, once.
INSERT_APPROVAL = _insert("approvals", ApprovalRow, "task_id, round", "NOTHING")
INSERT_DECISION = _insert("approval_decisions", DecisionRow, "event_id", "NOTHING")


class Repository:
    def __init__(self, pool: asyncpg.Pool[asyncpg.Record]) -> None:
        self._pool = pool

    async def record(self, projection: Projection) -> None:
        await self.record_many([projection])

    async def record_many(self, projections: Sequence[Projection]) -> None:
        """Records the events and applies the projections of those not recorded before, in
        one transaction; raises Unavailable while PostgreSQL is down."""
        # Numbered in the order they happened: a batch holds the records of many partitions,
        # in no order between them, and a goal's progress is read back by number.
        unique = sorted(
            {p.event.event_id: p for p in projections}.values(),
            key=lambda p: p.event.occurred_at,
        )
        first = unique[0].event
        async with (
            transient_as_unavailable(goal_id=first.goal_id, event_id=first.event_id),
            self._pool.acquire() as connection,
            connection.transaction(),
        ):
            new = {
                row["event_id"] for row in await connection.fetch(INSERT_EVENTS, *_columns(unique))
            }
            fresh = [p for p in unique if p.event.event_id in new]
            if len(fresh) < len(unique):
                log.debug(
                    "already recorded: %d of %d events", len(unique) - len(fresh), len(unique)
                )
            # In key order, so that concurrent transactions lock shared rows in one order.
            goals = sorted((p.goal for p in fresh), key=lambda g: (g.goal_id, g.run))
            tasks = sorted((t for p in fresh for t in p.tasks), key=lambda t: t.task_id)
            assignments = sorted(
                (p.assignment for p in fresh if p.assignment is not None), key=_attempt_key
            )
            results = sorted((p.result for p in fresh if p.result is not None), key=_attempt_key)
            approvals = sorted(
                (p.approval for p in fresh if p.approval is not None),
                key=lambda row: (row.task_id, row.round),
            )
            decisions = sorted(
                (p.decision for p in fresh if p.decision is not None), key=lambda row: row.event_id
            )
            for statement, rows in (
                (UPSERT_GOAL, goals),
                (UPSERT_TASK, tasks),
                (UPSERT_ASSIGNMENT, assignments),
                (UPSERT_RESULT, results),
                (INSERT_APPROVAL, approvals),
                (INSERT_DECISION, decisions),
            ):
                if rows:
                    await connection.executemany(statement, [_values(row) for row in rows])


def _columns(projections: Sequence[Projection]) -> list[list[Any]]:
    """The events' rows as one array per column, for `unnest`; payloads as JSON text."""
    rows = [_values(p.event) for p in projections]
    return [list(column) for column in zip(*rows, strict=True)]


def _attempt_key(row: Assignment | AttemptResult) -> tuple[str, int]:
    return (row.task_id, row.attempt)
