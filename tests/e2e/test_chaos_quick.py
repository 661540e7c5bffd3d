"""The short chaos run (`make chaos-quick`): a few dozen goals on a private stack with two
replicas of each worker type and of the aggregator, while every service instance is
SIGKILLed and restarted once, the broker restarted once and PostgreSQL stopped for a few
seconds. No goal is lost or doubled, every one completes, and killed workers' tasks were
redelivered to other processes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from podium_cli.stack.layout import find_checkout

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

CHECKOUT = find_checkout(Path(__file__).resolve().parent)
SUMMARY = re.compile(
    r"chaos: goals=(?P<goals>\d+) completed=(?P<completed>\d+) failed=(?P<failed>\d+) "
    r"lost=(?P<lost>\d+) duplicate_outputs=(?P<duplicate_outputs>\d+) kills=(?P<kills>\d+) "
    r"broker_restarts=(?P<broker_restarts>\d+) pg_outages=(?P<pg_outages>\d+) "
    r"redelivered_tasks=(?P<redelivered_tasks>\d+) "
    r"duplicate_llm_calls=(?P<duplicate_llm_calls>\d+)"
)


def run_quick_chaos() -> subprocess.CompletedProcess[str]:
    """The run, or a failure with the end of what it said if it outlasts its bounds."""
    try:
        return subprocess.run(
            [sys.executable, "-m", "chaos", "--quick"],
            cwd=CHECKOUT,
            capture_output=True,
            text=True,
            timeout=540,
            check=False,
        )
    except subprocess.TimeoutExpired as expired:
        said = expired.stderr.decode(errors="replace") if isinstance(expired.stderr, bytes) else ""
        pytest.fail(f"the quick chaos run took over 540 s; its stderr (end):\n{said[-6000:]}")


def test_quick_chaos_loses_and_doubles_no_goal() -> None:
    done = run_quick_chaos()
    told = f"stdout:\n{done.stdout}\nstderr (end):\n{done.stderr[-6000:]}"
    lines = done.stdout.splitlines()
    assert len(lines) == 1, told
    found = SUMMARY.fullmatch(lines[0])
    assert found is not None, told
    counts = {name: int(value) for name, value in found.groupdict().items()}
    assert done.returncode == 0, told
    assert counts["goals"] >= 40, told  # 40 submitted and a probe during the PG outage
    assert counts["completed"] == counts["goals"], told
    assert counts["failed"] == counts["lost"] == counts["duplicate_outputs"] == 0, told
    # Every instance once: the recorder, the planner, the gateway, and two of each of the
    # aggregator and the four worker types.
    assert counts["kills"] >= 13, told
    assert counts["redelivered_tasks"] > 0, told
    assert counts["broker_restarts"] == 1, told
    assert counts["pg_outages"] == 1, told
