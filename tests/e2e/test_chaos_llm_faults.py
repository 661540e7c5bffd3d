"""LLM faults under every service as a process: 20% 429 (with Retry-After), 10% 500, 5%
timeouts and 5% malformed replies; every goal ends completed, or failed with a reason,
within its deadline. A 429's Retry-After is waited for, not just the client's backoff."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Stack
from tests.e2e.test_goals import submit, wait_for_end

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

FAULTS = {"p_429": 0.2, "p_500": 0.1, "p_timeout": 0.05, "p_malformed": 0.05}
# The services' LLM client gives up on a held call after this long (a timeout, retried).
CLIENT_TIMEOUT_S = "2"


@pytest.fixture(scope="module", autouse=True)
def llm_client_timeout() -> Iterator[None]:
    """The stack of this module starts with a short LLM timeout (it copies the environment)."""
    before = os.environ.get("PODIUM_LLM__TIMEOUT_S")
    os.environ["PODIUM_LLM__TIMEOUT_S"] = CLIENT_TIMEOUT_S
    yield
    if before is None:
        del os.environ["PODIUM_LLM__TIMEOUT_S"]
    else:
        os.environ["PODIUM_LLM__TIMEOUT_S"] = before


async def scripted(stack: Stack, path: str, body: dict[str, Any] | None = None) -> Any:
    async with httpx.AsyncClient(base_url=stack.llm, timeout=10) as client:
        if body is None:
            response = await client.get(path)
        else:
            response = await client.post(path, json=body)
        response.raise_for_status()
        return response.json()


async def test_a_429_is_retried_after_its_retry_after(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    await scripted(stack, "/_scripted/reset", {})
    fail = {"status": 429, "count": 2, "role": "planner"}
    await scripted(stack, "/_scripted/config", {"retry_after_s": 1.5, "fail_next": fail})
    started = time.monotonic()
    goal_id = await submit(gateway, "Retry-After is a floor [parallel=1]")
    body = await wait_for_end(gateway, goal_id, 60)
    elapsed = time.monotonic() - started

    assert body["status"] == "completed", body
    planner = (await scripted(stack, "/_scripted/stats"))["by_role_outcome"]["planner"]
    assert planner == {"429": 2, "ok": 1}
    # Two waits of 1.5 s each; the client's own backoff (base 0.05 s here) is far shorter.
    assert elapsed >= 3.0


async def test_every_goal_ends_completed_or_failed_with_a_reason_within_its_deadline(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    await scripted(stack, "/_scripted/reset", {})
    config = FAULTS | {"retry_after_s": 0.5, "timeout_hold_s": 5, "latency_ms": 5, "seed": 3}
    await scripted(stack, "/_scripted/config", config)
    deadline_s = 60
    texts = [f"Weigh option {i} [parallel=2][chain=2]" for i in range(16)]
    try:
        ids = await asyncio.gather(*(submit(gateway, t, deadline_s=deadline_s) for t in texts))
        bodies = await asyncio.gather(*(wait_for_end(gateway, g, deadline_s + 30) for g in ids))
        stats = await scripted(stack, "/_scripted/stats")
    finally:
        await scripted(stack, "/_scripted/config", dict.fromkeys(FAULTS, 0.0))

    for body in bodies:
        if body["status"] == "failed":
            assert body["reason"]["kind"], body
            assert body["reason"]["message"], body
        else:
            assert body["status"] == "completed", body
            # A "malformed" reply is still text to a plain-text role: any answer counts.
            assert body["output"], body
        ended = datetime.fromisoformat(body["completed_at"])
        submitted = datetime.fromisoformat(body["submitted_at"])
        # The deadline runs from the plan; a tick of the aggregator's timer is the slack.
        assert ended - submitted <= timedelta(seconds=deadline_s + 5), body
    completed = sum(body["status"] == "completed" for body in bodies)
    # Retries carry most goals through: the faults are frequent, not fatal.
    assert completed >= len(bodies) // 2, [body["reason"] for body in bodies]
    for outcome in ("429", "500", "timeout", "malformed"):
        assert stats["by_outcome"].get(outcome, 0) > 0, stats
