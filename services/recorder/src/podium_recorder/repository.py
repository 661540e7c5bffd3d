"""The recorder's SQL: one transaction per event, recording it and upserting its projection.

Every upsert commutes with every other: the goal's status moves only to a higher rank,
fields an event does not know keep their value, and attempts are keyed by
`(task_id, attempt)`. An event already recorded (same `event_id`) changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import fields
from typing import Any

import asyncpg

from podium_common.postgres import transient_as_unavailable
from podium_recorder.rows import (
    Assignment,
    AttemptResult,
    EventRow,
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


def _values(row: Any) -> tuple[Any, ...]:
    return tuple(getattr(row, field.name) for field in fields(row))


INSERT_EVENT = _insert("events", EventRow, "event_id", "NOTHING RETURNING seq")

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
    position = COALESCE(EXCLUDED.position, old.position)""",
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


class Repository:
    def __init__(self, pool: asyncpg.Pool[asyncpg.Record]) -> None:
        self._pool = pool

    async def record(self, projection: Projection) -> None:
        """Records the event and applies its projection, atomically; raises Unavailable
        while PostgreSQL is down."""
        event = projection.event
        async with (
            transient_as_unavailable(goal_id=event.goal_id, event_id=event.event_id),
            self._pool.acquire() as connection,
            connection.transaction(),
        ):
            seq = await connection.fetchval(INSERT_EVENT, *_values(event))
            if seq is None:
                log.debug("already recorded: %s %s", event.type, event.event_id)
                return
            await connection.execute(UPSERT_GOAL, *_values(projection.goal))
            # Sorted, so that concurrent transactions lock a goal's task rows in one order.
            tasks = sorted(projection.tasks, key=lambda task: task.task_id)
            if tasks:
                await connection.executemany(UPSERT_TASK, [_values(task) for task in tasks])
            if projection.assignment is not None:
                await connection.execute(UPSERT_ASSIGNMENT, *_values(projection.assignment))
            if projection.result is not None:
                await connection.execute(UPSERT_RESULT, *_values(projection.result))
