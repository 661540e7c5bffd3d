"""Every consumer service SIGKILLed at each of its crash points: the goal still completes
exactly once, with correct totals, and the read model agrees.

Each case restarts one service with `PODIUM_FAULT=POINT@<goal id>` (`podium_common.faults`),
submits a goal whose plan gives every worker type a task, checks that the service died by
SIGKILL at that point for that goal, restarts it without the fault and waits for the goal's
end and for every consumer group to commit all of its topics. Then `outputs`, read to its
end offsets, holds exactly one outcome for the goal, a `GoalCompleted` whose totals are what
the goal's adopted plan and its distinct `(task_id, attempt)` results add up to, and
`GET /goals/{id}` says the same.

How the fault is aimed at the case's goal: the gateway makes up goal ids, so the case
chooses the id and publishes the `GoalSubmitted` to `goals` itself (as `podium rerun` does),
after the faulted service was started. Records of `goals`, `plans`, `results` and `outputs`
are keyed by goal id and task records by task id, which starts with the goal id: the one
MATCH hits the first record of the goal each service reads. The aggregator's first one would
be the submission, so it is given the fault only once it has committed the goal's plan (the
LLM answers slowly meanwhile): its kill lands on a task result. The faulted process runs with
a short session timeout, so the group hands its partitions on soon after the kill.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from podium_common.events import GoalCompleted
from podium_common.topics import Topics
from tests.e2e.conftest import Stack, llm_latency
from tests.e2e.goal_log import GoalLog, caught_up, consumed, submit
from tests.e2e.test_goals import wait_for_end

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

# planner, each worker type, aggregator, recorder (by process name)
CONSUMERS = tuple(consumed(Topics()))
POINTS = ("consumed", "published", "stored", "committed")
# Two researchers, a specialist on both, a validator on it, and the final synthesis.
GOAL = "Recover from a kill at {point} in {service} [parallel=2][chain=1][validate]"
FIRES_WITHIN_S = 45
SMALL_LATENCY_MS = (10, 40)
# Long enough for the aggregator to commit a plan and restart before the first result.
SLOW_LATENCY_MS = (4000, 4000)
AGGREGATOR = "podium-aggregator"
CASE_WITHIN_S = 240


@pytest.fixture(scope="module", autouse=True)
async def small_llm_latency(stack: Stack) -> None:
    await llm_latency(stack, *SMALL_LATENCY_MS)


@contextlib.contextmanager
def logs_on_failure(stack: Stack) -> Iterator[None]:
    try:
        yield
    except BaseException:
        print(stack.log_tail(80))
        raise


async def kill_at(
    stack: Stack,
    gateway: httpx.AsyncClient,
    service: str,
    point: str,
    goal_id: uuid.UUID,
    template: str = GOAL,
) -> None:
    """Runs the goal (`template` filled in) into `service` killed at `point`, then restarts
    the service as usual."""
    goal = template.format(point=point, service=service)
    fault = {"PODIUM_FAULT": f"{point}@{goal_id}", "PODIUM_KAFKA__SESSION_TIMEOUT_MS": "6000"}
    if service == AGGREGATOR:
        faulted = await armed_after_the_plan(stack, gateway, goal, goal_id, fault)
    else:
        faulted = stack.restart(service, **fault)
        await submit(stack.kafka, goal_id, goal)
    try:
        with contextlib.suppress(subprocess.TimeoutExpired):
            await asyncio.to_thread(faulted.wait, FIRES_WITHIN_S)
    finally:
        stack.restart(service)  # stops a faulted process that is still running
        await llm_latency(stack, *SMALL_LATENCY_MS)
    said = (stack.logs / f"{service}.log").read_text(errors="replace")
    fired = re.search(rf"fault: SIGKILL at {point} for \S*{goal_id}", said)
    aim = f"{service} was to be killed at {point} for goal {goal_id}"
    assert faulted.returncode == -signal.SIGKILL, f"{aim}; it ended with {faulted.returncode}"
    assert fired, f"{aim}; it was SIGKILLed, but its log has no fault line for the goal"


async def recovered(
    stack: Stack, gateway: httpx.AsyncClient, service: str, point: str, template: str = GOAL
) -> tuple[GoalLog, GoalCompleted, dict[str, Any]]:
    """A new goal run into `service` killed at `point` (`kill_at`), once it ended and every
    consumer group caught up: its log, its one outcome (a `GoalCompleted`, asserted) and
    `GET /goals/{id}`'s body."""
    goal_id = uuid.uuid4()
    with logs_on_failure(stack):
        async with asyncio.timeout(CASE_WITHIN_S):
            await kill_at(stack, gateway, service, point, goal_id, template)
            await wait_for_end(gateway, str(goal_id), within_s=120)
            await caught_up(stack.kafka)
            log = await GoalLog.read(stack.kafka, goal_id)
            body = (await gateway.get(f"/goals/{goal_id}")).json()
        assert len(log.outcomes) == 1, log.outcomes
        (outcome,) = log.outcomes
        assert isinstance(outcome, GoalCompleted), outcome
        assert body["status"] == "completed", body
        assert body["output"] == outcome.output
    return log, outcome, body


async def armed_after_the_plan(
    stack: Stack,
    gateway: httpx.AsyncClient,
    goal: str,
    goal_id: uuid.UUID,
    fault: dict[str, str],
) -> subprocess.Popen[bytes]:
    """The aggregator restarted with the fault once it has committed the goal's plan, so the
    fault strikes at a task result: slow LLM calls keep every result of the goal out until
    then."""
    await llm_latency(stack, *SLOW_LATENCY_MS)
    await submit(stack.kafka, goal_id, goal)
    await wait_for_status(gateway, goal_id, "running")
    await caught_up(stack.kafka, AGGREGATOR)
    return stack.restart(AGGREGATOR, **fault)


async def wait_for_status(gateway: httpx.AsyncClient, goal_id: uuid.UUID, status: str) -> None:
    while True:
        found = await gateway.get(f"/goals/{goal_id}")
        if found.status_code == 200 and found.json()["status"] == status:
            return
        await asyncio.sleep(0.1)


@pytest.mark.parametrize(
    ("service", "point"),
    [(service, point) for service in CONSUMERS for point in POINTS],
    ids=lambda value: value.removeprefix("podium-"),
)
async def test_a_kill_at_a_crash_point_completes_the_goal_once_with_correct_totals(
    stack: Stack, gateway: httpx.AsyncClient, service: str, point: str
) -> None:
    log, outcome, body = await recovered(stack, gateway, service, point)

    with logs_on_failure(stack):
        expected = log.expected_totals()
        assert outcome.totals.model_copy(update={"wall_ms": 0}) == expected
        assert [task["status"] for task in body["tasks"]] == ["succeeded"] * expected.tasks
        read = body["totals"]
        assert (read["tasks"], read["succeeded"]) == (expected.tasks, expected.succeeded), read
        assert (read["prompt_tokens"], read["completion_tokens"]) == (
            expected.usage.prompt_tokens,
            expected.usage.completion_tokens,
        ), read
