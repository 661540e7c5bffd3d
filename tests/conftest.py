"""Fixtures shared by every test layer.

Integration and e2e tests run against a real Kafka broker and a real PostgreSQL: the
ones named by PODIUM_TEST_BOOTSTRAP and PODIUM_TEST_PG_DSN. Every test gets fresh topics
(a unique prefix) and a fresh database.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from podium_common.admin import ensure_topics
from podium_common.settings import KafkaSettings

BOOTSTRAP = os.environ.get("PODIUM_TEST_BOOTSTRAP", "127.0.0.1:9092")
PG_DSN = os.environ.get("PODIUM_TEST_PG_DSN", "postgresql://podium@127.0.0.1:54329/postgres")


@pytest.fixture
async def kafka() -> KafkaSettings:
    """Settings for a fresh set of topics and consumer groups on the real broker."""
    settings = KafkaSettings(
        bootstrap_servers=BOOTSTRAP,
        topic_prefix=f"t{uuid.uuid4().hex[:12]}.",
        partitions=3,
    )
    await ensure_topics(settings)
    return settings


@contextlib.asynccontextmanager
async def fresh_database() -> AsyncIterator[str]:
    """The DSN of a fresh, empty database on the real PostgreSQL, dropped afterwards."""
    name = f"podium_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(PG_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base, _, _ = PG_DSN.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        admin = await asyncpg.connect(PG_DSN)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture
async def pg_dsn() -> AsyncIterator[str]:
    """A fresh, empty database for one test."""
    async with fresh_database() as dsn:
        yield dsn
