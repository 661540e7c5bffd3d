"""LLM faults under every service as a process: 20% 429 (with Retry-After), 10% 500, 5%
timeouts and 5% malformed replies; every goal ends completed, or failed with a reason,
within its deadline, none is stuck, and no more fail than the faults explain (the bound is
worked out below from the fault rates and the retry policy). A 429's Retry-After is waited
for, not just the client's backoff."""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from podium_aggregator.settings import AggregatorSettings
from podium_planner.settings import PlannerSettings
from podium_worker_researcher.handler import ROLE as RESEARCHER
from podium_worker_specialist.handler import ROLE as SPECIALIST
from podium_worker_synthesizer.handler import ROLE as SYNTHESIZER
from podium_worker_validator.handler import ROLE as VALIDATOR
from tests.e2e.conftest import Stack
from tests.e2e.test_goals import submit, wait_for_end

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

FAULTS = {"p_429": 0.2, "p_500": 0.1, "p_timeout": 0.05, "p_malformed": 0.05}
# The services' LLM client gives up on a held call after this long (a timeout, retried).
CLIENT_TIMEOUT_S = "2"
GOALS = 16
# The chance the test fails a run whose failures are all the faults' doing.
FALSE_ALARM = 1e-4


def goal_failure_bound() -> float:
    """An upper bound on the chance that the injected faults fail one goal, by the policy:

    - A call fails retriably (429, 500, timeout) with p_retry = p_429 + p_500 + p_timeout;
      the LLM client tries `llm.max_attempts` times, so a request is unavailable with
      p_u = p_retry ** max_attempts.
    - An answer is malformed with p_m = p_malformed / (1 - p_retry); counted as unusable for
      every role (a plain-text role takes it as text), which only raises the bound.
    - A plan is rejected when all `max_asks` asks fail, each with p_u + (1 - p_u) * p_m.
    - A task attempt fails unless one of its `max_replies` replies is usable before a request
      is unavailable; a task fails when `max_task_attempts` attempts fail.
    - A goal has at most `max_tasks` tasks and the synthesis, each sent back at most
      `max_validation_rounds` times; the union bound adds their chances to the plan's.
    A deadline is not the faults' doing: 60 s holds dozens of 2 s timeouts on a goal's path.
    """
    p_retry = FAULTS["p_429"] + FAULTS["p_500"] + FAULTS["p_timeout"]
    planner, aggregator = PlannerSettings(), AggregatorSettings()
    p_u = p_retry**planner.llm.max_attempts
    p_m = FAULTS["p_malformed"] / (1 - p_retry)
    p_plan = (p_u + (1 - p_u) * p_m) ** planner.max_asks
    replies = min(role.max_replies for role in (RESEARCHER, SPECIALIST, SYNTHESIZER, VALIDATOR))
    usable = (1 - p_u) * (1 - p_m) * sum(((1 - p_u) * p_m) ** k for k in range(replies))
    p_task = (1 - usable) ** aggregator.max_task_attempts
    tasks = (planner.max_tasks + 1) * (1 + aggregator.max_validation_rounds)
    return p_plan + tasks * p_task


def allowed_failures(goals: int, p_goal: float) -> int:
    """The fewest failures k such that more than k happen by the faults alone with a chance
    below FALSE_ALARM (the binomial tail over `goals` goals)."""
    for k in range(goals + 1):
        at_most_k = sum(
            math.comb(goals, i) * p_goal**i * (1 - p_goal) ** (goals - i) for i in range(k + 1)
        )
        if 1 - at_most_k < FALSE_ALARM:
            return k
    return goals


def explained(reason: dict[str, str]) -> bool:
    """A failure the faults can cause: no plan after every ask, or a task whose last
    attempt found the LLM unavailable or its replies unusable."""
    message = reason["message"]
    if reason["kind"] == "plan_rejected":
        return message.startswith("no valid plan after")
    return reason["kind"] == "task_failed" and any(
        kind in message for kind in ("llm_unavailable", "llm_malformed")
    )


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


def test_the_faults_explain_at_most_one_failure_in_sixteen_goals():
    p_goal = goal_failure_bound()
    assert 1e-4 < p_goal < 1e-3  # mostly a plan rejected after three failed asks
    assert allowed_failures(GOALS, p_goal) == 1


async def test_every_goal_ends_completed_or_failed_with_a_reason_within_its_deadline(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    await scripted(stack, "/_scripted/reset", {})
    config = FAULTS | {"retry_after_s": 0.5, "timeout_hold_s": 5, "latency_ms": 5, "seed": 3}
    await scripted(stack, "/_scripted/config", config)
    deadline_s = 60
    texts = [f"Weigh option {i} [parallel=2][chain=2]" for i in range(GOALS)]
    try:
        ids = await asyncio.gather(*(submit(gateway, t, deadline_s=deadline_s) for t in texts))
        waited = await asyncio.gather(
            *(wait_for_end(gateway, g, deadline_s + 30) for g in ids), return_exceptions=True
        )
        stats = await scripted(stack, "/_scripted/stats")
    finally:
        await scripted(stack, "/_scripted/config", dict.fromkeys(FAULTS, 0.0))

    stuck = [str(body) for body in waited if isinstance(body, BaseException)]
    assert not stuck, stuck
    bodies = [body for body in waited if isinstance(body, dict)]
    for body in bodies:
        if body["status"] == "failed":
            assert body["reason"]["kind"], body
            assert body["reason"]["message"], body
            assert explained(body["reason"]), body
        else:
            assert body["status"] == "completed", body
            # A "malformed" reply is still text to a plain-text role: any answer counts.
            assert body["output"], body
        ended = datetime.fromisoformat(body["completed_at"])
        submitted = datetime.fromisoformat(body["submitted_at"])
        # The deadline runs from submission; a tick of the aggregator's timer is the slack.
        assert ended - submitted <= timedelta(seconds=deadline_s + 5), body
    failures = [body["reason"] for body in bodies if body["status"] == "failed"]
    assert len(failures) <= allowed_failures(GOALS, goal_failure_bound()), failures
    for outcome in ("429", "500", "timeout", "malformed"):
        assert stats["by_outcome"].get(outcome, 0) > 0, stats
