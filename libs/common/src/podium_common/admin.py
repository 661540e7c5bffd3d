"""Creates Podium's topics, checks that the joined topics are co-partitioned, and deletes a
prefix's topics (tests and benchmarks on a shared broker)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError

from podium_common.errors import ConfigError, Unavailable
from podium_common.kafka import client_options
from podium_common.settings import KafkaSettings
from podium_common.topics import CO_PARTITIONED, DLQ_SUFFIX

log = logging.getLogger(__name__)


async def ensure_topics(settings: KafkaSettings) -> list[str]:
    """Creates every missing topic (idempotent); returns the names it created."""
    admin = AIOKafkaAdminClient(**client_options(settings), client_id="podium-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [name for name in settings.topics.created() if name not in existing]
        created = []
        for name in wanted:
            try:
                await admin.create_topics(
                    [
                        NewTopic(
                            name,
                            settings.partitions,
                            settings.replication_factor,
                            topic_configs=topic_configs(settings, name),
                        )
                    ]
                )
                created.append(name)
            except TopicAlreadyExistsError:
                pass  # created meanwhile by another process: what we wanted
        if created:
            log.info("created %d topics with %d partitions", len(created), settings.partitions)
            await _until_listed(admin, created)
        await _check_co_partitioned(admin, settings)
        return created
    finally:
        await admin.close()


async def delete_topics(settings: KafkaSettings) -> list[str]:
    """Deletes every topic under the settings' prefix (the aggregator's changelog too) and
    returns their names: runs that share one broker each leave a prefix's worth, and
    thousands of leftover partitions slow the broker down."""
    if not settings.topic_prefix:
        raise ValueError("no topic prefix: that would delete every topic")
    admin = AIOKafkaAdminClient(**client_options(settings), client_id="podium-admin")
    await admin.start()
    try:
        names = [
            name for name in await admin.list_topics() if name.startswith(settings.topic_prefix)
        ]
        if names:
            with contextlib.suppress(UnknownTopicOrPartitionError):  # deleted meanwhile
                await admin.delete_topics(names)
        return names
    finally:
        await admin.close()


def topic_configs(settings: KafkaSettings, name: str) -> dict[str, str]:
    """What a topic is created with, spelled out rather than left to the broker's defaults:
    every topic of Podium is an append-only log (`delete`, never `compact`: events are not
    keyed updates), kept for `retention_ms` (dead letters for `dlq_retention_ms`); but the
    heartbeats, where only each worker's latest beat matters (`compact`)."""
    if name == settings.topics.heartbeats:
        return {"cleanup.policy": "compact", "segment.ms": "3600000"}
    is_dlq = settings.topics.unprefixed(name).endswith(DLQ_SUFFIX)
    retention = settings.dlq_retention_ms if is_dlq else settings.retention_ms
    return {"cleanup.policy": "delete", "retention.ms": str(retention)}


async def _until_listed(admin: AIOKafkaAdminClient, names: list[str], within_s: float = 60) -> None:
    """Waits until the broker's metadata lists topics it has just created (a broker holding
    thousands of topics, as a long test run leaves one, takes many seconds)."""
    deadline = asyncio.get_running_loop().time() + within_s
    while missing := set(names) - set(await admin.list_topics()):
        if asyncio.get_running_loop().time() > deadline:
            raise Unavailable(f"created topics not listed after {within_s}s: {sorted(missing)}")
        await asyncio.sleep(0.1)


async def partition_counts(settings: KafkaSettings, names: list[str]) -> dict[str, int]:
    admin = AIOKafkaAdminClient(**client_options(settings), client_id="podium-admin")
    await admin.start()
    try:
        return await partition_counts_via(admin, names)
    finally:
        await admin.close()


async def check_co_partitioned(settings: KafkaSettings) -> None:
    """Raises ConfigError unless the topics the aggregator joins have one partition count."""
    admin = AIOKafkaAdminClient(**client_options(settings), client_id="podium-admin")
    await admin.start()
    try:
        await _check_co_partitioned(admin, settings)
    finally:
        await admin.close()


async def partition_counts_via(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    """`partition_counts` over a started admin client."""
    # Describing a missing topic makes a broker with auto.create.topics.enable create it
    # (with the broker's default partition count): describe only the ones that exist.
    existing = set(await admin.list_topics())
    names = [name for name in names if name in existing]
    if not names:
        return {}
    described = await admin.describe_topics(names)
    counts = {}
    for topic in described:
        if topic.get("error_code", 0) == 0:
            counts[topic["topic"]] = len(topic["partitions"])
    return counts


async def _check_co_partitioned(admin: AIOKafkaAdminClient, settings: KafkaSettings) -> None:
    names = [settings.topic_prefix + name for name in CO_PARTITIONED]
    counts = await partition_counts_via(admin, names)
    missing = [name for name in names if name not in counts]
    if missing:
        raise ConfigError(f"topics missing: {', '.join(missing)}; run `podium topics create`")
    if len(set(counts.values())) != 1:
        shown = ", ".join(f"{name}={count}" for name, count in counts.items())
        raise ConfigError(
            f"{' and '.join(names)} must have the same partition count to be joined: {shown}"
        )
