"""The database `podium rebuild` writes into: named by a DSN, or by a name on the server of
Podium's own database; created when missing; refused when it holds any row."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from podium_cli.errors import CommandError
from podium_common.postgres import transient_as_unavailable

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$-]{0,62}$")
# The database every PostgreSQL server has, to connect to while creating another.
MAINTENANCE_DB = "postgres"

# Rows in any table but the migrations' bookkeeping make a database non-empty.
_TABLES = """
SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables
WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
  AND tablename <> 'schema_migrations'
ORDER BY 1
"""


@dataclass(frozen=True)
class Target:
    dsn: str
    name: str

    def on(self, database: str) -> str:
        """The DSN of another database of the same server, with the same credentials."""
        return _with_database(self.dsn, database)


def target(text: str, podium_dsn: str) -> Target:
    """`text` is a `postgresql://` DSN naming its database, or a database name on the server
    of `podium_dsn`."""
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme not in {"postgresql", "postgres"}:
            raise CommandError(f"--database {_safe(text)}: not a postgresql:// DSN")
        name = parts.path.lstrip("/")
        if not _NAME.match(name):
            raise CommandError(f"--database {_safe(text)}: the DSN names no database")
        return Target(text, name)
    if not _NAME.match(text):
        raise CommandError(
            f"--database {text!r} is neither a postgresql:// DSN nor a database name "
            "(letters, digits, _, $ and -, at most 63)"
        )
    return Target(_with_database(podium_dsn, text), text)


async def create_if_missing(target: Target) -> bool:
    """Creates the target database unless it exists; returns whether it did."""
    async with transient_as_unavailable(database=target.name):
        try:
            connection = await asyncpg.connect(target.dsn)
        except asyncpg.InvalidCatalogNameError:
            pass
        else:
            await connection.close()
            return False
        admin = await asyncpg.connect(target.on(MAINTENANCE_DB))
        try:
            await admin.execute(f'CREATE DATABASE "{target.name}"')
        except asyncpg.DuplicateDatabaseError:
            return False  # created meanwhile: empty all the same, checked next
        finally:
            await admin.close()
    return True


async def refuse_non_empty(target: Target) -> None:
    """Raises CommandError naming the tables that hold rows, if any does."""
    async with transient_as_unavailable(database=target.name):
        connection = await asyncpg.connect(target.dsn)
        try:
            full = [
                row["name"]
                for row in await connection.fetch(_TABLES)
                if await connection.fetchval(f"SELECT EXISTS (SELECT FROM {row['name']})")  # noqa: S608 - names from pg_tables, quoted by format('%I')
            ]
        finally:
            await connection.close()
    if full:
        raise CommandError(
            f"database {target.name} is not empty (rows in {', '.join(full)}): name a new "
            "database, or pass --allow-non-empty to project into it anyway (events already "
            "recorded change nothing)"
        )


def _with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{database}"))


def _safe(dsn: str) -> str:
    """A DSN fit for an error message: without its password."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))
