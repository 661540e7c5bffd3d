"""The planner's handler and prompt against the scripted OpenAI-compatible LLM over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import pytest

from podium_common.events import (
    Event,
    GoalSubmitted,
    PlanCreated,
    PlanRejected,
    TaskAssigned,
)
from podium_common.llm import OpenAILLM
from podium_common.settings import LLMSettings
from podium_planner.handler import handle
from podium_planner.settings import PlannerSettings
from podium_scripted_llm.settings import FaultConfig
from podium_scripted_llm.testing import ScriptedLLM, serve

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


@pytest.fixture
async def scripted() -> AsyncIterator[ScriptedLLM]:
    async with serve(FaultConfig(retry_after_s=0)) as server:
        yield server


@pytest.fixture
async def llm(scripted: ScriptedLLM) -> AsyncIterator[OpenAILLM]:
    client = OpenAILLM(LLMSettings(base_url=scripted.base_url, backoff_base_s=0.01))
    yield client
    await client.close()


async def ignore(_: Sequence[Event]) -> None:
    return None


def goal_event(text: str) -> GoalSubmitted:
    return GoalSubmitted.accepted(text)


async def test_a_steered_plan_is_accepted_with_its_chain_and_parallel_roots(llm):
    goal = goal_event("Survey brokers [parallel=3] [chain=3] [validate]")

    published: list[Event] = []

    async def progress(events: Sequence[Event]) -> None:
        published.extend(events)

    (plan,) = await handle(goal, llm, PlannerSettings(), progress)
    roots = published  # the progress of the ask, then the first tasks

    assert isinstance(plan, PlanCreated)
    assert plan.attempts == 1
    assert plan.usage.total > 0
    assert [task.type.value for task in plan.tasks] == ["researcher"] * 3 + ["specialist"] * 3 + [
        "validator"
    ]
    assert plan.tasks[4].depends_on == [plan.tasks[3].task_id]
    assert [task.task_id for task in roots if isinstance(task, TaskAssigned)] == [
        task.task_id for task in plan.tasks[:3]
    ]


async def test_an_always_cyclic_plan_is_rejected_after_three_asks(llm, scripted):
    (rejection,) = await handle(
        goal_event("Loop [invalid-plan]"), llm, PlannerSettings(max_asks=3), ignore
    )

    assert isinstance(rejection, PlanRejected)
    assert rejection.attempts == 3
    assert rejection.errors[0].startswith("cycle: t1 → t2 → t1")
    assert scripted.stats()["by_role"]["planner"] == 3


async def test_a_reply_that_is_never_json_is_rejected(llm):
    (rejection,) = await handle(
        goal_event("Garble [malformed-plan]"), llm, PlannerSettings(), ignore
    )

    assert isinstance(rejection, PlanRejected)
    assert rejection.errors[0].startswith("the reply is not valid JSON")


async def test_a_429_is_retried_by_the_client_within_one_ask(llm, scripted):
    scripted.fail_next(status=429, count=2, role="planner")

    plan, *_ = await handle(goal_event("Retry me"), llm, PlannerSettings(), ignore)

    assert isinstance(plan, PlanCreated)
    assert plan.attempts == 1
    assert scripted.stats()["by_role_outcome"]["planner"] == {"429": 2, "ok": 1}
