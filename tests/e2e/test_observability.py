"""What an operator sees of a running stack: every service's `/metrics` after a goal, and
every consumer process's heartbeat (`podium workers`), alive, stopped or lost."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from podium_cli.stack.processes import free_port
from tests.e2e.conftest import SERVICES, Stack, _wait_ready
from tests.e2e.test_goals import submit, wait_for_end

pytestmark = pytest.mark.e2e

CONSUMERS = [name for name in SERVICES if name != "podium-gateway"]
LLM_USERS = [name for name in CONSUMERS if "worker" in name or "planner" in name]


def samples(text: str) -> dict[str, float]:
    """Every sample as `name{label=value,...}` (labels sorted) → its value."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            found[f"{sample.name}{{{labels}}}"] = sample.value
    return found


def total(found: dict[str, float], name: str, *wanted: str) -> float:
    """The sum of a metric's samples that carry the given labels (`label=value`)."""
    return sum(
        value
        for key, value in found.items()
        if key.startswith(name + "{") and all(part in key for part in wanted)
    )


async def test_each_service_counts_what_a_goal_made_it_do(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    ports = {name: free_port() for name in CONSUMERS}
    for name, port in ports.items():
        stack.restart(name, PODIUM_HEALTH_PORT=str(port))
    for port in ports.values():
        await _wait_ready(f"http://127.0.0.1:{port}/readyz", stack)

    goal_id = await submit(gateway, "Compare two caches [validate]")
    body = await wait_for_end(gateway, goal_id, 90)
    assert body["status"] == "completed", body

    scraped = {}
    async with httpx.AsyncClient(timeout=10) as client:
        for name, port in ports.items():
            response = await client.get(f"http://127.0.0.1:{port}/metrics")
            assert response.status_code == 200, name
            scraped[name] = samples(response.text)
        response = await client.get(f"{stack.gateway}/metrics")
        scraped["podium-gateway"] = samples(response.text)

    prefix = stack.kafka.topic_prefix
    for name in CONSUMERS:
        found = scraped[name]
        handled = total(found, "podium_records_handled_total", "outcome=handled")
        assert handled >= 1, (name, found)
        assert total(found, "podium_handler_seconds_count") >= handled, name
        assert f"podium_records_in_flight{{group={prefix}podium-" in "".join(found) or (
            name == "podium-aggregator"
        ), name
    for name in LLM_USERS:
        found = scraped[name]
        assert total(found, "gen_ai_client_operation_duration_seconds_count") >= 1, name
        assert total(found, "gen_ai_client_token_usage_sum", "gen_ai_token_type=input") > 0, name
        assert total(found, "gen_ai_client_token_usage_sum", "gen_ai_token_type=output") > 0
    recorder = scraped["podium-recorder"]
    assert total(recorder, "podium_records_handled_total", f"topic={prefix}outputs") >= 1
    lags = [v for k, v in recorder.items() if k.startswith("podium_consumer_lag{") and "goals" in k]
    assert lags, recorder  # one per partition of `goals` the recorder holds, all caught up
    assert set(lags) == {0}, lags
    aggregator = scraped["podium-aggregator"]
    assert total(aggregator, "podium_goals_total", "status=completed") >= 1
    assert total(aggregator, "podium_goal_duration_seconds_count", "status=completed") >= 1
    assert total(scraped["podium-gateway"], "podium_gateway_goals_submitted_total") >= 1
    for name, found in scraped.items():  # every process times its collector's pauses
        timed = {key for key in found if key.startswith("podium_gc_pause_seconds_count{")}
        assert timed == {f"podium_gc_pause_seconds_count{{generation={n}}}" for n in range(3)}, name


def podium(stack: Stack, *args: str) -> str:
    """Runs the `podium` command against the stack's broker and topics; its stdout."""
    done = subprocess.run(
        [str(Path(sys.executable).parent / "podium"), *args],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def workers_until(
    stack: Stack, wanted: dict[str, str], lost_after_s: float, within_s: float = 30
) -> str:
    """Polls `podium workers` until each service named shows its state."""
    deadline = time.monotonic() + within_s
    shown = ""
    while time.monotonic() < deadline:
        shown = podium(stack, "workers", "--lost-after", str(lost_after_s))
        rows = [line.split() for line in shown.splitlines()[1:-1]]
        states = {(row[1], row[0]) for row in rows}
        if all((service, st) in states for service, st in wanted.items()):
            return shown
        await asyncio.sleep(0.5)
    raise AssertionError(f"never saw {wanted} in:\n{shown}")


async def test_workers_show_alive_then_lost_or_stopped(stack: Stack) -> None:
    fast = {"PODIUM_KAFKA__HEARTBEAT_INTERVAL_S": "0.5"}
    for name in ("podium-worker-researcher", "podium-worker-specialist"):
        stack.restart(name, **fast)
    every = {name.removeprefix("podium-"): "alive" for name in CONSUMERS}
    shown = await workers_until(stack, every, lost_after_s=15)
    researcher = next(line for line in shown.splitlines() if " worker-researcher " in line)
    assert f"{stack.kafka.topic_prefix}tasks.researcher[" in researcher, shown

    stack.processes["podium-worker-researcher"].send_signal(signal.SIGKILL)
    stack.processes["podium-worker-specialist"].send_signal(signal.SIGTERM)
    # They beat every 0.5 s: a worker silent for 3 s is lost.
    changed = {"worker-researcher": "lost", "worker-specialist": "stopped"}
    await workers_until(stack, changed, lost_after_s=3)

    for name in ("podium-worker-researcher", "podium-worker-specialist"):
        stack.restart(name)


def podium_cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "podium"), *args, "--url", stack.gateway],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_watch_follows_a_goal_live_and_cancel_fails_a_waiting_one(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    goal_id = await submit(gateway, "Follow me [chain=2]")
    watched = await asyncio.to_thread(podium_cli, stack, "watch", goal_id)
    assert watched.returncode == 0, watched.stderr
    lines = watched.stderr.splitlines()
    assert lines[0].startswith("submitted (run 1): Follow me"), lines
    assert any(line.startswith("planned 2 tasks: t1 ") for line in lines), lines
    assert any(line.endswith(")") and " done (attempt 1," in line for line in lines), lines
    assert lines[-1] == "completed", lines

    # With the planner stopped the goal waits, unplanned, for as long as the test likes.
    stack.processes["podium-planner"].send_signal(signal.SIGTERM)
    stack.processes["podium-planner"].wait(30)
    waiting = await submit(gateway, "Never planned")
    cancelled = await asyncio.to_thread(
        podium_cli, stack, "cancel", waiting, "--reason", "changed my mind"
    )
    assert cancelled.returncode == 0, cancelled.stderr
    assert cancelled.stdout.strip() == f"goal {waiting} run 1: cancelling"
    watched = await asyncio.to_thread(podium_cli, stack, "watch", waiting)
    assert watched.returncode == 1, watched.stderr
    assert watched.stderr.splitlines()[-1].startswith("failed: cancelled:"), watched.stderr
    again = await asyncio.to_thread(podium_cli, stack, "cancel", waiting)
    assert again.returncode == 1
    assert "409" in again.stderr, again.stderr
    stack.restart("podium-planner")
