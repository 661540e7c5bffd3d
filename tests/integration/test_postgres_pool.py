"""The shared pool's release on a real PostgreSQL: `reset_session=False` (the recorder's and
the gateway's) skips asyncpg's session reset, its round trip on every release, yet still
rolls back a transaction left open; the default resets the session."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from podium_common.postgres import create_pool
from podium_common.settings import PostgresSettings

pytestmark = pytest.mark.integration

NAME = "SELECT current_setting('application_name')"


def one_connection(dsn: str) -> PostgresSettings:
    return PostgresSettings(dsn=SecretStr(dsn), min_pool=1, max_pool=1)


async def test_a_kept_session_is_not_reset_and_an_open_transaction_rolls_back(
    pg_dsn: str,
) -> None:
    pool = await create_pool(one_connection(pg_dsn), reset_session=False)
    try:
        await pool.execute("CREATE TABLE seen (n int)")
        async with pool.acquire() as connection:
            await connection.execute("SET application_name = 'kept'")
            await connection.execute("BEGIN")
            await connection.execute("INSERT INTO seen VALUES (1)")
        async with pool.acquire() as connection:  # the same connection: max_pool=1
            assert await connection.fetchval(NAME) == "kept"  # no RESET ALL ran
            assert not connection.is_in_transaction()
            assert await connection.fetchval("SELECT count(*) FROM seen") == 0
    finally:
        await pool.close()


async def test_the_default_pool_resets_the_session(pg_dsn: str) -> None:
    pool = await create_pool(one_connection(pg_dsn))
    try:
        async with pool.acquire() as connection:
            await connection.execute("SET application_name = 'kept'")
        async with pool.acquire() as connection:
            assert await connection.fetchval(NAME) != "kept"
    finally:
        await pool.close()
