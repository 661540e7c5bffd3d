"""Resubmits goals that have ended as a new run (`podium_common.reruns`): the same goal id,
text and options, `run + 1`.

The goal is read from PostgreSQL (the recorder's read model), its latest run; a run that
has not ended is refused, so that one goal never has two runs going at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from pydantic import SecretStr

from podium_cli.errors import CommandError
from podium_common.events import GoalSubmitted, Trace
from podium_common.kafka import Publisher
from podium_common.postgres import create_pool
from podium_common.reruns import NoSuchGoal, NotEnded, next_run
from podium_common.settings import KafkaSettings, PostgresSettings

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
        goals = []
        for goal_id in goal_ids:
            row = await pool.fetchrow(SELECT_LATEST, goal_id)
            try:
                goals.append(next_run(dict(row) if row else None, goal_id, Trace.new()))
            except (NoSuchGoal, NotEnded) as error:
                raise CommandError(error.message) from error
    finally:
        await pool.close()
    publisher = Publisher(kafka, client_id="podium-cli-rerun")
    await publisher.start()
    try:
        await publisher.publish(goals)
    finally:
        await publisher.stop()
    return goals


def postgres_settings(base: PostgresSettings, dsn: str) -> PostgresSettings:
    return base.model_copy(update={"dsn": SecretStr(dsn)})
