"""CPU time and resident memory of a process, from /proc; of a process tree and the
machine's cores; and which process listens on a port."""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from urllib.parse import urlsplit

import psutil

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used (utime + stime of /proc/<pid>/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name may hold spaces: fields start after its closing parenthesis.
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / _TICKS


def rss_mb(pid: int) -> float:
    """Resident set size in MiB (/proc/<pid>/statm)."""
    resident = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return round(resident * _PAGE / 2**20, 1)


def machine_busy_seconds() -> float:
    """CPU seconds all cores have spent not idle since boot (/proc/stat); time the
    hypervisor stole counts as busy."""
    first = Path("/proc/stat").read_text().splitlines()[0].split()
    ticks = [int(value) for value in first[1:9]]  # user nice system idle iowait irq softirq steal
    idle = ticks[3] + ticks[4]
    return (sum(ticks) - idle) / _TICKS


def listening_pid(port: int) -> int | None:
    """The process listening on TCP `port` here, if one is and it can be seen."""
    for connection in psutil.net_connections(kind="tcp"):
        if connection.status == psutil.CONN_LISTEN and connection.laddr.port == port:
            pid: int | None = connection.pid
            return pid
    return None


def broker_pid(bootstrap: str) -> int | None:
    """The broker at `bootstrap` ("host:port"), when it runs here."""
    return listening_pid(int(bootstrap.rpartition(":")[2] or 0))


def server_pids(bootstrap: str, dsn: str) -> dict[str, int]:
    """The broker at `bootstrap` ("kafka") and the PostgreSQL of `dsn` ("postgresql"):
    the process of each that runs here, found by the port it listens on."""
    pids = {"kafka": broker_pid(bootstrap), "postgresql": listening_pid(urlsplit(dsn).port or 5432)}
    return {name: pid for name, pid in pids.items() if pid is not None}


def servers_cpu(bootstrap: str, dsn: str) -> Callable[[], dict[str, float]]:
    """CPU-seconds so far of each of `server_pids`, PostgreSQL's backends included."""
    trees = {name: ProcessTree([pid]) for name, pid in server_pids(bootstrap, dsn).items()}
    return lambda: {name: tree() for name, tree in trees.items()}


class ProcessTree:
    """CPU-seconds of some processes and all their descendants, the exited ones included."""

    def __init__(self, pids: list[int]) -> None:
        self._roots = [psutil.Process(pid) for pid in pids]

    def __call__(self) -> float:
        total = 0.0
        for root in self._roots:
            try:
                times = root.cpu_times()
                total += times.user + times.system + times.children_user + times.children_system
                for child in root.children(recursive=True):
                    with suppress(psutil.NoSuchProcess):
                        child_times = child.cpu_times()
                        total += child_times.user + child_times.system
            except psutil.NoSuchProcess:
                continue
        return total

    def pids(self) -> set[int]:
        """The processes of the tree that run now."""
        found: set[int] = set()
        for root in self._roots:
            with suppress(psutil.NoSuchProcess):
                found.update(child.pid for child in root.children(recursive=True))
                found.add(root.pid)
        return found
