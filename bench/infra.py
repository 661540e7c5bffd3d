"""Where the broker and PostgreSQL are, and fresh topics and a fresh database on them."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient

from podium_common.admin import delete_topics, ensure_topics
from podium_common.errors import ConfigError
from podium_common.settings import KafkaSettings
from podium_recorder.migrations import apply as apply_migrations

PARTITIONS = 6
# A run's topics are `bench<tag>.*` and its database `podium_bench_<tag>`.
_TOPIC = re.compile(r"bench([0-9a-f]{10})\.")
_DATABASE = re.compile(r"podium_bench_([0-9a-f]{10})")


@dataclass(frozen=True)
class Infra:
    bootstrap: str
    admin_dsn: str

    @classmethod
    def from_env(cls) -> Infra:
        """PODIUM_BENCH_BOOTSTRAP and PODIUM_BENCH_PG_DSN (`make bench` sets both)."""
        try:
            return cls(os.environ["PODIUM_BENCH_BOOTSTRAP"], os.environ["PODIUM_BENCH_PG_DSN"])
        except KeyError as missing:
            raise SystemExit(
                f"{missing.args[0]} is unset: run `make bench`, or set it to a running server"
            ) from None


@dataclass(frozen=True)
class Run:
    """One scenario's fresh topics and database."""

    kafka: KafkaSettings
    dsn: str


@asynccontextmanager
async def fresh_run(infra: Infra) -> AsyncIterator[Run]:
    """Topics under a new prefix and a new database with the read model; both are deleted
    afterwards (a broker that keeps every run's topics slows down), unless
    PODIUM_BENCH_KEEP=1 keeps them to be looked into (their names are printed)."""
    tag = uuid.uuid4().hex[:10]
    kafka = _settings(infra, tag)
    await _ensure_topics(kafka)
    name = f"podium_bench_{tag}"
    await _admin(infra, f'CREATE DATABASE "{name}"')
    dsn = f"{infra.admin_dsn.rpartition('/')[0]}/{name}"
    try:
        await apply_migrations(dsn)
        yield Run(kafka=kafka, dsn=dsn)
    finally:
        if os.environ.get("PODIUM_BENCH_KEEP") == "1":
            print(f"kept: topics {kafka.topic_prefix}*, database {dsn}", file=sys.stderr)
        else:
            try:
                await delete_topics(kafka)
            finally:
                await _admin(infra, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def leftovers(infra: Infra) -> set[str]:
    """The tags of earlier runs whose topics or database are still there: runs that were
    killed, or kept with PODIUM_BENCH_KEEP=1. Their partitions slow the broker."""
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.bootstrap, client_id="podium-bench")
    await admin.start()
    try:
        topics = await admin.list_topics()
    finally:
        await admin.close()
    connection = await asyncpg.connect(infra.admin_dsn)
    try:
        databases = await connection.fetch("SELECT datname FROM pg_database")
    finally:
        await connection.close()
    tags = {found[1] for name in topics if (found := _TOPIC.match(name))}
    names = [row["datname"] for row in databases]
    return tags | {found[1] for name in names if (found := _DATABASE.fullmatch(name))}


async def clean(infra: Infra, tags: set[str]) -> None:
    """Deletes the topics and the database of each run named by its tag."""
    for tag in sorted(tags):
        await delete_topics(_settings(infra, tag))
        await _admin(infra, f'DROP DATABASE IF EXISTS "podium_bench_{tag}" WITH (FORCE)')


def _settings(infra: Infra, tag: str) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=infra.bootstrap, topic_prefix=f"bench{tag}.", partitions=PARTITIONS
    )


async def _ensure_topics(kafka: KafkaSettings, attempts: int = 5) -> None:
    """Creates the topics; a busy broker may not list new topics at once, so re-checks."""
    for attempt in range(1, attempts + 1):
        try:
            await ensure_topics(kafka)
            return
        except ConfigError:
            if attempt == attempts:
                raise
            await asyncio.sleep(attempt)


async def _admin(infra: Infra, statement: str) -> None:
    connection = await asyncpg.connect(infra.admin_dsn)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()
