"""A realistic goal, told as the events the services publish about it.

Plan: t1 and t2 (researchers) in parallel, t3 (specialist) on both, then the final
synthesis. t2 fails its first attempt and succeeds on its second. Tokens are chosen so
that every sum is distinct and a double count shows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from podium_common.events import (
    Event,
    GoalCompleted,
    GoalOptions,
    GoalSubmitted,
    GoalTotals,
    PlanCreated,
    PlannedTask,
    PlanningStarted,
    TaskAssigned,
    TaskError,
    TaskResult,
    TaskStatus,
    TokenUsage,
    Trace,
    derived_id,
    utcnow,
)
from podium_common.topics import TaskType

GOAL_TEXT = "Compare two sorting algorithms"
FINAL_OUTPUT = "Merge sort is stable; quicksort is faster in practice."
PLANNING = TokenUsage(prompt_tokens=100, completion_tokens=50)
# (task, attempt) → usage; t2's first attempt failed.
USAGE = {
    ("t1", 1): TokenUsage(prompt_tokens=11, completion_tokens=1),
    ("t2", 1): TokenUsage(prompt_tokens=13, completion_tokens=2),
    ("t2", 2): TokenUsage(prompt_tokens=17, completion_tokens=4),
    ("t3", 1): TokenUsage(prompt_tokens=19, completion_tokens=8),
    ("final", 1): TokenUsage(prompt_tokens=23, completion_tokens=16),
}
PROMPT_TOKENS = PLANNING.prompt_tokens + sum(u.prompt_tokens for u in USAGE.values())
COMPLETION_TOKENS = PLANNING.completion_tokens + sum(u.completion_tokens for u in USAGE.values())


@dataclass(frozen=True)
class Story:
    goal_id: uuid.UUID
    events: list[Event]

    def task_id(self, local: str) -> str:
        return f"{self.goal_id}.1.{local}"


def story(goal_id: uuid.UUID | None = None, start: datetime | None = None) -> Story:
    """Every event of one completed goal, in the order the services would emit them."""
    goal_id = goal_id or uuid.uuid4()
    start = start or utcnow()
    clock = iter(start + timedelta(milliseconds=10 * step) for step in range(100))
    trace = Trace.new()

    def common(*id_parts: object) -> dict[str, object]:
        return {
            "event_id": derived_id(*id_parts),
            "goal_id": goal_id,
            "occurred_at": next(clock),
            "trace": trace,
        }

    def tid(local: str) -> str:
        return f"{goal_id}.1.{local}"

    plan = [
        PlannedTask(task_id=tid("t1"), type=TaskType.RESEARCHER, description="facts on A"),
        PlannedTask(task_id=tid("t2"), type=TaskType.RESEARCHER, description="facts on B"),
        PlannedTask(
            task_id=tid("t3"),
            type=TaskType.SPECIALIST,
            description="compare A and B",
            requirements=["short"],
            depends_on=[tid("t1"), tid("t2")],
        ),
    ]
    by_local = {"t1": plan[0], "t2": plan[1], "t3": plan[2]}
    deadline = start + timedelta(minutes=10)

    def assigned(local: str, attempt: int) -> TaskAssigned:
        planned = by_local.get(local)
        return TaskAssigned(
            **common("task", tid(local), attempt),
            task_id=tid(local),
            type=planned.type if planned else TaskType.SYNTHESIZER,
            description=planned.description if planned else "synthesize the answer",
            requirements=planned.requirements if planned else [],
            depends_on=planned.depends_on if planned else [t.task_id for t in plan],
            goal=GOAL_TEXT,
            attempt=attempt,
            deadline=deadline,
            model="model-a",
            final=planned is None,
        )

    def result(local: str, attempt: int, output: str | None = None) -> TaskResult:
        planned = by_local.get(local)
        failed = output is None
        return TaskResult(
            **common("result", tid(local), attempt),
            task_id=tid(local),
            type=planned.type if planned else TaskType.SYNTHESIZER,
            status=TaskStatus.FAILED if failed else TaskStatus.SUCCEEDED,
            output=output,
            error=TaskError(kind="llm_unavailable", message="timed out") if failed else None,
            model="model-b",
            usage=USAGE[(local, attempt)],
            latency_ms=100 * attempt,
            worker_id="worker@test",
            attempt=attempt,
            final=planned is None,
        )

    events: list[Event] = [
        GoalSubmitted(
            **common("goal", goal_id, 1),
            goal=GOAL_TEXT,
            submitter="tester",
            options=GoalOptions(max_tasks=5),
        ),
        PlanningStarted(**common("planning", goal_id, 1, 1), attempt=1, model="planner-m"),
        PlanCreated(
            **common("plan", goal_id, 1),
            goal=GOAL_TEXT,
            options=GoalOptions(max_tasks=5),
            deadline=deadline,
            tasks=plan,
            model="planner-m",
            usage=PLANNING,
            attempts=1,
        ),
        assigned("t1", 1),
        assigned("t2", 1),
        result("t1", 1, "A is stable"),
        result("t2", 1),
        assigned("t2", 2),
        result("t2", 2, "B is fast"),
        assigned("t3", 1),
        result("t3", 1, "A for stability, B for speed"),
        assigned("final", 1),
        result("final", 1, FINAL_OUTPUT),
    ]
    events.append(
        GoalCompleted(
            **common("outcome", goal_id, 1),
            output=FINAL_OUTPUT,
            totals=GoalTotals(
                tasks=4,
                succeeded=4,
                failed=0,
                usage=TokenUsage(prompt_tokens=PROMPT_TOKENS, completion_tokens=COMPLETION_TOKENS),
                wall_ms=1234,
            ),
        )
    )
    return Story(goal_id, events)
