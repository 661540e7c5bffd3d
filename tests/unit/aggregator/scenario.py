"""Builders for the aggregator's tests: one goal's plan and the results workers send back."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from podium_aggregator.handler import handle
from podium_aggregator.state import GoalState, Limits
from podium_common.events import (
    Event,
    GoalOptions,
    GoalSubmitted,
    PlanCreated,
    PlannedTask,
    TaskError,
    TaskResult,
    TaskStatus,
    TokenUsage,
    Trace,
    Verdict,
    derived_id,
)
from podium_common.topics import TaskType

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
NOW = T0 + timedelta(seconds=30)
DEADLINE = T0 + timedelta(minutes=10)


@dataclass
class Goal:
    """One run of one goal; tasks are given by local id, e.g. `{"t3": ["t1", "t2"]}`.

    With a `digest`, task ids are the planner's `<goal_id>.<run>.<digest>.<local id>`: two
    plans of one goal with different digests are two different plans of it."""

    shape: dict[str, list[str]]
    types: dict[str, TaskType] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)
    goal_id: uuid.UUID = field(default_factory=uuid.uuid4)
    run: int = 1
    text: str = "Compare two message brokers"
    digest: str | None = None
    usage: TokenUsage = field(
        default_factory=lambda: TokenUsage(prompt_tokens=100, completion_tokens=50)
    )

    def tid(self, local: str) -> str:
        plan = f".{self.digest}" if self.digest else ""
        return f"{self.goal_id}.{self.run}{plan}.{local}"

    def state(self) -> GoalState:
        return GoalState.new(self.goal_id, self.run)

    def submitted(self, at: datetime = T0, deadline_s: int | None = None) -> GoalSubmitted:
        return GoalSubmitted.accepted(
            self.text,
            goal_id=self.goal_id,
            run=self.run,
            at=at,
            options=GoalOptions(models=self.models, deadline_s=deadline_s),
        )

    def plan(self) -> PlanCreated:
        tasks = [
            PlannedTask(
                task_id=self.tid(local),
                type=self.types.get(local, TaskType.RESEARCHER),
                description=f"do {local}" + (f" as plan {self.digest} says" if self.digest else ""),
                requirements=[f"req {local}"],
                depends_on=[self.tid(dep) for dep in deps],
            )
            for local, deps in self.shape.items()
        ]
        return PlanCreated(
            event_id=derived_id("plan", self.goal_id, self.run),
            goal_id=self.goal_id,
            run=self.run,
            occurred_at=T0,
            trace=Trace.new(),
            goal=self.text,
            options=GoalOptions(models=self.models),
            deadline=DEADLINE,
            tasks=tasks,
            model="planner-model",
            usage=self.usage,
            attempts=1,
        )

    def result(
        self,
        local: str,
        attempt: int = 1,
        *,
        ok: bool = True,
        verdict: Verdict | None = None,
        output: str | None = None,
    ) -> TaskResult:
        task_id = self.tid(local)
        return TaskResult(
            event_id=derived_id("result", task_id, attempt),
            goal_id=self.goal_id,
            run=self.run,
            occurred_at=T0 + timedelta(seconds=attempt),
            trace=Trace.new(),
            task_id=task_id,
            type=TaskType.SYNTHESIZER if local == "final" else self.types.get(local, "researcher"),
            status=TaskStatus.SUCCEEDED if ok else TaskStatus.FAILED,
            output=(output or f"output of {local}#{attempt}") if ok else None,
            verdict=verdict,
            error=None if ok else TaskError(kind="llm_rejected", message=f"{local} refused"),
            model="worker-model",
            usage=TokenUsage(prompt_tokens=10, completion_tokens=5),
            latency_ms=20,
            worker_id="w1",
            attempt=attempt,
            final=local == "final",
        )


def run(
    state: GoalState,
    events: Iterable[Event],
    limits: Limits | None = None,
    *,
    round_trip: bool = False,
) -> list[Event]:
    """Feeds events in order; with `round_trip`, stores and reloads the state as JSON between
    events, as the faust table does."""
    outputs: list[Event] = []
    for event in events:
        outputs += handle(state, event, NOW, limits or Limits())
        if round_trip:
            state = GoalState.model_validate_json(state.model_dump_json())
    return outputs


def comparable(events: Iterable[Event]) -> list[dict[str, object]]:
    """Events without what legitimately differs between runs (trace span ids), sorted."""
    dumped = [event.model_dump(mode="json", exclude={"trace"}) for event in events]
    return sorted(dumped, key=lambda event: str(event["event_id"]))
