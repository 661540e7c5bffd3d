"""Moves a stopped consumer group's committed offsets, so that it reads its topics again.

The group's topics are the ones it has committed offsets for. A group with members is
refused: its members would overwrite the new offsets with their own at their next commit.
Offsets are committed through a consumer of the group with the partitions assigned by hand,
which the broker also refuses while the group has live members.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from podium_cli.errors import CommandError
from podium_common.kafka import client_options
from podium_common.settings import KafkaSettings


@dataclass(frozen=True)
class Target:
    """Where to move to: the beginning, an offset (per partition, kept within the partition's
    records), or the first record at or after a time (the end when there is none)."""

    offset: int | None = None
    time: datetime | None = None


def group_id(kafka: KafkaSettings, name: str) -> str:
    """A service's group (`planner`, `worker-researcher`, …) or a full group id."""
    topics = kafka.topics
    return name if name.startswith(topics.group("")) else topics.group(name)


async def reset(kafka: KafkaSettings, group: str, target: Target) -> dict[TopicPartition, int]:
    """Commits the target's offsets for every partition the group has offsets for; returns
    them. Raises CommandError for a group with members or without offsets."""
    admin = AIOKafkaAdminClient(**client_options(kafka))
    await admin.start()
    try:
        await _refuse_active(admin, group)
        committed = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    partitions = sorted(committed, key=lambda tp: (tp.topic, tp.partition))
    if not partitions:
        raise CommandError(f"consumer group {group} has no committed offsets: nothing to reset")
    consumer = AIOKafkaConsumer(**client_options(kafka), group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        offsets = await _offsets(consumer, partitions, target)
        consumer.assign(partitions)
        await consumer.commit(offsets)
    finally:
        await consumer.stop()
    return offsets


async def _refuse_active(admin: AIOKafkaAdminClient, group: str) -> None:
    (response,) = await admin.describe_consumer_groups([group])
    for _error, name, state, _kind, _protocol, members, *_ in response.groups:
        if members:
            raise CommandError(
                f"consumer group {name} has {len(members)} active members (state {state}): "
                "stop its service first (`podium down`, or scale it to zero), then replay"
            )


async def _offsets(
    consumer: AIOKafkaConsumer, partitions: list[TopicPartition], target: Target
) -> dict[TopicPartition, int]:
    starts = await consumer.beginning_offsets(partitions)
    ends = await consumer.end_offsets(partitions)
    if target.offset is not None:
        wanted = target.offset
        return {tp: min(max(wanted, starts[tp]), ends[tp]) for tp in partitions}
    if target.time is None:
        return dict(starts)
    millis = int(target.time.timestamp() * 1000)
    found = await consumer.offsets_for_times(dict.fromkeys(partitions, millis))
    return {tp: found[tp].offset if found[tp] is not None else ends[tp] for tp in partitions}
