"""The LLM response cache across processes: a goal replayed with the cache on costs no LLM
call, counted by the scripted LLM's own request counter; replicas share one table."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import SecretStr

from podium_cli.errors import CommandError
from podium_cli.replay import Target, reset
from podium_cli.rerun import rerun
from podium_common.admin import partition_counts
from podium_common.events import TokenUsage
from podium_common.kafka import client_options
from podium_common.llm import Completion, Message, Request
from podium_common.llm_cache import LLMCacheSettings, PostgresReplyStore, cache_key
from podium_common.settings import KafkaSettings, PostgresSettings
from podium_common.topics import TaskType
from tests.e2e.conftest import Stack
from tests.e2e.test_goals import submit, wait_for_end

pytestmark = pytest.mark.e2e


def callers(kafka: KafkaSettings) -> dict[str, tuple[str, str]]:
    """Every service that calls the LLM: its consumer group and the topic the group reads."""
    found = {"podium-planner": (kafka.topics.group("planner"), kafka.topics.goals)}
    for kind in TaskType:
        service = f"worker-{kind.value}"
        found[f"podium-{service}"] = (kafka.topics.group(service), kafka.topics.tasks(kind))
    return found


async def test_a_replayed_goal_is_answered_from_the_cache_with_no_llm_call(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    cache = {"PODIUM_LLM_CACHE__ENABLED": "true", "PODIUM_LLM_CACHE__DSN": stack.pg_dsn}
    services = callers(stack.kafka)
    for service in services:
        stack.restart(service, **cache)
    goal_id = await submit(gateway, "Design a rate limiter for a public API [chain=2][validate]")
    first = await wait_for_end(gateway, goal_id, 120)
    assert first["status"] == "completed", first
    await _caught_up(stack.kafka, services)
    calls = (await _stats(gateway, stack))["total"]
    assert calls >= 5, calls  # the plan, its tasks, a validation and the synthesis
    stored = await _cache(stack.pg_dsn)
    assert stored["rows"] > 0
    assert stored["hits"] == 0

    # A new run of every LLM call of the goal: the planner's and every worker's group read
    # their topics again from the beginning, in new processes.
    for service in services:
        stack.processes[service].send_signal(signal.SIGTERM)
    for service in services:
        assert stack.processes[service].wait(timeout=30) == 0, stack.log_tail()
    for group, _topic in services.values():
        await _to_beginning(stack.kafka, group)
    for service in services:
        stack.restart(service, **cache)
    replayed = await _caught_up(stack.kafka, services)

    assert (await _stats(gateway, stack))["total"] == calls, "the replay called the LLM"
    after = await _cache(stack.pg_dsn)
    assert after["rows"] == stored["rows"]
    # Each record read again asked the LLM at least once: every one was a hit.
    assert after["hits"] >= replayed >= stored["rows"]


async def test_a_rerun_is_answered_from_the_cache_with_no_llm_call(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    """A goal's next run asks what its first run asked (tasks are named by their plan's own
    ids in prompts), so with the cache on it costs no LLM call."""
    cache = {"PODIUM_LLM_CACHE__ENABLED": "true", "PODIUM_LLM_CACHE__DSN": stack.pg_dsn}
    services = callers(stack.kafka)
    for service in services:
        stack.restart(service, **cache)
    goal_id = await submit(gateway, "Compare two ways to cache [parallel=2][chain=2][validate]")
    first = await wait_for_end(gateway, goal_id, 120)
    assert (first["run"], first["status"]) == (1, "completed"), first
    await _caught_up(stack.kafka, services)
    calls = (await _stats(gateway, stack))["total"]

    postgres = PostgresSettings(dsn=stack.pg_dsn)
    (resubmitted,) = await rerun(stack.kafka, postgres, [uuid.UUID(goal_id)])
    assert resubmitted.run == 2
    second = first
    deadline = time.monotonic() + 120
    while second["run"] != 2 or second["status"] not in ("completed", "failed"):
        assert time.monotonic() < deadline, second
        await asyncio.sleep(0.25)
        second = (await gateway.get(f"/goals/{goal_id}")).json()
    await _caught_up(stack.kafka, services)

    assert second["status"] == "completed", second
    assert second["output"] == first["output"]
    assert (await _stats(gateway, stack))["total"] == calls, "the rerun called the LLM"


async def _stats(gateway: httpx.AsyncClient, stack: Stack) -> dict[str, int]:
    response = await gateway.get(f"{stack.llm}/_scripted/stats")
    response.raise_for_status()
    return dict(response.json())


async def _cache(dsn: str) -> dict[str, int]:
    connection = await asyncpg.connect(dsn)
    try:
        row = await connection.fetchrow(
            "SELECT count(*) AS rows, COALESCE(sum(hits), 0)::bigint AS hits FROM llm_cache"
        )
        assert row is not None
        return dict(row)
    finally:
        await connection.close()


async def _to_beginning(kafka: KafkaSettings, group: str, within_s: float = 30) -> None:
    """Resets a stopped group's offsets, once the broker no longer lists its members; a
    group that never committed (its topic had no record) has nothing to read again."""
    admin = AIOKafkaAdminClient(**client_options(kafka))
    await admin.start()
    try:
        if not await admin.list_consumer_group_offsets(group):
            return
    finally:
        await admin.close()
    deadline = time.monotonic() + within_s
    while True:
        try:
            await reset(kafka, group, Target())
            return
        except CommandError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def _caught_up(
    kafka: KafkaSettings, services: dict[str, tuple[str, str]], within_s: float = 120
) -> int:
    """Waits until every LLM-calling group has committed the end of its topic, twice with
    the same ends (nothing published in between); returns the records those groups read."""
    topics = dict(services.values())
    counts = await partition_counts(kafka, list(topics.values()))
    consumer = AIOKafkaConsumer(**client_options(kafka), enable_auto_commit=False)
    admin = AIOKafkaAdminClient(**client_options(kafka))
    await consumer.start()
    await admin.start()
    try:
        deadline, seen = time.monotonic() + within_s, None
        while True:
            behind, ends = {}, {}
            for group, topic in topics.items():
                partitions = [TopicPartition(topic, p) for p in range(counts[topic])]
                ends.update(await consumer.end_offsets(partitions))
                committed = await admin.list_consumer_group_offsets(group)
                behind.update(
                    {
                        tp: ends[tp]
                        for tp in partitions
                        if ends[tp] > (committed[tp].offset if tp in committed else 0)
                    }
                )
            if not behind and ends == seen:
                return sum(ends.values())
            assert time.monotonic() < deadline, f"groups behind on {behind}"
            seen = None if behind else ends
            await asyncio.sleep(0.5)
    finally:
        await admin.close()
        await consumer.stop()


async def test_replicas_share_one_cache_table_that_the_first_of_them_creates(pg_dsn: str) -> None:
    settings = LLMCacheSettings(enabled=True, dsn=SecretStr(pg_dsn))
    one, two = PostgresReplyStore(settings), PostgresReplyStore(settings)
    request = Request(model="m", messages=(Message("user", "Goal: share"),), max_tokens=9)
    reply = Completion("shared", "scripted:m", TokenUsage(prompt_tokens=5, completion_tokens=2), 30)
    try:
        # Both create the table at once, as replicas starting together do.
        missing = await asyncio.gather(one.get(cache_key(request)), two.get("other"))
        assert list(missing) == [None, None]
        await one.put(cache_key(request), request, reply)
        await one.put(cache_key(request), request, reply)  # a second answer changes nothing
        found = await two.get(cache_key(request))
    finally:
        await one.close()
        await two.close()
    assert found is not None
    assert (found.text, found.model, found.usage) == ("shared", "scripted:m", reply.usage)
    assert await _cache(pg_dsn) == {"rows": 1, "hits": 1}
