"""PostgreSQL goes away under a running recorder: it retries, and loses nothing."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from podium_common.kafka import Publisher
from podium_common.settings import KafkaSettings, PostgresSettings
from podium_recorder.__main__ import serve
from podium_recorder.settings import RecorderSettings
from tests.integration.test_recorder import wait_for_events
from tests.unit.recorder.story import FINAL_OUTPUT, story

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


class Outage:
    """A TCP relay to PostgreSQL that can be cut: every connection through it drops at
    once, and new ones are refused, until it is restored."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    async def restore(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for pipe in list(self._pipes):
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        pipes = [
            asyncio.create_task(_pipe(reader, upstream_writer)),
            asyncio.create_task(_pipe(upstream_reader, writer)),
        ]
        self._pipes.update(pipes)
        try:
            await asyncio.gather(*pipes, return_exceptions=True)
        finally:
            self._pipes.difference_update(pipes)
            for stream in (writer, upstream_writer):
                stream.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.transport.abort()


@pytest.fixture
async def outage(pg_dsn: str) -> AsyncIterator[tuple[Outage, str]]:
    """A relay to the test database, and the DSN that goes through it."""
    dsn = urlsplit(pg_dsn)
    relay = Outage(dsn.hostname or "127.0.0.1", dsn.port or 5432)
    await relay.restore()
    user = f"{dsn.username}@" if dsn.username else ""
    yield relay, urlunsplit(dsn._replace(netloc=f"{user}127.0.0.1:{relay.port}"))
    await relay.cut()


@pytest.fixture
async def recorder(kafka: KafkaSettings, outage: tuple[Outage, str]) -> AsyncIterator[None]:
    settings = RecorderSettings(kafka=kafka, postgres=PostgresSettings(dsn=outage[1]))
    task = asyncio.create_task(serve(settings))
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().remove_signal_handler(sig)


async def test_events_published_during_an_outage_are_recorded_after_it(
    kafka: KafkaSettings, pg_dsn: str, outage: tuple[Outage, str], recorder: None
) -> None:
    relay, _ = outage
    told = story()
    first, rest = told.events[:3], told.events[3:]
    publisher = Publisher(kafka, client_id="test")
    await publisher.start()
    try:
        await publisher.publish(first)
        await wait_for_events(pg_dsn, told.goal_id, len(first))

        await relay.cut()
        await publisher.publish(rest)
        await asyncio.sleep(2)  # the recorder fails and retries meanwhile
        connection = await asyncpg.connect(pg_dsn)
        try:
            during = await connection.fetchval(
                "SELECT count(*) FROM events WHERE goal_id = $1", told.goal_id
            )
        finally:
            await connection.close()
        assert during == len(first)

        await relay.restore()
        await wait_for_events(pg_dsn, told.goal_id, len(told.events))
    finally:
        await publisher.stop()

    connection = await asyncpg.connect(pg_dsn)
    try:
        goal = await connection.fetchrow(
            "SELECT status, output FROM goals WHERE goal_id = $1", told.goal_id
        )
    finally:
        await connection.close()
    assert goal is not None
    assert (goal["status"], goal["output"]) == ("completed", FINAL_OUTPUT)
