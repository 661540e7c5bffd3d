"""PostgreSQL for the services that use it: a pool, and which failures mean "try again later".

A failure of the server or of the connection to it (refused, reset, shut down, too many
connections, a serialization conflict) raises `Unavailable`, which is retriable: the run
loop retries the record and the gateway answers 503. Anything else (a bad query, a
constraint) is a bug and propagates unchanged.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from podium_common.errors import Unavailable
from podium_common.settings import PostgresSettings

TRANSIENT: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable
    TimeoutError,
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08, and a connection lost mid-query
    asyncpg.OperatorInterventionError,  # 57: shutting down, starting up
    asyncpg.InsufficientResourcesError,  # 53: too many connections, disk full
    asyncpg.TransactionRollbackError,  # 40: serialization failure, deadlock
    # A pooled connection the server ended while it sat idle (a shutdown's FATAL read, the
    # socket's close not yet): its next query fails "cannot switch to state …" before the pool
    # drops it (MagicStack/asyncpg#784).
    asyncpg.InternalClientError,
)


@asynccontextmanager
async def transient_as_unavailable(**context: object) -> AsyncIterator[None]:
    """Turns a transient PostgreSQL failure inside the block into `Unavailable`."""
    try:
        yield
    except TRANSIENT as error:
        raise Unavailable(f"PostgreSQL unavailable: {error!r}", **context) from error


async def _init_connection(connection: asyncpg.Connection[Any]) -> None:
    # json and jsonb travel as Python values, not as strings.
    for name in ("json", "jsonb"):
        await connection.set_type_codec(
            name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


async def _keep_session(connection: asyncpg.Connection[Any]) -> None:
    """A release that skips asyncpg's session reset (open transactions still roll back)."""


async def create_pool(
    settings: PostgresSettings, *, min_size: int | None = None, reset_session: bool = True
) -> asyncpg.Pool[asyncpg.Record]:
    """A connection pool; with `min_size=0` it connects lazily, so creating it never fails
    while the server is down.

    `reset_session=False` saves the round trip asyncpg makes on every release to reset the
    session (UNLISTEN, RESET ALL, CLOSE ALL, advisory locks): for callers that use none of
    these and acquire a connection per record or request, like the recorder and the
    gateway."""
    async with transient_as_unavailable():
        return await asyncpg.create_pool(
            settings.dsn.get_secret_value(),
            min_size=settings.min_pool if min_size is None else min_size,
            max_size=settings.max_pool,
            timeout=settings.connect_timeout_s,
            command_timeout=settings.command_timeout_s,
            init=_init_connection,
            reset=None if reset_session else _keep_session,
        )


class LazyPool:
    """A pool opened on first use, after its tables are made: `schema` runs once, under an
    advisory lock (`lock_key`) so that processes starting together do not race to create
    them. Until then nothing connects, so creating one never fails while the server is
    down."""

    def __init__(self, settings: PostgresSettings, schema: str, lock_key: int) -> None:
        self._settings = settings
        self._schema = schema
        self._lock_key = lock_key
        self._pool: asyncpg.Pool[asyncpg.Record] | None = None
        self._opening = asyncio.Lock()

    async def get(self) -> asyncpg.Pool[asyncpg.Record]:
        async with self._opening:
            if self._pool is None:
                pool = await create_pool(self._settings, reset_session=False)
                try:
                    async with (
                        transient_as_unavailable(),
                        pool.acquire() as connection,
                        connection.transaction(),
                    ):
                        await connection.execute("SELECT pg_advisory_xact_lock($1)", self._lock_key)
                        await connection.execute(self._schema)
                except BaseException:
                    await pool.close()
                    raise
                self._pool = pool
            return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
