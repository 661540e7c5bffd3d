"""The gateway's SQL over the recorder's read model; every transient failure is `Unavailable`."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from podium_common import apikeys
from podium_common.errors import Unavailable
from podium_common.events import GoalSubmitted
from podium_common.postgres import create_pool, transient_as_unavailable
from podium_common.settings import PostgresSettings

Row = Mapping[str, Any]

# status_rank 0 is the recorder's rank of `queued`: any later event of the goal outranks it.
INSERT_QUEUED = """
INSERT INTO goals (
    goal_id, run, status, status_rank, goal, submitter, tenant, options, submitted_at, updated_at
)
VALUES ($1, $2, 'queued', 0, $3, $4, $5, $6, $7, $7)
ON CONFLICT (goal_id, run) DO NOTHING
"""

# Whether a run waits for a person: a request no decision applies to yet.
WAITING = """EXISTS (
    SELECT 1 FROM approval_states AS a
    WHERE a.goal_id = goals.goal_id AND a.run = goals.run AND a.decided_at IS NULL
) AS waiting_approval"""

SELECT_GOAL = f"SELECT *, {WAITING} FROM goals WHERE goal_id = $1 ORDER BY run DESC LIMIT 1"  # noqa: S608

SELECT_APPROVALS = """
SELECT * FROM approval_states WHERE goal_id = $1 AND run = $2 ORDER BY requested_at, task_id, round
"""

SELECT_TASKS = """
SELECT * FROM task_states WHERE goal_id = $1 AND run = $2
ORDER BY position NULLS LAST, task_id
"""

SELECT_GOALS = f"""
SELECT *, {WAITING} FROM goals
WHERE ($1::text IS NULL OR status = $1) AND ($2::bigint IS NULL OR seq < $2)
  AND ($4::text IS NULL OR tenant = $4)
  AND ($5::text IS NULL OR strpos(lower(goal), lower($5)) > 0
       OR starts_with(goal_id::text, lower($5)))
ORDER BY seq DESC
LIMIT $3
"""  # noqa: S608

# The latest assignment of a task: the TaskAssigned its worker's prompt is made from.
SELECT_ASSIGNED = """
SELECT payload FROM events
WHERE goal_id = $1 AND run = $2 AND type = 'TaskAssigned' AND payload->>'task_id' = $3
ORDER BY seq DESC LIMIT 1
"""

# `settled`: recorded long enough ago that every event recorded before it has committed.
SELECT_EVENTS = """
SELECT seq, type, payload, recorded_at < now() - make_interval(secs => $4) AS settled
FROM events WHERE goal_id = $1 AND run = $2 AND seq > $3
ORDER BY seq
"""


@asynccontextmanager
async def _reading(**context: object) -> AsyncIterator[None]:
    """Unavailable while PostgreSQL is down or the recorder has not created the tables."""
    async with transient_as_unavailable(**context):
        try:
            yield
        except asyncpg.UndefinedTableError as error:
            raise Unavailable("the read model is not migrated yet", **context) from error


class Repository:
    def __init__(self, settings: PostgresSettings) -> None:
        self._settings = settings
        self._pool_or_none: asyncpg.Pool[asyncpg.Record] | None = None

    async def start(self) -> None:
        # Connects lazily: the gateway starts, and accepts goals, while PostgreSQL is down.
        # Its queries leave no session state (no LISTEN, cursor, advisory lock or SET), so a
        # release skips asyncpg's reset: one round trip fewer for every request.
        self._pool_or_none = await create_pool(self._settings, min_size=0, reset_session=False)

    async def stop(self) -> None:
        if self._pool_or_none is not None:
            await self._pool_or_none.close()
            self._pool_or_none = None

    @property
    def _pool(self) -> asyncpg.Pool[asyncpg.Record]:
        if self._pool_or_none is None:
            raise RuntimeError("the repository is not started")
        return self._pool_or_none

    async def ping(self) -> None:
        async with _reading():
            await self._pool.fetchval("SELECT 1")

    async def insert_queued(self, event: GoalSubmitted) -> None:
        """Shows a goal as queued at once, before the recorder has seen its GoalSubmitted."""
        async with _reading(goal_id=event.goal_id):
            await self._pool.execute(
                INSERT_QUEUED,
                event.goal_id,
                event.run,
                event.goal,
                event.submitter,
                event.tenant,
                event.options.model_dump(mode="json"),
                event.occurred_at,
            )

    async def goal(self, goal_id: uuid.UUID) -> tuple[Row, Sequence[Row]] | None:
        """The latest run of a goal and its tasks, or None for a goal never recorded."""
        async with _reading(goal_id=goal_id), self._pool.acquire() as connection:
            goal = await connection.fetchrow(SELECT_GOAL, goal_id)
            if goal is None:
                return None
            tasks = await connection.fetch(SELECT_TASKS, goal_id, goal["run"])
            approvals = await connection.fetch(SELECT_APPROVALS, goal_id, goal["run"])
        # What waited, or waits, for a person, with its decision: part of the goal's view.
        return {**dict(goal), "approvals": [dict(a) for a in approvals]}, [dict(t) for t in tasks]

    async def goals(
        self,
        status: str | None,
        limit: int,
        before: int | None,
        tenant: str | None = None,
        text: str | None = None,
    ) -> Sequence[Row]:
        """Goals newest first, from the one recorded before `before`; one tenant's if given;
        only those whose text holds `text` (any case) or whose id starts with it, if given."""
        async with _reading():
            rows = await self._pool.fetch(SELECT_GOALS, status, before, limit, tenant, text)
        return [dict(row) for row in rows]

    async def assignment(self, goal_id: uuid.UUID, run: int, task_id: str) -> Row | None:
        """The JSON payload of the task's latest TaskAssigned in the run, or None."""
        async with _reading(goal_id=goal_id):
            payload = await self._pool.fetchval(SELECT_ASSIGNED, goal_id, run, task_id)
        return dict(payload) if payload is not None else None

    async def api_key(self, token: str) -> apikeys.ApiKey | None:
        async with _reading():
            return await apikeys.verify(self._pool, token)

    async def events(
        self, goal_id: uuid.UUID, run: int, after: int, settle_s: float
    ) -> Sequence[Row]:
        async with _reading(goal_id=goal_id):
            rows = await self._pool.fetch(SELECT_EVENTS, goal_id, run, after, settle_s)
        return [dict(row) for row in rows]
