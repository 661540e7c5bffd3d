"""Fixtures shared by every test layer.

Integration and e2e tests run against a real Kafka broker and a real PostgreSQL: the
ones named by PODIUM_TEST_BOOTSTRAP and PODIUM_TEST_PG_DSN. `make test` sets both, starting
the local stack with `podium up --infra` when they are not given; without them the tests
expect that stack at its default ports. Every test gets fresh topics (a unique prefix) and
a fresh database. A server that does not answer fails the test that needs it, with what
to do: these tests never skip.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from podium_common.admin import delete_topics, ensure_topics
from podium_common.settings import KafkaSettings

BOOTSTRAP = os.environ.get("PODIUM_TEST_BOOTSTRAP", "127.0.0.1:9092")
PG_DSN = os.environ.get("PODIUM_TEST_PG_DSN", "postgresql://podium@127.0.0.1:54329/postgres")

# tests/containers runs the built images with podman: `make deploy-e2e` (which builds them
# and sets PODIUM_DEPLOY_E2E) runs it, `make test` does not.
collect_ignore = [] if os.environ.get("PODIUM_DEPLOY_E2E") else ["containers"]


@functools.cache
def require(what: str, host: str, port: int, variable: str) -> None:
    """Fails the calling test unless something listens at host:port (asked once if so)."""
    with socket.socket() as probe:
        probe.settimeout(2.0)
        if probe.connect_ex((host, port)) == 0:
            return
    pytest.fail(
        f"no {what} answers at {host}:{port} ({variable}); run `make test`, which starts "
        f"one with `podium up --infra`, or set {variable}",
        pytrace=False,
    )


def require_servers() -> None:
    host, _, port = BOOTSTRAP.split(",")[0].rpartition(":")
    require("Kafka broker", host, int(port), "PODIUM_TEST_BOOTSTRAP")
    address = PG_DSN.split("@", 1)[-1].split("/", 1)[0]
    pg_host, _, pg_port = address.rpartition(":")
    require("PostgreSQL", pg_host or "127.0.0.1", int(pg_port or 5432), "PODIUM_TEST_PG_DSN")


@pytest.fixture
async def kafka() -> AsyncIterator[KafkaSettings]:
    """Settings for a fresh set of topics and consumer groups on the real broker, deleted
    afterwards."""
    require_servers()
    settings = KafkaSettings(
        bootstrap_servers=BOOTSTRAP,
        topic_prefix=f"t{uuid.uuid4().hex[:12]}.",
        partitions=3,
    )
    await ensure_topics(settings)
    try:
        yield settings
    finally:
        await delete_topics(settings)


async def committed(kafka: KafkaSettings, group: str) -> dict[TopicPartition, int]:
    """The offsets a consumer group has committed, per partition."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp: meta.offset for tp, meta in offsets.items()}


@contextlib.asynccontextmanager
async def fresh_database() -> AsyncIterator[str]:
    """The DSN of a fresh, empty database on the real PostgreSQL, dropped afterwards."""
    require_servers()
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
