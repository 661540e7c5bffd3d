"""API keys: made and revoked by `podium keys`, checked by the gateway.

A key reads `podium_<key_id>_<secret>`. The key id is public (lists and logs name it); the
secret is 32 random bytes, stored only as its SHA-256 digest (a secret that random needs no
slow hash), and compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg

# A connection, or a pool that lends one for each query.
Executor: TypeAlias = "asyncpg.Connection[Any] | asyncpg.Pool[Any]"
PREFIX = "podium_"
_KEY = re.compile(r"^podium_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")

INSERT = """
INSERT INTO api_keys (key_id, secret_sha256, tenant, name, operator) VALUES ($1, $2, $3, $4, $5)
RETURNING created_at
"""
SELECT_ONE = "SELECT * FROM api_keys WHERE key_id = $1"
SELECT_ALL = """
SELECT * FROM api_keys WHERE ($1::text IS NULL OR tenant = $1) ORDER BY tenant, created_at
"""
REVOKE = """
UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE key_id = $1
RETURNING revoked_at
"""


@dataclass(frozen=True)
class ApiKey:
    """A key as stored, without its secret."""

    key_id: str
    tenant: str
    name: str
    created_at: datetime
    revoked_at: datetime | None = None
    # Reaches the dead letters and the workers too: every tenant's, the cluster's.
    operator: bool = False

    @classmethod
    def of(cls, row: Any) -> ApiKey:
        return cls(
            row["key_id"],
            row["tenant"],
            row["name"],
            row["created_at"],
            row["revoked_at"],
            operator=row["operator"],
        )


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def parse(token: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed key, else None."""
    match = _KEY.match(token)
    return (match.group(1), match.group(2)) if match else None


async def create(
    connection: Executor, tenant: str, name: str, *, operator: bool = False
) -> tuple[str, ApiKey]:
    """A new key for `tenant` (an operator's too, with `operator`): the key to hand over
    (shown once) and what is stored."""
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    created_at = await connection.fetchval(INSERT, key_id, digest(secret), tenant, name, operator)
    key = ApiKey(key_id, tenant, name, created_at, operator=operator)
    return f"{PREFIX}{key_id}_{secret}", key


async def listed(connection: Executor, tenant: str | None) -> list[ApiKey]:
    return [ApiKey.of(row) for row in await connection.fetch(SELECT_ALL, tenant)]


async def revoke(connection: Executor, key_id: str) -> datetime | None:
    """Revokes a key (again, harmlessly); None when there is no such key."""
    revoked_at: datetime | None = await connection.fetchval(REVOKE, key_id)
    return revoked_at


async def verify(connection: Executor, token: str) -> ApiKey | None:
    """The live key `token` is, or None for a malformed, unknown, wrong or revoked one."""
    parsed = parse(token)
    if parsed is None:
        return None
    key_id, secret = parsed
    row = await connection.fetchrow(SELECT_ONE, key_id)
    if row is None or row["revoked_at"] is not None:
        return None
    if not hmac.compare_digest(bytes(row["secret_sha256"]), digest(secret)):
        return None
    return ApiKey.of(row)
