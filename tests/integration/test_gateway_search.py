"""The console's goal search on the real read model: by text in any case, or by id prefix,
over every goal of the tenant, not one page."""

from __future__ import annotations

import uuid

import pytest

from podium_common.events import GoalSubmitted
from podium_common.settings import PostgresSettings
from podium_gateway.repository import Repository
from podium_recorder import migrations

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def submitted(text: str, tenant: str = "default") -> GoalSubmitted:
    return GoalSubmitted.accepted(text, tenant=tenant)


async def test_search_finds_text_and_id_prefixes_across_pages(pg_dsn: str) -> None:
    await migrations.apply(pg_dsn)
    repository = Repository(PostgresSettings(dsn=pg_dsn))
    await repository.start()
    try:
        wanted = submitted("Compare 100% of the QUEUES_x")
        others = [submitted(f"goal {n}") for n in range(10)]
        elsewhere = submitted("queues of another tenant", tenant="other")
        for event in (wanted, *others, elsewhere):
            await repository.insert_queued(event)

        def ids(rows: object) -> list[uuid.UUID]:
            return [row["goal_id"] for row in rows]  # type: ignore[attr-defined]

        assert wanted.goal_id not in ids(await repository.goals(None, 5, None))
        found = await repository.goals(None, 5, None, "default", "queues_X")
        assert ids(found) == [wanted.goal_id]
        assert ids(await repository.goals(None, 5, None, "default", "100%")) == [wanted.goal_id]
        assert ids(await repository.goals(None, 5, None, "default", "1_0%")) == []
        prefix = str(wanted.goal_id)[:8].upper()
        assert ids(await repository.goals(None, 5, None, None, prefix)) == [wanted.goal_id]
        assert ids(await repository.goals("failed", 5, None, None, "queues")) == []
        both = await repository.goals(None, 5, None, None, "queues")
        assert set(ids(both)) == {wanted.goal_id, elsewhere.goal_id}
    finally:
        await repository.stop()
