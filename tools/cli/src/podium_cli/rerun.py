"""Resubmits goals that have ended as a new run: the same goal id, text and options, `run + 1`.

The goal is read from PostgreSQL (the recorder's read model), its latest run; a run that
has not ended is refused, so that one goal never has two runs going at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg
from pydantic import SecretStr

from podium_cli.errors import CommandError
from podium_common.events import GoalOptions, GoalSubmitted, Trace, derived_id, utcnow
from podium_common.kafka import Publisher
from podium_common.postgres import create_pool
from podium_common.settings import KafkaSettings, PostgresSettings

ENDED = frozenset({"completed", "failed"})

SELECT_LATEST = """
SELECT goal_id, run, status, goal, submitter, tenant, options FROM goals
WHERE goal_id = $1 ORDER BY run DESC LIMIT 1
"""


async def rerun(
    kafka: KafkaSettings, postgres: PostgresSettings, goal_ids: Sequence[uuid.UUID]
) -> list[GoalSubmitted]:
    """Publishes a GoalSubmitted for the next run of each goal; returns them. Checks every
    goal before publishing any."""
    pool = await create_pool(postgres, min_size=0)
    try:
        goals = [
            _next_run(await pool.fetchrow(SELECT_LATEST, goal_id), goal_id) for goal_id in goal_ids
        ]
    finally:
        await pool.close()
    publisher = Publisher(kafka, client_id="podium-cli-rerun")
    await publisher.start()
    try:
        await publisher.publish(goals)
    finally:
        await publisher.stop()
    return goals


def _next_run(row: asyncpg.Record | None, goal_id: uuid.UUID) -> GoalSubmitted:
    if row is None:
        raise CommandError(f"no goal {goal_id} in the read model")
    if row["goal"] is None:
        raise CommandError(f"goal {goal_id} has no recorded submission: nothing to run again")
    if row["status"] not in ENDED:
        raise CommandError(
            f"goal {goal_id} run {row['run']} is {row['status']}: wait for it to end, "
            "or cancel it (DELETE /goals/{id}), then rerun"
        )
    run = int(row["run"]) + 1
    return GoalSubmitted(
        event_id=derived_id("goal", goal_id, run),
        goal_id=goal_id,
        run=run,
        occurred_at=utcnow(),
        trace=Trace.new(),
        goal=row["goal"],
        submitter=row["submitter"] or "anonymous",
        tenant=row["tenant"] or "default",
        options=GoalOptions.model_validate(row["options"] or {}),
    )


def postgres_settings(base: PostgresSettings, dsn: str) -> PostgresSettings:
    return base.model_copy(update={"dsn": SecretStr(dsn)})
