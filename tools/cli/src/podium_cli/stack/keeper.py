"""Keeps one service of the local stack running, as a container's restart policy does.

A service stops itself, non-zero, on what it must not go past (a handler's unforeseen
error, a store that failed, a group it cannot rejoin): whatever it had not committed is
delivered again when it runs again. Kubernetes and Docker Compose start it again; on the
local stack this keeper does, after 1 s, then twice as long after each quick failure (at
most 30 s), and says so in the service's log.

Not started again: a service that exits 0 (it was stopped), one stopped by a signal to the
keeper's process group (`podium down`: the keeper and its service share the group, so each
gets the signal once), and one whose first run ends by itself, non-zero, within
`--first-run-s` (bad settings, a port taken), so that `podium up` reports that failure with
the log, at once. A service killed by a signal (the kernel's OOM killer) is started again
whenever it happens.

Each start again is counted in `--restarts FILE` (`podium status` shows the count), with
the status the service exited with.

Usage: python -m podium_cli.stack.keeper [--first-run-s S] [--delay-s S] [--restarts FILE]
       -- COMMAND...
Standard library only: it stays small beside the service it keeps.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

# A run this long is taken as a service that was up: the next failure waits the first
# delay again.
STEADY_S = 60.0
MAX_DELAY_S = 30.0
# How often a wait between runs looks whether the keeper was told to stop.
TICK_S = 0.1


def say(line: str) -> None:
    """A line in the service's log (the keeper's output is the log)."""
    print(f"--- {datetime.now(UTC).isoformat()} {line}", flush=True)


class Keeper:
    def __init__(
        self,
        command: list[str],
        *,
        first_run_s: float,
        delay_s: float,
        restarts: Path | None = None,
    ) -> None:
        self.command, self.first_run_s, self.delay_s = command, first_run_s, delay_s
        self.restarts = restarts
        self.stopping = False

    def stop(self, signum: int, _frame: FrameType | None) -> None:
        """The process group had the signal: the service has it too, and ends by itself."""
        self.stopping = True

    def run(self) -> int:
        delay, runs = self.delay_s, 0
        self._count(0, None)
        while True:
            runs += 1
            started = time.monotonic()
            code = subprocess.call(self.command)  # noqa: S603 - the stack's own command line
            lasted = time.monotonic() - started
            if self.stopping or code == 0:
                return code
            if runs == 1 and code > 0 and lasted < self.first_run_s:
                say(f"{self.command[0]} failed at start (status {code}): not started again")
                return code
            delay = self.delay_s if lasted >= STEADY_S else delay
            say(f"{self.command[0]} exited with status {code}; started again in {delay:g} s")
            self._count(runs, code)
            if not self._wait(delay):
                return code
            delay = min(delay * 2, MAX_DELAY_S)

    def _count(self, restarts: int, code: int | None) -> None:
        """`restarts` and the last status, as `podium status` reads them."""
        if self.restarts is not None:
            last = "" if code is None else f" {code}"
            self.restarts.write_text(f"{restarts}{last}\n")

    def _wait(self, seconds: float) -> bool:
        """Waits `seconds`; False if told to stop meanwhile."""
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            if self.stopping:
                return False
            time.sleep(TICK_S)
        return not self.stopping


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m podium_cli.stack.keeper")
    parser.add_argument("--first-run-s", type=float, default=10.0)
    parser.add_argument("--delay-s", type=float, default=1.0)
    parser.add_argument("--restarts", type=Path)
    parser.add_argument("command", nargs="+")
    args = parser.parse_args(argv)
    keeper = Keeper(
        args.command,
        first_run_s=args.first_run_s,
        delay_s=args.delay_s,
        restarts=args.restarts,
    )
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, keeper.stop)
    return keeper.run()


if __name__ == "__main__":
    sys.exit(main())
