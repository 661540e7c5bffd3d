"""Crash points for tests: a service SIGKILLs itself, or stalls, at a named point of its work.

Inert unless `PODIUM_FAULT` is set when the service starts (`install` reads it once, from
`setup_logging`'s caller). The value is a comma-separated list of `POINT[@MATCH][=ACTION]`:

    POINT    where, in the order a record goes through a consumer service:
             consumed   a record was read and not yet handled
             published  its handler's events were published (acknowledged by the broker),
                        and its state not yet stored (the aggregator's table; the recorder's
                        PostgreSQL write happens inside its handler, so there it is stored)
             stored     its state is stored and its offset not yet committed
             committed  a commit that covers the record just returned
             changelog  the aggregator's table write for the record is being sent (only the
                        `stall` action makes sense here: the write is held in the producer)
    MATCH    a substring of the record's key or goal id (default: any record)
    ACTION   `kill` (default): SIGKILL, so nothing is flushed, committed or closed;
             `stall:SECONDS`: sleep that long, then go on;
             `raise`: raise `InjectedFault`, as a bug in the handler would;
             `desync`: push the producer's sequence numbers ahead of the broker's on every
             partition it has written (what a broker's restart can leave behind), so the
             broker refuses its next send there, then go on (only in a service that
             registered its producer with `desync_with`: the aggregator)

A fault fires once per process: the restarted process (without the variable) goes on.
Each firing is logged to stderr first, so a test can tell it happened.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass

from podium_common.errors import ConfigError

POINTS = ("consumed", "published", "stored", "committed", "changelog")
VARIABLE = "PODIUM_FAULT"


class InjectedFault(RuntimeError):
    """What the `raise` action raises: an unexpected error, like a bug."""


@dataclass
class Fault:
    point: str
    match: str = ""
    stall_s: float | None = None  # None: kill (or raise, or desync)
    fired: bool = False
    raises: bool = False
    desyncs: bool = False

    @property
    def action(self) -> str:
        if self.raises or self.desyncs:
            return "raise" if self.raises else "desync"
        return "SIGKILL" if self.stall_s is None else "stall"

    def applies(self, point: str, key: str) -> bool:
        return not self.fired and point == self.point and self.match in key


def parse(spec: str) -> list[Fault]:
    """`POINT[@MATCH][=kill|raise|desync|stall:SECONDS]`, comma-separated; a clear error for
    anything else."""
    faults = []
    for part in filter(None, (item.strip() for item in spec.split(","))):
        where, _, action = part.partition("=")
        point, _, match = where.partition("@")
        if point not in POINTS:
            raise ConfigError(f"unknown fault point {point!r} in {part!r}", setting=VARIABLE)
        if action in ("raise", "desync"):
            faults.append(Fault(point, match, raises=action == "raise", desyncs=action == "desync"))
        else:
            faults.append(Fault(point, match, _stall(action, part)))
    return faults


def _stall(action: str, part: str) -> float | None:
    if action in ("", "kill"):
        return None
    kind, _, seconds = action.partition(":")
    try:
        if kind == "stall" and float(seconds) >= 0:
            return float(seconds)
    except ValueError:
        pass
    raise ConfigError(
        f"fault action must be kill, raise, desync or stall:SECONDS, not {action!r} in {part!r}",
        setting=VARIABLE,
    )


_installed: list[Fault] = []
# What `desync` does to the service's producer; returns how many partitions it pushed ahead.
_desync: list[Callable[[], int]] = []


def install(environ: dict[str, str] | None = None) -> None:
    """Reads `PODIUM_FAULT` once, at start; without it every point is inert."""
    spec = (os.environ if environ is None else environ).get(VARIABLE, "")
    _installed[:] = parse(spec)


def desync_with(push_ahead: Callable[[], int]) -> None:
    """Registers what the `desync` action does in this process (the last one given)."""
    _desync[:] = [push_ahead]


def armed(point: str, key: str = "") -> Fault | None:
    """The fault that would fire here, if any (cheap: a service checks it on its hot path)."""
    if not _installed:
        return None
    return next((fault for fault in _installed if fault.applies(point, key)), None)


async def reach(point: str, key: str = "") -> None:
    """Fires the fault set for this point and key, if any: kills the process or stalls."""
    fault = armed(point, key)
    if fault is None:
        return
    fault.fired = True
    where = f"{point} for {key or 'any record'}"
    print(f"fault: {fault.action} at {where}", file=sys.stderr, flush=True)
    if fault.raises:
        raise InjectedFault(f"injected at {where}")
    if fault.desyncs:
        if not _desync:
            raise InjectedFault(f"desync at {where}: this service registered no producer")
        pushed = _desync[0]()
        print(f"fault: desync pushed {pushed} partitions ahead", file=sys.stderr, flush=True)
        return
    if fault.stall_s is None:
        os.kill(os.getpid(), signal.SIGKILL)
    else:
        await asyncio.sleep(fault.stall_s)
