"""The planner's handler with a scripted fake LLM: asks, repairs, plans and rejections."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Sequence
from datetime import timedelta

import pytest

from podium_common.errors import LLMMalformed, LLMRejected, LLMUnavailable, UnexpectedEvent
from podium_common.events import (
    Event,
    GoalOptions,
    GoalSubmitted,
    PlanCreated,
    PlanningStarted,
    PlanRejected,
    TaskAssigned,
    TokenUsage,
    derived_id,
    utcnow,
)
from podium_common.llm import Completion, Request
from podium_common.topics import TaskType
from podium_planner.handler import CUT, handle, on_event
from podium_planner.settings import PlannerSettings

VALID = json.dumps(
    {
        "tasks": [
            {"id": "t1", "type": "researcher", "description": "find A", "depends_on": []},
            {"id": "t2", "type": "researcher", "description": "find B"},
            {
                "id": "t3",
                "type": "specialist",
                "description": "compare",
                "requirements": ["short"],
                "depends_on": ["t1", "t2"],
            },
        ]
    }
)
CYCLE = json.dumps(
    {
        "tasks": [
            {"id": "t1", "type": "researcher", "description": "a", "depends_on": ["t2"]},
            {"id": "t2", "type": "researcher", "description": "b", "depends_on": ["t1"]},
        ]
    }
)


class FakeLLM:
    """Answers each call with the next scripted reply: a text, or an error to raise."""

    def __init__(self, *replies: str | Exception, cut: bool = False) -> None:
        self.replies = list(replies)
        self.requests: list[Request] = []
        self.cut = cut  # whether the first reply stopped at its max_tokens

    async def complete(self, request: Request) -> Completion:
        self.requests.append(request)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return Completion(
            text=reply,
            model=f"{request.model}-served",
            usage=TokenUsage(prompt_tokens=10, completion_tokens=5),
            latency_ms=1,
            cut=self.cut and len(self.requests) == 1,
        )


class Progress:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def __call__(self, events: Sequence[Event]) -> None:
        self.events.extend(events)


def goal_event(text: str = "Compare A and B", **options: object) -> GoalSubmitted:
    return GoalSubmitted.accepted(text, run=2, options=GoalOptions.model_validate(options))


@pytest.fixture
def settings() -> PlannerSettings:
    return PlannerSettings(model="plan-model", max_asks=3, max_tasks=8, deadline_s=600)


async def test_a_valid_plan_creates_the_plan_and_assigns_the_root_tasks(settings):
    goal = goal_event(models={"researcher": "fast-model"})
    llm, progress = FakeLLM(VALID), Progress()

    events = await handle(goal, llm, settings, progress)

    (plan,) = events
    # The first tasks went out before the plan, after the progress of the one ask.
    started, *rest = progress.events
    assert isinstance(started, PlanningStarted)
    tasks = [t for t in rest if isinstance(t, TaskAssigned)]
    assert len(tasks) == len(rest)
    assert isinstance(plan, PlanCreated)
    prefix = plan.tasks[0].task_id.removesuffix("t1")
    assert re.fullmatch(rf"{goal.goal_id}\.2\.[0-9a-f]{{8}}\.", prefix)
    assert plan.final_task_id == prefix + "final"
    assert plan.event_id == derived_id("plan", goal.goal_id, 2)
    assert [t.task_id for t in plan.tasks] == [prefix + "t1", prefix + "t2", prefix + "t3"]
    assert plan.tasks[2].depends_on == [prefix + "t1", prefix + "t2"]
    assert plan.deadline == goal.occurred_at + timedelta(seconds=600)
    assert (plan.model, plan.attempts, plan.usage.total) == ("plan-model-served", 1, 15)
    assert plan.goal == goal.goal
    assert [(t.task_id, t.type, t.attempt) for t in tasks] == [
        (prefix + "t1", TaskType.RESEARCHER, 1),
        (prefix + "t2", TaskType.RESEARCHER, 1),
    ]
    assert tasks[0].event_id == derived_id("task", prefix + "t1", 1)
    assert (tasks[0].model, tasks[0].goal, tasks[0].inputs) == ("fast-model", goal.goal, [])
    assert tasks[0].deadline == plan.deadline
    assert plan.trace.traceparent.split("-")[1] == goal.trace.traceparent.split("-")[1]
    assert plan.trace != goal.trace


async def test_the_llm_is_asked_for_json_with_the_contract_prompt(settings):
    goal = goal_event("Write a haiku", max_tasks=4, models={"planner": "big-model"})
    llm = FakeLLM(VALID)

    await handle(goal, llm, settings, Progress())

    (request,) = llm.requests
    system, user = request.messages
    assert (request.model, request.json_output) == ("big-model", True)
    assert system.content.splitlines()[0] == "You are Podium's planner."
    assert "Goal: Write a haiku" in user.content.splitlines()
    assert "Most tasks: 4" in user.content.splitlines()


async def test_progress_goes_out_as_each_ask_is_made_and_lands_before_what_follows(settings):
    goal = goal_event()
    progress = Progress()
    asked = asyncio.Event()

    class Held(Progress):
        """Acknowledges PlanningStarted only once the LLM has been asked: the handler must
        not wait for it before asking, and must wait for it before going on."""

        async def __call__(self, events: Sequence[Event]) -> None:
            if isinstance(events[0], PlanningStarted):
                await asyncio.wait_for(asked.wait(), 5)
                asked.clear()
            await progress(events)

    class Watching(FakeLLM):
        async def complete(self, request: Request) -> Completion:
            assert len(progress.events) == len(self.requests)  # this ask's: not yet landed
            asked.set()
            return await super().complete(request)

    events = await handle(goal, Watching("nope", VALID), settings, Held())

    started = [e for e in progress.events if isinstance(e, PlanningStarted)]
    assert [e.attempt for e in started] == [1, 2]
    assert progress.events[: len(started)] == started  # then the first tasks
    assert progress.events[1].event_id == derived_id("planning", goal.goal_id, 2, 2)
    assert isinstance(events[0], PlanCreated)


async def test_invalid_json_then_valid_takes_two_asks_and_repairs(settings):
    llm = FakeLLM("{oops", VALID)

    events = await handle(goal_event(), llm, settings, Progress())

    plan = events[0]
    assert isinstance(plan, PlanCreated)
    assert (plan.attempts, plan.usage.total) == (2, 30)
    retry = llm.requests[1].messages
    assert (retry[-2].role, retry[-2].content) == ("assistant", "{oops")
    assert retry[-1].role == "user"
    assert retry[-1].content.startswith("Your plan was invalid:\n- the reply is not valid JSON")


async def test_a_plan_cut_at_its_max_tokens_is_asked_again_shorter(settings):
    llm = FakeLLM('{"tasks": [{"id": "t1", "ty', VALID, cut=True)

    events = await handle(goal_event(), llm, settings, Progress())

    assert isinstance(events[0], PlanCreated)
    repair = llm.requests[1].messages[-1].content
    assert repair.startswith(f"Your plan was invalid:\n- {CUT}\n- the reply is not valid JSON")


async def test_an_always_invalid_plan_is_rejected_after_the_bounded_asks(settings):
    goal = goal_event()
    llm = FakeLLM(CYCLE, CYCLE, CYCLE)

    events = await handle(goal, llm, settings, Progress())

    assert len(llm.requests) == 3
    (rejection,) = events
    assert isinstance(rejection, PlanRejected)
    assert rejection.event_id == derived_id("plan", goal.goal_id, 2)
    assert rejection.errors == ["cycle: t1 → t2 → t1 (each task depends on the next)"]
    assert (rejection.attempts, rejection.usage.total, rejection.model) == (3, 45, "plan-model")
    assert "3 asks" in rejection.reason
    assert len(llm.requests[2].messages) == 6  # system, goal, then two repairs


async def test_too_many_tasks_is_an_invalid_plan(settings):
    llm = FakeLLM(VALID, VALID)

    events = await handle(
        goal_event(max_tasks=2), llm, settings.model_copy(update={"max_asks": 2}), Progress()
    )

    (rejection,) = events
    assert isinstance(rejection, PlanRejected)
    assert rejection.errors == ["the plan has 3 tasks; at most 2 are allowed"]


async def test_the_settings_default_limits_the_tasks(settings):
    llm = FakeLLM(VALID)

    events = await handle(
        goal_event(), llm, settings.model_copy(update={"max_tasks": 2, "max_asks": 1}), Progress()
    )

    assert isinstance(events[0], PlanRejected)
    assert "Most tasks: 2" in llm.requests[0].messages[1].content


async def test_a_refused_request_is_rejected_at_once(settings):
    llm = FakeLLM(LLMRejected("LLM refused the request with 400: bad"), VALID)

    events = await handle(goal_event(), llm, settings, Progress())

    (rejection,) = events
    assert isinstance(rejection, PlanRejected)
    assert rejection.attempts == 1
    assert len(llm.requests) == 1
    assert "refused" in rejection.reason


async def test_unavailable_and_malformed_replies_count_as_failed_asks(settings):
    llm = FakeLLM(LLMUnavailable("LLM answered 503"), LLMMalformed("no JSON"), VALID)

    events = await handle(goal_event(), llm, settings, Progress())

    plan = events[0]
    assert isinstance(plan, PlanCreated)
    assert (plan.attempts, plan.usage.total) == (3, 15)
    assert llm.requests[0].messages == llm.requests[2].messages  # nothing to repair


async def test_an_llm_that_stays_down_rejects_the_plan_with_its_error(settings):
    llm = FakeLLM(*[LLMUnavailable("LLM answered 503")] * 3)

    (rejection,) = await handle(goal_event(), llm, settings, Progress())

    assert isinstance(rejection, PlanRejected)
    assert rejection.errors == ["the LLM failed (llm_unavailable): LLM answered 503"]


async def test_event_ids_are_deterministic_across_redelivery(settings):
    goal = goal_event()

    first, again = Progress(), Progress()
    first.events += await handle(goal, FakeLLM(VALID), settings, first)
    again.events += await handle(goal, FakeLLM(VALID), settings, again)

    assert [e.event_id for e in first.events] == [e.event_id for e in again.events]
    assert len({e.event_id for e in first.events}) == 4  # started, two tasks, the plan


async def test_a_goal_planned_again_differently_gets_other_task_ids(settings):
    goal = goal_event()
    other = json.loads(VALID)
    other["tasks"][0]["description"] = "find A, differently"

    first, *_ = await handle(goal, FakeLLM(VALID), settings, Progress())
    again, *_ = await handle(goal, FakeLLM(json.dumps(other)), settings, Progress())

    assert isinstance(first, PlanCreated)
    assert isinstance(again, PlanCreated)
    assert first.event_id == again.event_id
    assert not {t.task_id for t in first.tasks} & {t.task_id for t in again.tasks}
    assert first.final_task_id != again.final_task_id


class HangingLLM(FakeLLM):
    """Answers its scripted replies, then never answers; remembers a call cancelled."""

    cancelled = False

    async def complete(self, request: Request) -> Completion:
        if self.replies:
            return await super().complete(request)
        self.requests.append(request)
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        raise AssertionError("unreachable")


def due_in(seconds: float, settings: PlannerSettings) -> GoalSubmitted:
    """A goal submitted long enough ago that its deadline is `seconds` away."""
    goal = goal_event()
    ago = timedelta(seconds=settings.deadline_s - seconds)
    return goal.model_copy(update={"occurred_at": goal.occurred_at - ago})


async def test_an_ask_is_bounded_by_the_time_left_to_the_deadline(settings):
    llm, progress = HangingLLM("not json"), Progress()
    started = time.monotonic()

    async with asyncio.timeout(10):
        events = await handle(due_in(0.5, settings), llm, settings, progress)

    took = time.monotonic() - started
    assert events == []
    assert len(llm.requests) == 2
    assert llm.cancelled
    assert 0.3 < took < 2, took
    assert [e.attempt for e in progress.events if isinstance(e, PlanningStarted)] == [1, 2]


async def test_a_goal_past_its_deadline_is_not_asked_for(settings):
    llm, progress = FakeLLM(VALID), Progress()

    events = await handle(due_in(-1, settings), llm, settings, progress)

    assert (events, llm.requests, progress.events) == ([], [], [])


async def test_only_goals_are_taken(settings):
    goal = goal_event()
    started = PlanningStarted(
        event_id=uuid.uuid4(),
        goal_id=goal.goal_id,
        occurred_at=utcnow(),
        trace=goal.trace,
        attempt=1,
        model="m",
    )

    with pytest.raises(UnexpectedEvent):
        await on_event(started, FakeLLM(), settings, Progress())


MARKED = json.dumps(
    {
        "tasks": [
            {"id": "t1", "type": "researcher", "description": "a", "requires_approval": "before"},
            {"id": "t2", "type": "researcher", "description": "b"},
            {
                "id": "t3",
                "type": "specialist",
                "description": "c",
                "depends_on": ["t1", "t2"],
                "requires_approval": "after",
            },
        ]
    }
)


async def test_a_plans_own_approval_marks_are_followed_unless_switched_off(settings):
    progress = Progress()
    (plan,) = await handle(goal_event(), FakeLLM(MARKED), settings, progress)
    assert isinstance(plan, PlanCreated)
    assert [t.approval for t in plan.tasks] == ["before", None, "after"]
    issued = [t.task_id for t in progress.events if isinstance(t, TaskAssigned)]
    assert issued == [plan.tasks[1].task_id]  # t1 waits for a person first

    off = settings.model_copy(update={"plan_approvals": False})
    progress = Progress()
    goal = goal_event(approvals={"specialist": "before"})  # the goal's options still count
    (plan,) = await handle(goal, FakeLLM(MARKED), off, progress)
    assert isinstance(plan, PlanCreated)
    assert [t.approval for t in plan.tasks] == [None, None, "before"]
    issued = [t.task_id for t in progress.events if isinstance(t, TaskAssigned)]
    assert issued == [plan.tasks[0].task_id, plan.tasks[1].task_id]


async def test_a_goals_own_say_on_plan_marks_wins_and_the_plan_carries_what_was_in_force(
    settings,
):
    off = settings.model_copy(update={"plan_approvals": False})
    for deployment, goal, followed in (
        (off, goal_event(plan_approvals=True), True),
        (settings, goal_event(plan_approvals=False), False),
        (off, goal_event(), False),
        (settings, goal_event(), True),
    ):
        (plan,) = await handle(goal, FakeLLM(MARKED), deployment, Progress())
        assert isinstance(plan, PlanCreated)
        marks = ["before", None, "after"] if followed else [None, None, None]
        assert [t.approval for t in plan.tasks] == marks
        # What the aggregator applies to sub-plans: the value resolved here.
        assert plan.options.plan_approvals is followed
