"""The keeper starts a failed service again, and leaves alone one that was stopped, one that
exited 0 and one that failed at its start; real processes, a script for the service."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

# A service that counts its runs in a file, then does what its run's line in `plan` says:
# `exit N`, or `wait` (until a signal ends it, which it answers with status 143).
SERVICE = """
import signal, sys, time
from pathlib import Path
runs = Path(sys.argv[1])
run = len(runs.read_text().splitlines()) if runs.exists() else 0
with runs.open("a") as out:
    out.write("run\\n")
plan = sys.argv[2].split(",")
action = plan[min(run, len(plan) - 1)]
if action == "wait":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    while True:
        time.sleep(0.05)
time.sleep(float(sys.argv[3]))
sys.exit(int(action.split()[1]))
"""


def keeper(
    tmp_path: Path, plan: str, *, lasts_s: float = 0.0, first_run_s: float = 0.0
) -> subprocess.Popen[str]:
    script = tmp_path / "service.py"
    script.write_text(SERVICE)
    command = [sys.executable, str(script), str(tmp_path / "runs"), plan, str(lasts_s)]
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "podium_cli.stack.keeper"),
            *("--first-run-s", str(first_run_s), "--delay-s", "0.1"),
            *("--restarts", str(tmp_path / "restarts"), "--", *command),
        ],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def runs(tmp_path: Path) -> int:
    path = tmp_path / "runs"
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_a_failed_service_is_started_again_until_it_exits_cleanly(tmp_path: Path) -> None:
    process = keeper(tmp_path, "exit 3,exit 1,exit 0")
    out, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    assert runs(tmp_path) == 3
    assert "exited with status 3; started again in 0.1 s" in out
    assert "exited with status 1; started again in 0.2 s" in out  # the delay doubled
    assert (tmp_path / "restarts").read_text() == "2 1\n"  # two restarts, the last after 1


def test_a_service_that_fails_at_its_start_is_not_started_again(tmp_path: Path) -> None:
    process = keeper(tmp_path, "exit 2,exit 0", first_run_s=30)
    out, _ = process.communicate(timeout=30)
    assert process.returncode == 2
    assert runs(tmp_path) == 1
    assert "failed at start (status 2): not started again" in out
    assert (tmp_path / "restarts").read_text() == "0\n"


def test_a_signal_to_the_group_stops_the_service_and_the_keeper(tmp_path: Path) -> None:
    process = keeper(tmp_path, "exit 5,wait")
    deadline = time.monotonic() + 30
    while runs(tmp_path) < 2:  # failed once, started again, now waiting
        assert time.monotonic() < deadline, "the service was not started again"
        time.sleep(0.05)
    time.sleep(0.3)  # its signal handler is set
    os.killpg(process.pid, signal.SIGTERM)  # as `podium down` does
    out, _ = process.communicate(timeout=30)
    assert process.returncode == 143
    assert runs(tmp_path) == 2
    assert out.count("started again") == 1
