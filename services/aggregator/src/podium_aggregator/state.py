"""What the aggregator knows about one run of one goal: its plan, its tasks, its results.

A `GoalState` is a plain, JSON-serialisable value; the handler mutates it and the faust
table stores it under `f"{goal_id}:{run}"`. Results are applied only to the attempt they
answer: a result that arrives before its plan, or before its task's attempt was issued,
waits in `buffered` until it applies.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from podium_common.events import (
    DependencyOutput,
    PlanCreated,
    PlannedTask,
    TaskResult,
    TokenUsage,
    Verdict,
)
from podium_common.topics import TaskType

FINAL_LOCAL_ID = "final"
FINAL_DESCRIPTION = "Synthesize the final answer to the goal from the inputs."


class Limits(BaseModel):
    """How far the aggregator goes to make a goal succeed."""

    # Attempts a task gets while it keeps failing (the first one included).
    max_task_attempts: int = Field(default=2, ge=1)
    # Times a failed validation sends the validated tasks back with the feedback.
    max_validation_rounds: int = Field(default=2, ge=0)


class Phase(StrEnum):
    WAITING = "waiting"  # for its dependencies
    ISSUED = "issued"  # an attempt is out with a worker
    SUCCEEDED = "succeeded"


class Outcome(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"


class TaskState(BaseModel):
    task: PlannedTask
    final: bool = False
    phase: Phase = Phase.WAITING
    attempt: int = 0  # the latest attempt issued; 0 before the first
    failures: int = 0  # failed attempts since the task was last (re)issued by a validation
    feedback: str | None = None  # sent with the current attempt
    output: str | None = None
    verdict: Verdict | None = None
    validation_rounds: int = 0  # for a validator: failed verdicts that sent work back

    def as_input(self) -> DependencyOutput:
        return DependencyOutput(
            task_id=self.task.task_id,
            type=self.task.type,
            description=self.task.description,
            output=self.output or "",
        )


class GoalState(BaseModel):
    goal_id: uuid.UUID
    run: int
    plan: PlanCreated | None = None
    # Dependencies first: the planned tasks in plan order, then the final synthesis.
    tasks: dict[str, TaskState] = Field(default_factory=dict)
    # Every (task_id, attempt) received, applied or buffered: later copies are ignored.
    seen: set[tuple[str, int]] = Field(default_factory=set)
    buffered: list[TaskResult] = Field(default_factory=list)
    usage: TokenUsage = TokenUsage()
    failed_attempts: int = 0
    # Validators whose last verdict failed after every round was spent: accepted anyway.
    accepted_failed_validations: list[str] = Field(default_factory=list)
    submitted_at: datetime | None = None
    deadline: datetime | None = None
    outcome: Outcome | None = None

    @classmethod
    def new(cls, goal_id: uuid.UUID, run: int) -> GoalState:
        return cls(goal_id=goal_id, run=run)

    @property
    def key(self) -> str:
        return f"{self.goal_id}:{self.run}"

    @property
    def ended(self) -> bool:
        return self.outcome is not None

    @property
    def final_task_id(self) -> str:
        return f"{self.goal_id}.{self.run}.{FINAL_LOCAL_ID}"

    def the_plan(self) -> PlanCreated:
        if self.plan is None:
            raise LookupError(f"goal {self.key} has no plan yet")
        return self.plan

    def planned(self) -> list[TaskState]:
        return [state for state in self.tasks.values() if not state.final]

    def final(self) -> TaskState | None:
        return self.tasks.get(self.final_task_id)

    def all_planned_succeeded(self) -> bool:
        return all(state.phase is Phase.SUCCEEDED for state in self.planned())

    def ready(self) -> list[TaskState]:
        """Waiting tasks whose dependencies have all succeeded, in plan order."""
        return [
            state
            for state in self.planned()
            if state.phase is Phase.WAITING
            and all(self.tasks[dep].phase is Phase.SUCCEEDED for dep in state.task.depends_on)
        ]

    def applicable(self) -> TaskResult | None:
        """The first buffered result that answers an attempt now out with a worker."""
        for result in self.buffered:
            state = self.tasks.get(result.task_id)
            if state and state.phase is Phase.ISSUED and state.attempt == result.attempt:
                return result
        return None

    def is_stale(self, result: TaskResult) -> bool:
        """An answer to an attempt that has been superseded: it can never apply."""
        state = self.tasks.get(result.task_id)
        return state is not None and result.attempt < state.attempt

    def add_final(self) -> TaskState:
        planned = self.planned()
        final = TaskState(
            task=PlannedTask(
                task_id=self.final_task_id,
                type=TaskType.SYNTHESIZER,
                description=FINAL_DESCRIPTION,
                depends_on=[state.task.task_id for state in planned],
            ),
            final=True,
        )
        self.tasks[final.task.task_id] = final
        return final

    def end(self, outcome: Outcome) -> None:
        """Marks the goal ended and drops the rest: an ended goal only ignores events, and
        the table keeps it small for as long as the changelog keeps the goal."""
        self.outcome = outcome
        self.plan = None
        self.tasks = {}
        self.seen = set()
        self.buffered = []
