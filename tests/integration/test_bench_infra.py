"""The benchmark's runs on the real broker and PostgreSQL: a run kept (or killed) leaves its
topics and database, which the next run finds and `--clean` deletes; the broker-alone hop
runs under a run's prefix."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from bench.brokerhop import broker_hop
from bench.infra import Infra, clean, fresh_run, leftovers
from tests.conftest import BOOTSTRAP, PG_DSN, require_servers


async def _topics(prefix: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        return [name for name in await admin.list_topics() if name.startswith(prefix)]
    finally:
        await admin.close()


async def _topics_after_deletion(prefix: str, within_s: float = 10.0) -> list[str]:
    """The prefix's topics once the broker's metadata caught up with their deletion (Kafka
    deletes topics asynchronously), or those still listed after `within_s`."""
    for _ in range(int(within_s / 0.2)):
        if not (left := await _topics(prefix)):
            return left
        await asyncio.sleep(0.2)
    return await _topics(prefix)


async def _database_exists(name: str) -> bool:
    connection = await asyncpg.connect(PG_DSN)
    try:
        return bool(await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await connection.close()


async def test_a_kept_run_is_found_and_cleaned(monkeypatch: pytest.MonkeyPatch) -> None:
    require_servers()
    infra = Infra(BOOTSTRAP, PG_DSN)
    monkeypatch.setenv("PODIUM_BENCH_KEEP", "1")
    async with fresh_run(infra) as run:
        prefix = run.kafka.topic_prefix
    tag = prefix.removeprefix("bench").removesuffix(".")
    database = f"podium_bench_{tag}"
    assert await _topics(prefix), "the kept run's topics are there"
    assert await _database_exists(database)

    assert tag in await leftovers(infra)
    await clean(infra, {tag})

    assert await _topics_after_deletion(prefix) == []
    assert not await _database_exists(database)
    assert tag not in await leftovers(infra)


async def test_a_finished_run_leaves_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    require_servers()
    infra = Infra(BOOTSTRAP, PG_DSN)
    monkeypatch.delenv("PODIUM_BENCH_KEEP", raising=False)
    async with fresh_run(infra) as run:
        prefix = run.kafka.topic_prefix
        assert await _topics(prefix)
    assert await _topics_after_deletion(prefix) == []
    assert prefix.removeprefix("bench").removesuffix(".") not in await leftovers(infra)


async def test_the_broker_alone_times_every_record_it_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    require_servers()
    monkeypatch.delenv("PODIUM_BENCH_KEEP", raising=False)
    async with fresh_run(Infra(BOOTSTRAP, PG_DSN)) as run:
        figures = await broker_hop(run.kafka, per_s=20, seconds=1.0)
        assert f"{run.kafka.topic_prefix}bench-hop" in await _topics(run.kafka.topic_prefix)
    assert figures["per_s"] == 20
    assert 19 <= figures["records"] <= 21  # one a 50 ms for a second, each timed once
    hop = figures["hop_ms"]
    assert 0 < hop["p50"] <= hop["p95"] <= hop["p99"] < 1000
