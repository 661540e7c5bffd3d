"""Detached processes with pidfiles, ports, and bounded waits: what every part of the stack uses.

A pidfile counts only while its process is alive and its command line carries the marker it
was started with (its config file or script), so a reused pid is never taken for ours.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import psutil

from podium_cli.errors import StackError

POLL_S = 0.2
# Free ports are picked from here up to the kernel's ephemeral range.
PORTS_FROM = 20000
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
# Ports this process has picked: not picked again, as the server each was picked for may not
# have bound it yet (two picks of 10 ports out of 12,768 collide once in ~280).
_picked: set[int] = set()


def read_pid(pidfile: Path) -> int | None:
    """The pid on the first line of `pidfile` (PostgreSQL's has more lines), if any."""
    try:
        return int(pidfile.read_text().split("\n", 1)[0].strip())
    except (FileNotFoundError, ValueError):
        return None


def is_ours(pid: int, marker: str) -> bool:
    """Whether `pid` is a live process whose command line contains `marker`."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        cmdline: list[str] = process.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    return any(marker in part for part in cmdline)


def running_pid(pidfile: Path, marker: str) -> int | None:
    """The pid in `pidfile` if that process is ours and alive; a stale pidfile is removed."""
    pid = read_pid(pidfile)
    if pid is None:
        return None
    if is_ours(pid, marker):
        return pid
    pidfile.unlink(missing_ok=True)
    print(f"  removed stale pidfile {pidfile} (pid {pid} is not running it any more)")
    return None


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def free_ports(count: int) -> list[int]:
    """`count` distinct ports free on the loopback now (each held until all are picked),
    none that an earlier call in this process gave.

    They are picked below the kernel's ephemeral range: a port from that range (what
    binding to port 0 gives) can go to any outgoing connection, a Kafka client's say,
    before the server it was picked for binds it."""
    held: list[socket.socket] = []
    try:
        for _ in range(count):
            held.append(_bound_below(_ephemeral_start()))
        ports = [sock.getsockname()[1] for sock in held]
    finally:
        for sock in held:
            sock.close()
    _picked.update(ports)
    return ports


def _ephemeral_start() -> int:
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def _bound_below(limit: int, tries: int = 200) -> socket.socket:
    """A socket bound to a free loopback port under `limit` that this process has not
    picked before (any free port if none is)."""
    if len(_picked) > (limit - PORTS_FROM) // 2:
        _picked.clear()  # the earliest picks are long bound or let go
    for _ in range(tries if limit - PORTS_FROM > tries else 0):
        port = random.randrange(PORTS_FROM, limit)  # noqa: S311 - a port, not a secret
        if port in _picked:
            continue
        sock = socket.socket()
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            sock.close()
            continue
        return sock
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


def free_port() -> int:
    return free_ports(1)[0]


def port_owner(port: int) -> str:
    """Who listens on `port`, as well as this user may know: `pid 12 (java)` or `unknown`."""
    with contextlib.suppress(psutil.AccessDenied, PermissionError):
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                if conn.pid is None:
                    break
                with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                    return f"pid {conn.pid} ({psutil.Process(conn.pid).name()})"
                return f"pid {conn.pid}"
    return "a process this user cannot see"


def refuse_foreign_port(port: int, what: str, setting: str) -> None:
    """Raises unless `port` is free: something that is not the stack's `what` holds it."""
    if port_open(port):
        raise StackError(
            f"port {port} is in use by {port_owner(port)}, which is not Podium's {what}; "
            f"stop that process, or give Podium another port with {setting}=<port>"
        )


def spawn(
    argv: Sequence[str],
    *,
    log: Path,
    pidfile: Path | None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Starts `argv` in its own session, output appended to `log`; writes `pidfile`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(f"--- {datetime.now(UTC).isoformat()} starting: {' '.join(argv)}\n".encode())
        out.flush()
        process = subprocess.Popen(  # noqa: S603 - argv is built by the stack, no shell
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    if pidfile is not None:
        pidfile.parent.mkdir(parents=True, exist_ok=True)
        pidfile.write_text(f"{process.pid}\n")
    return process


def terminate(pid: int, timeout_s: float) -> bool:
    """SIGTERM to the process group, then SIGKILL after `timeout_s`; True if it had to kill."""
    _signal_group(pid, signal.SIGTERM)
    if _wait_gone(pid, timeout_s):
        return False
    _signal_group(pid, signal.SIGKILL)
    _wait_gone(pid, 5.0)
    return True


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return
    except PermissionError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _wait_gone(pid: int, timeout_s: float) -> bool:
    try:
        psutil.Process(pid).wait(timeout=timeout_s)
    except psutil.NoSuchProcess:
        return True
    except psutil.TimeoutExpired:
        return False
    return True


def log_tail(log: Path, lines: int = 15) -> str:
    try:
        text = log.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return "(no log yet)"
    return "\n".join(f"    {line}" for line in text[-lines:])


def wait_until(
    ready: Callable[[], bool],
    *,
    what: str,
    timeout_s: float,
    log: Path,
    process: subprocess.Popen[bytes] | None = None,
) -> float:
    """Polls `ready` until it holds; returns the seconds waited. Fails fast if `process`
    dies, and after `timeout_s` otherwise, with the end of `log`."""
    started = time.monotonic()
    while not ready():
        if process is not None and process.poll() is not None:
            raise StackError(
                f"{what} exited with status {process.returncode} while starting; "
                f"see {log}:\n{log_tail(log)}"
            )
        if time.monotonic() - started > timeout_s:
            raise StackError(
                f"{what} was not ready after {timeout_s:.0f}s; see {log}:\n{log_tail(log)}"
            )
        time.sleep(POLL_S)
    return time.monotonic() - started
