"""goals → plans, tasks.<type>: asks the LLM for a plan and assigns the tasks that can start.

Each goal gets up to `max_asks` asks. An invalid reply is asked again with its errors; an
unavailable or malformed LLM reply is a failed ask; a refused request ends planning at
once. A valid plan becomes a `TaskAssigned` for every task without dependencies (the
aggregator releases the others), published first, then `PlanCreated`; otherwise the goal
gets `PlanRejected`.

Every ask is bounded by the time left to the goal's deadline. Once it has passed the
planner stops asking and publishes nothing more: the aggregator, which started the goal's
clock when it read the submission, fails the goal with reason `deadline`, once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from podium_common.budget import spending
from podium_common.errors import (
    BUDGET_SPENT,
    BudgetExhausted,
    LLMMalformed,
    LLMRejected,
    LLMUnavailable,
    UnexpectedEvent,
)
from podium_common.events import (
    BEFORE,
    Event,
    GoalSubmitted,
    PlanCreated,
    PlannedTask,
    PlanningStarted,
    PlanRejected,
    TaskAssigned,
    TokenUsage,
    Trace,
    derived_id,
    utcnow,
)
from podium_common.llm import LLM, Completion, Request
from podium_common.plans import plan_schema, planned_tasks, review
from podium_common.topics import TaskType
from podium_planner import prompts
from podium_planner.settings import PlannerSettings

log = logging.getLogger(__name__)

# Said first when a reply that is no plan stopped at its max_tokens.
CUT = "the reply was cut off at the length limit before it ended: answer with a shorter plan"

# The task types that may answer with a sub-plan: validators and synthesizers answer.
DELEGATING = frozenset({TaskType.RESEARCHER, TaskType.SPECIALIST})

# Publishes progress (`PlanningStarted`) as the LLM is asked, not with the outcome.
Progress = Callable[[Sequence[Event]], Awaitable[None]]


@dataclass(frozen=True)
class Planning:
    """One goal being planned: what every event about it shares."""

    goal: GoalSubmitted
    model: str
    max_tasks: int
    deadline: datetime
    trace: Trace
    # Task types that wait for a person: the planner's setting, then the goal's options.
    approvals: dict[str, str]
    # Whether the plan's own approval marks count: the goal's options, else the setting.
    plan_approvals: bool

    @classmethod
    def of(cls, goal: GoalSubmitted, settings: PlannerSettings) -> Planning:
        options = goal.options
        return cls(
            goal=goal,
            model=options.models.get("planner", settings.model),
            max_tasks=options.max_tasks or settings.max_tasks,
            deadline=goal.deadline_at(settings.deadline_s),
            trace=goal.trace.child(),
            approvals={**settings.approvals, **options.approvals},
            plan_approvals=options.follows_plan_marks(settings.plan_approvals),
        )

    def seconds_left(self) -> float:
        return (self.deadline - utcnow()).total_seconds()


async def on_event(
    event: Event, llm: LLM, settings: PlannerSettings, progress: Progress
) -> list[Event]:
    """The run loop's entry: only goals belong on the planner's topic."""
    if not isinstance(event, GoalSubmitted):
        raise UnexpectedEvent(
            f"the planner takes GoalSubmitted, not {type(event).__name__}", goal_id=event.goal_id
        )
    with spending(event.goal_id, event.run, tenant=event.tenant, budget=event.options.token_budget):
        return await handle(event, llm, settings, progress)


async def handle(
    goal: GoalSubmitted, llm: LLM, settings: PlannerSettings, progress: Progress
) -> list[Event]:
    """Plans one goal: the tasks that can start are published (through `progress`) before the
    plan is returned; a rejected plan is returned alone."""
    planning = Planning.of(goal, settings)
    messages = prompts.first_ask(goal.goal, planning.max_tasks)
    usage = TokenUsage()
    errors: list[str] = []
    for attempt in range(1, settings.max_asks + 1):
        if planning.seconds_left() <= 0:
            return out_of_time(planning, attempt - 1)
        # PlanningStarted goes out while the LLM is asked, not a broker round trip before
        # it; it is acknowledged before anything after it is published (`finally`).
        announcing: asyncio.Future[None] = asyncio.ensure_future(
            progress([started(planning, attempt)])
        )
        request = Request(
            model=planning.model,
            messages=messages,
            json_output=True,
            schema=plan_schema(planning.max_tasks),
            schema_name="plan",
        )
        try:
            async with asyncio.timeout(planning.seconds_left()):
                completion = await llm.complete(request)
        except TimeoutError:
            return out_of_time(planning, attempt)
        except BudgetExhausted as error:
            return [rejected(planning, BUDGET_SPENT, [str(error)], usage, attempt)]
        except LLMRejected as error:
            return [
                rejected(
                    planning, f"the LLM refused to plan: {error}", [str(error)], usage, attempt
                )
            ]
        except (LLMUnavailable, LLMMalformed) as error:
            errors = [f"the LLM failed ({error.kind}): {error}"]
            continue  # nothing to repair: the same conversation is asked again
        finally:
            await announcing
        usage += completion.usage
        result = review(completion.text, max_tasks=planning.max_tasks)
        if not result.errors:
            tasks = planned_tasks(
                result.tasks,
                run_prefix=f"{goal.goal_id}.{goal.run}.",
                approvals=planning.approvals,
                plan_approvals=planning.plan_approvals,
            )
            # The first tasks are on their topics before the plan is on `plans`: the plan
            # the aggregator adopts never lacks them, even if this process dies in between
            # and the goal is planned again, differently (those tasks then bind to no plan).
            await progress(roots(planning, tasks))
            return [created(planning, tasks, completion, usage, attempt)]
        errors = ([CUT] if completion.cut else []) + result.errors
        messages += prompts.repair(completion.text, errors)
    reason = f"no valid plan after {settings.max_asks} asks"
    return [rejected(planning, reason, errors, usage, settings.max_asks)]


def out_of_time(planning: Planning, asks: int) -> list[Event]:
    """Nothing to publish: the aggregator fails a goal whose deadline passed."""
    goal = planning.goal
    log.warning(
        "planning of goal %s run %d stopped after %d asks: its deadline %s passed",
        goal.goal_id,
        goal.run,
        asks,
        planning.deadline.isoformat(),
    )
    return []


def started(planning: Planning, attempt: int) -> PlanningStarted:
    goal = planning.goal
    return PlanningStarted(
        event_id=derived_id("planning", goal.goal_id, goal.run, attempt),
        goal_id=goal.goal_id,
        run=goal.run,
        occurred_at=utcnow(),
        trace=planning.trace,
        attempt=attempt,
        model=planning.model,
    )


def rejected(
    planning: Planning, reason: str, errors: list[str], usage: TokenUsage, attempts: int
) -> PlanRejected:
    goal = planning.goal
    log.warning("plan rejected for goal %s run %d: %s", goal.goal_id, goal.run, reason)
    return PlanRejected(
        event_id=derived_id("plan", goal.goal_id, goal.run),
        goal_id=goal.goal_id,
        run=goal.run,
        occurred_at=utcnow(),
        trace=planning.trace,
        reason=reason,
        errors=errors,
        model=planning.model,
        usage=usage,
        attempts=attempts,
    )


def created(
    planning: Planning,
    tasks: list[PlannedTask],
    completion: Completion,
    usage: TokenUsage,
    attempts: int,
) -> PlanCreated:
    goal = planning.goal
    log.info("plan of %d tasks for goal %s run %d", len(tasks), goal.goal_id, goal.run)
    plan = PlanCreated(
        event_id=derived_id("plan", goal.goal_id, goal.run),
        goal_id=goal.goal_id,
        run=goal.run,
        occurred_at=utcnow(),
        trace=planning.trace,
        goal=goal.goal,
        # The approvals in force, the planner's settings included: the aggregator applies
        # them to the tasks of sub-plans too.
        options=goal.options.model_copy(
            update={"approvals": planning.approvals, "plan_approvals": planning.plan_approvals}
        ),
        deadline=planning.deadline,
        tasks=tasks,
        model=completion.model,
        usage=usage,
        attempts=attempts,
    )
    return plan


def roots(planning: Planning, tasks: list[PlannedTask]) -> list[Event]:
    """The first attempts of the tasks that need no other task's output, but those whose
    input a person approves first (the aggregator asks for the approval). A researcher or
    specialist may answer with a sub-plan of the tasks the goal has left (the aggregator
    offers the same to the tasks it issues, and holds every sub-plan to the limits)."""
    left = planning.max_tasks - len(tasks)
    room = left if left >= 2 and planning.goal.options.max_depth != 0 else 0
    return [
        assigned(planning, task, room if task.type in DELEGATING else 0)
        for task in tasks
        if not task.depends_on and task.approval != BEFORE
    ]


def assigned(planning: Planning, task: PlannedTask, max_subtasks: int = 0) -> TaskAssigned:
    """The first attempt of a task that needs no other task's output."""
    goal = planning.goal
    return TaskAssigned(
        event_id=derived_id("task", task.task_id, 1),
        goal_id=goal.goal_id,
        run=goal.run,
        occurred_at=utcnow(),
        trace=planning.trace,
        task_id=task.task_id,
        type=task.type,
        description=task.description,
        requirements=task.requirements,
        depends_on=[],
        goal=goal.goal,
        attempt=1,
        deadline=planning.deadline,
        model=goal.options.models.get(task.type.value),
        max_subtasks=max_subtasks,
    )
