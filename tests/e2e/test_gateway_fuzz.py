"""The gateway fuzzed with schemathesis against its own OpenAPI document, every service a
process: no request is answered 5xx, every response matches the document, and every goal
it accepted ends (completed, or failed with a reason; or waits for the person it asked
for) without a dead letter anywhere."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from podium_cli.deadletters import dlq_topics, read
from tests.e2e.conftest import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")
# Where an accepted goal may rest: ended, or waiting for a person it asked for (approvals).
SETTLED = ("completed", "failed", "waiting_approval")


async def settled(gateway: httpx.AsyncClient, goal_id: str, within_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + within_s
    status = None
    while time.monotonic() < deadline:
        body: dict[str, Any] = (await gateway.get(f"/goals/{goal_id}")).json()
        status = body["status"]
        if status in SETTLED:
            return body
        await asyncio.sleep(0.25)
    raise TimeoutError(f"goal {goal_id} still {status} after {within_s}s")


async def fuzz(stack: Stack, report: Path) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        SCHEMATHESIS,
        "run",
        f"{stack.gateway}/openapi.json",
        "--checks=all",
        "--phases=examples,coverage,fuzzing",
        "--max-examples=20",
        # Hypothesis's own check that generating data is quick enough: on a busy machine it
        # fails the run without any request having gone wrong.
        "--suppress-health-check=too_slow",
        "--seed=12",
        "--workers=1",
        "--request-timeout=10",
        "--output-sanitize=false",
        f"--report-dir={report}",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**stack.env, "NO_COLOR": "1", "SCHEMATHESIS_TELEMETRY": "false"},
        cwd=report,
    )
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode(errors="replace")


async def test_fuzzed_gateway_answers_as_documented_and_accepted_goals_end(
    stack: Stack, gateway: httpx.AsyncClient, tmp_path: Path
) -> None:
    document = (await gateway.get("/openapi.json")).json()
    assert set(document["paths"]) == {
        "/goals",
        "/goals/{goal_id}",
        "/goals/{goal_id}/events",
        "/goals/{goal_id}/rerun",
    }

    status, output = await fuzz(stack, tmp_path)
    assert status == 0, output[-6000:]

    listed = (await gateway.get("/goals", params={"limit": 500})).json()["goals"]
    assert listed, "the fuzzer had no goal accepted"
    ended = [await settled(gateway, goal["goal_id"], within_s=120) for goal in listed]
    failed = [goal for goal in ended if goal["status"] == "failed"]
    reasons = {goal["reason"]["kind"] for goal in failed}
    assert reasons <= {"deadline", "cancelled", "plan_rejected"}, [
        (goal["reason"], goal["options"]) for goal in failed
    ]
    assert await read(stack.kafka, dlq_topics(stack.kafka, None)) == []
