"""`podium keys` on the real PostgreSQL: a key is created (shown once, stored hashed), lets
the gateway's check name its tenant, is listed without its secret, and once revoked
is refused."""

from __future__ import annotations

import argparse
import asyncio

import asyncpg
import pytest

from podium_cli.commands import keys
from podium_cli.errors import CommandError
from podium_common import apikeys

pytestmark = pytest.mark.integration


def podium_keys(*argv: str) -> int:
    top = argparse.ArgumentParser()
    keys.register(top.add_subparsers(dest="command"))
    args = top.parse_args(["keys", *argv])
    code: int = args.func(args)
    return code


async def verified(dsn: str, token: str) -> tuple[str, str] | None:
    """The tenant and name the gateway's check finds for `token`."""
    connection = await asyncpg.connect(dsn)
    try:
        key = await apikeys.verify(connection, token)
    finally:
        await connection.close()
    return (key.tenant, key.name) if key else None


async def stored_secrets(dsn: str) -> list[bytes]:
    connection = await asyncpg.connect(dsn)
    try:
        return [
            bytes(row[0]) for row in await connection.fetch("SELECT secret_sha256 FROM api_keys")
        ]
    finally:
        await connection.close()


def test_a_key_is_created_listed_verified_and_revoked(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PODIUM_POSTGRES__DSN", pg_dsn)
    assert podium_keys("create", "--tenant", "acme", "--name", "ada") == 0
    token = capsys.readouterr().out.strip()
    key_id = token.split("_")[1]
    assert asyncio.run(verified(pg_dsn, token)) == ("acme", "ada")
    assert all(token.encode() not in secret for secret in asyncio.run(stored_secrets(pg_dsn)))
    wrong = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert asyncio.run(verified(pg_dsn, wrong)) is None

    assert podium_keys("list", "--tenant", "acme") == 0
    listing = capsys.readouterr().out
    assert key_id in listing
    assert "ada" in listing
    assert token.split("_", 2)[2] not in listing

    assert podium_keys("revoke", key_id) == 0
    assert asyncio.run(verified(pg_dsn, token)) is None
    with pytest.raises(CommandError, match="no key 'nosuchkey'"):
        podium_keys("revoke", "nosuchkey")
