"""Plain-SQL migrations of the read model: `NNNN_name.sql` files applied in order, once.

Applied versions are tracked in `schema_migrations`; an advisory lock serialises processes
that start at the same time, so each migration runs exactly once, in its own transaction.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib.resources import files

import asyncpg

from podium_common.postgres import transient_as_unavailable

log = logging.getLogger(__name__)

# Any constant works, as long as every process that migrates this schema uses the same one.
LOCK_KEY = 0x706F6469756D  # "podium"
_NAME = re.compile(r"^(\d{4})_\w+\.sql$")

_TRACKING = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """Every migration shipped with this package, in version order."""
    found = []
    for entry in files(__package__).iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text("utf-8")))
    found.sort(key=lambda migration: migration.version)
    versions = [migration.version for migration in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a version: {[m.name for m in found]}")
    return found


async def apply(dsn: str) -> None:
    """Brings the database at `dsn` up to the newest migration; safe to run concurrently."""
    async with transient_as_unavailable():
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)
            try:
                await _apply_pending(connection)
            finally:
                await connection.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
        finally:
            await connection.close()


async def _apply_pending(connection: asyncpg.Connection[asyncpg.Record]) -> None:
    await connection.execute(_TRACKING)
    applied = {
        row["version"] for row in await connection.fetch("SELECT version FROM schema_migrations")
    }
    for migration in migrations():
        if migration.version in applied:
            continue
        async with connection.transaction():
            await connection.execute(migration.sql)
            await connection.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                migration.version,
                migration.name,
            )
        log.info("applied migration %s", migration.name)
