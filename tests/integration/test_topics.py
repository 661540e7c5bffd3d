"""Podium's topics are created with explicit cleanup and retention configs on the real broker."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from podium_common.admin import delete_topics, ensure_topics
from podium_common.settings import KafkaSettings
from tests.conftest import BOOTSTRAP, require_servers

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


async def configs(bootstrap: str, names: list[str]) -> dict[str, dict[str, str]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
        )
    finally:
        await admin.close()
    found: dict[str, dict[str, str]] = {}
    for response in responses:
        for _code, _message, _type, name, entries in response.resources:
            found[name] = {entry[0]: entry[1] for entry in entries}
    return found


async def test_topics_are_logs_kept_as_configured() -> None:
    require_servers()
    kafka = KafkaSettings(
        bootstrap_servers=BOOTSTRAP,
        topic_prefix=f"t{uuid.uuid4().hex[:12]}.",
        partitions=2,
        retention_ms=86_400_000,
        dlq_retention_ms=-1,
    )
    created = await ensure_topics(kafka)
    assert sorted(created) == sorted(kafka.topics.created())

    topics = kafka.topics
    found = await configs(
        kafka.bootstrap_servers, [topics.goals, topics.dlq(topics.results), topics.heartbeats]
    )

    assert found[topics.goals]["cleanup.policy"] == "delete"
    assert found[topics.goals]["retention.ms"] == "86400000"
    assert found[topics.dlq(topics.results)]["cleanup.policy"] == "delete"
    assert found[topics.dlq(topics.results)]["retention.ms"] == "-1"
    assert found[topics.heartbeats]["cleanup.policy"] == "compact"


async def test_a_prefix_s_topics_are_deleted_and_no_other() -> None:
    require_servers()
    mine, other = (
        KafkaSettings(bootstrap_servers=BOOTSTRAP, topic_prefix=f"t{uuid.uuid4().hex[:12]}.")
        for _ in range(2)
    )
    created, kept = await ensure_topics(mine), await ensure_topics(other)
    try:
        assert sorted(await delete_topics(mine)) == sorted(created)
        async with asyncio.timeout(20):  # the broker's listing follows the deletion
            while leftover := await delete_topics(mine):
                assert set(leftover) <= set(created)
                await asyncio.sleep(0.2)
        assert sorted(await delete_topics(other)) == sorted(kept)
    finally:
        await delete_topics(other)
    with pytest.raises(ValueError, match="no topic prefix"):
        await delete_topics(KafkaSettings(bootstrap_servers=BOOTSTRAP, topic_prefix=""))
