"""One connection to Podium's database for a command, its migrations applied first."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

from podium_cli.settings import CliSettings
from podium_common.postgres import transient_as_unavailable
from podium_recorder import migrations

T = TypeVar("T")


def with_connection(work: Callable[[asyncpg.Connection[Any]], Awaitable[T]]) -> T:
    """Runs `work` on a connection to PODIUM_POSTGRES__DSN (or the local stack's)."""

    async def run() -> T:
        dsn = CliSettings().postgres_dsn
        await migrations.apply(dsn)
        async with transient_as_unavailable():
            connection = await asyncpg.connect(dsn)
        try:
            return await work(connection)
        finally:
            await connection.close()

    return asyncio.run(run())
