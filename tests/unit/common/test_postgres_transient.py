"""Which PostgreSQL failures are transient (`Unavailable`, retried) and which are not."""

from __future__ import annotations

import asyncpg
import pytest

from podium_common.errors import Unavailable
from podium_common.postgres import transient_as_unavailable


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connect call failed"),
        asyncpg.CannotConnectNowError("the database system is shutting down"),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        # A pooled connection that read the shutdown's FATAL while idle (asyncpg#784).
        asyncpg.InternalClientError(
            "cannot switch to state 15; another operation (2) is in progress"
        ),
    ],
    ids=lambda error: type(error).__name__,
)
async def test_a_connection_failure_is_unavailable_with_its_context(error: Exception) -> None:
    with pytest.raises(Unavailable) as raised:
        async with transient_as_unavailable(goal_id="g1"):
            raise error
    assert raised.value.__cause__ is error
    assert "PostgreSQL unavailable" in str(raised.value)


@pytest.mark.parametrize(
    "error",
    [asyncpg.UniqueViolationError("duplicate key"), asyncpg.UndefinedTableError("no goals")],
    ids=lambda error: type(error).__name__,
)
async def test_an_error_of_the_query_itself_passes_through(error: Exception) -> None:
    with pytest.raises(type(error)):
        async with transient_as_unavailable():
            raise error
