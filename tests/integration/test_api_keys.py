"""`podium keys` on the real PostgreSQL: a key is created (shown once, stored hashed), lets
the gateway's check name its tenant, is listed without its secret, and once revoked
is refused."""

from __future__ import annotations

import argparse
import asyncio
import uuid

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


async def key_of(dsn: str, token: str) -> apikeys.ApiKey | None:
    """The key the gateway's check finds for `token`."""
    connection = await asyncpg.connect(dsn)
    try:
        return await apikeys.verify(connection, token)
    finally:
        await connection.close()


async def verified(dsn: str, token: str) -> tuple[str, str] | None:
    """The tenant and name the gateway's check finds for `token`."""
    key = await key_of(dsn, token)
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


def test_an_operators_key_is_made_with_operator_and_listed_as_one(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PODIUM_POSTGRES__DSN", pg_dsn)
    tenant = f"ops-{uuid.uuid4().hex[:8]}"
    assert podium_keys("create", "--tenant", tenant, "--name", "oncall", "--operator") == 0
    made = capsys.readouterr()
    assert "an operator's" in made.err
    operator_token = made.out.strip()
    assert podium_keys("create", "--tenant", tenant, "--name", "app") == 0
    tenant_token = capsys.readouterr().out.strip()

    operator_key = asyncio.run(key_of(pg_dsn, operator_token))
    tenant_key = asyncio.run(key_of(pg_dsn, tenant_token))
    assert operator_key is not None
    assert operator_key.operator
    assert tenant_key is not None
    assert not tenant_key.operator
    assert podium_keys("list", "--tenant", tenant) == 0
    rows = {line.split()[2]: line.split()[3] for line in capsys.readouterr().out.splitlines()[1:]}
    assert rows == {"oncall": "operator", "app": "tenant"}
