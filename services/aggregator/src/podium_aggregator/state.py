"""What the aggregator knows about one run of one goal: its plan, its tasks, its results.

A `GoalState` is a plain, JSON-serialisable value; the handler mutates it and the faust
table stores it under `f"{goal_id}:{run}"`. Results are applied only to the attempt they
answer: a result that arrives before its plan, or before its task's attempt was issued,
waits in `buffered` until it applies. `expires_at` says when the table may forget a state,
`due` when the timer must look at it.

The tasks form a tree held flat: `tasks` maps every task id to its `TaskState`, the
plan's tasks (depth 0) first. A task that answered with a sub-plan is `DELEGATED`: its
`children` are the sub-plan's tasks, each with `parent` set to it and `depth` one more,
and once they have all succeeded a synthesis task (`synthesis_of` the parent) is added;
its output becomes the parent's. A task redone later (sent back by a validator or a
person) drops its subtree first. A task that waits for a person is in phase `APPROVAL`
with its open `Gate`; while any gate is open the goal's deadline clock stands still
(`waiting_since`), unless the limits count the wait.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

from podium_common.events import (
    DEFAULT_DEADLINE_S,
    FINAL_LOCAL_ID,
    DependencyOutput,
    OnTimeout,
    PlanCreated,
    PlannedTask,
    Stage,
    TaskResult,
    TokenUsage,
    Trace,
    Verdict,
)
from podium_common.topics import TaskType

# What `expires_at` takes for a time a state stored by an older version did not record.
LONG_AGO = datetime(1970, 1, 1, tzinfo=UTC)
FINAL_DESCRIPTION = "Synthesize the final answer to the goal from the inputs."
SUBTREE_DESCRIPTION = "Synthesize, from the inputs (the parts of a delegated task), the answer to:"


class Limits(BaseModel):
    """How far the aggregator goes to make a goal succeed."""

    # Attempts a task gets while it keeps failing (the first one included).
    max_task_attempts: int = Field(default=2, ge=1)
    # Times a failed validation sends the validated tasks back with the feedback.
    max_validation_rounds: int = Field(default=2, ge=0)
    # A goal's deadline when its options name none: the planner's default too.
    deadline_s: int = Field(default=DEFAULT_DEADLINE_S, ge=1)
    # How long an ended goal stays in the table, where its late events find it ended.
    retention_s: float = Field(default=3600, gt=0)
    # How long results wait for a goal whose submission and plan never arrive.
    unplanned_ttl_s: float = Field(default=3600, gt=0)
    # The most tasks a goal may have, sub-plans' included, when its options name none (the
    # planner's default too); a goal's syntheses do not count.
    max_tasks: int = Field(default=8, ge=1)
    # How deep tasks may delegate when a goal's options do not say: a sub-plan's tasks are
    # one deeper than their parent, the plan's are at 0.
    max_depth: int = Field(default=2, ge=0)
    # How long an approval waits when a goal's options do not say, and what then happens:
    # `fail` the goal, or `reject` the task (a decision of `podium:timeout`).
    approval_timeout_s: int = Field(default=86400, ge=1)
    on_approval_timeout: OnTimeout = "fail"
    # Whether a goal's deadline runs on while it waits for a person (by default it stands).
    deadline_counts_approval_wait: bool = False
    # Whether a sub-plan's own marks make its tasks wait for a person (else only the
    # goal's options by task type do).
    plan_approvals: bool = True

    @property
    def retention(self) -> timedelta:
        return timedelta(seconds=self.retention_s)

    @property
    def unplanned_ttl(self) -> timedelta:
        return timedelta(seconds=self.unplanned_ttl_s)


class Phase(StrEnum):
    WAITING = "waiting"  # for its dependencies
    ISSUED = "issued"  # an attempt is out with a worker
    APPROVAL = "approval"  # for a person's decision on its input or output
    DELEGATED = "delegated"  # its sub-plan runs in its place
    SUCCEEDED = "succeeded"


class Gate(BaseModel):
    """An open request for a person's decision on one task."""

    stage: Stage
    round: int
    digest: str
    timeout_at: datetime
    on_timeout: OnTimeout


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
    # The tree: the task this one's sub-plan belongs to, and how deep it is.
    parent: str | None = None
    depth: int = 0
    children: list[str] = Field(default_factory=list)  # while DELEGATED: its sub-plan
    synthesis_of: str | None = None  # for a sub-plan's synthesis: the task it answers
    # Approvals: the open gate, how many were asked, the input last approved, the output
    # that waits for its approval, and rejections with a comment that sent the task back.
    gate: Gate | None = None
    approval_rounds: int = 0
    approved_digest: str | None = None
    pending_output: str | None = None
    sent_back: int = 0

    @property
    def counted(self) -> bool:
        """Counts towards the goal's `max_tasks`: every task but the syntheses."""
        return not self.final and self.synthesis_of is None

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
    # When the aggregator first handled an event of this run (its own clock).
    first_seen: datetime | None = None
    # The goal's submission (`GoalSubmitted.occurred_at`), once the aggregator has read it.
    accepted_at: datetime | None = None
    # The first of its plan, rejection or cancellation: the start of its wall time when the
    # submission was not read.
    submitted_at: datetime | None = None
    deadline: datetime | None = None
    trace: Trace | None = None  # the goal's, for an outcome decided outside any event
    outcome: Outcome | None = None
    ended_at: datetime | None = None
    # Since when a gate has been open with the deadline clock stopped; None: it runs.
    waiting_since: datetime | None = None

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
        return self.the_plan().final_task_id

    def the_plan(self) -> PlanCreated:
        if self.plan is None:
            raise LookupError(f"goal {self.key} has no plan yet")
        return self.plan

    def planned(self) -> list[TaskState]:
        """Every task but the final synthesis: the plan's, the sub-plans' and their syntheses."""
        return [state for state in self.tasks.values() if not state.final]

    def roots(self) -> list[TaskState]:
        """The plan's own tasks, in plan order."""
        return [s for s in self.tasks.values() if not s.final and s.parent is None]

    def gates(self) -> list[TaskState]:
        """Tasks waiting for a person."""
        return [state for state in self.tasks.values() if state.gate is not None]

    def subtree(self, task_id: str) -> list[str]:
        """Every task below `task_id` (its sub-plans' tasks and their syntheses, at any depth)."""
        below = [s.task.task_id for s in self.tasks.values() if s.parent == task_id]
        return below + [deep for child in below for deep in self.subtree(child)]

    def due(self) -> datetime | None:
        """When the timer must look at this goal: its deadline, unless the clock stands while
        a person decides, or an open gate's timeout, whichever comes first."""
        if self.ended:
            return None
        times = [state.gate.timeout_at for state in self.gates() if state.gate is not None]
        if self.deadline is not None and self.waiting_since is None:
            times.append(self.deadline)
        return min(times, default=None)

    def overdue(self, now: datetime) -> bool:
        """Past its deadline, with the clock running (it stands while a person decides)."""
        return self.deadline is not None and self.waiting_since is None and now >= self.deadline

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
        final = TaskState(
            task=PlannedTask(
                task_id=self.final_task_id,
                type=TaskType.SYNTHESIZER,
                description=FINAL_DESCRIPTION,
                depends_on=[state.task.task_id for state in self.roots()],
                approval=self.the_plan().options.approvals.get(TaskType.SYNTHESIZER.value),
            ),
            final=True,
        )
        self.tasks[final.task.task_id] = final
        return final

    def add_synthesis(self, parent: TaskState) -> TaskState:
        """The task whose answer becomes `parent`'s output: a synthesis of its sub-plan."""
        prefix = parent.children[0].rpartition(".")[0]
        planned = parent.task
        synthesis = TaskState(
            task=PlannedTask(
                task_id=f"{prefix}.{FINAL_LOCAL_ID}",
                type=TaskType.SYNTHESIZER,
                description=f"{SUBTREE_DESCRIPTION} {planned.description}",
                requirements=planned.requirements,
                depends_on=list(parent.children),
            ),
            parent=planned.task_id,
            depth=parent.depth + 1,
            synthesis_of=planned.task_id,
        )
        self.tasks[synthesis.task.task_id] = synthesis
        return synthesis

    def max_tasks(self, limits: Limits) -> int:
        return self.the_plan().options.max_tasks or limits.max_tasks

    def max_depth(self, limits: Limits) -> int:
        depth = self.the_plan().options.max_depth
        return limits.max_depth if depth is None else depth

    def room_for_subtasks(self, task: TaskState, limits: Limits) -> int:
        """The most tasks a sub-plan answering `task` may have now: 0 for a task that may
        not delegate (a synthesis, a validation, too deep) or when fewer than two tasks are
        left of the goal's `max_tasks`."""
        kind = task.task.type
        if not task.counted or kind in (TaskType.VALIDATOR, TaskType.SYNTHESIZER):
            return 0
        if task.depth + 1 > self.max_depth(limits):
            return 0
        left = self.max_tasks(limits) - sum(state.counted for state in self.tasks.values())
        return left if left >= 2 else 0

    def expires_at(self, retention: timedelta, unplanned_ttl: timedelta) -> datetime | None:
        """When the table may forget this state: `retention` after the goal ended; for results
        of a goal neither submitted nor planned (as far as the aggregator has read),
        `unplanned_ttl` after they were first seen; None while the goal is open, because its
        deadline ends it. A time an older version did not store counts as long ago."""
        if self.ended:
            return (self.ended_at or LONG_AGO) + retention
        if self.plan is None and self.accepted_at is None:
            return (self.first_seen or LONG_AGO) + unplanned_ttl
        return None

    def end(self, outcome: Outcome, now: datetime) -> None:
        """Marks the goal ended and drops the rest: an ended goal only ignores events, and
        the table keeps it small until it expires."""
        self.outcome = outcome
        self.ended_at = now
        self.plan = None
        self.tasks = {}
        self.seen = set()
        self.buffered = []
