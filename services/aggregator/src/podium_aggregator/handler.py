"""goals + plans + results → tasks.<type>, outputs: drives one goal's tasks to its final answer.

Every function takes the goal's `GoalState`, changes it in place and returns the events to
publish. The outcome does not depend on the order events arrive in: a result that comes
before its plan (or before its attempt was issued) is buffered and applied once it fits,
and each `(task_id, attempt)` counts once, however often it is delivered.

- A task is issued once every task it depends on has succeeded (the planner issues the
  tasks without dependencies), with their outputs as inputs.
- A failed attempt is retried until the task has failed `max_task_attempts` times; then
  the goal fails.
- A validator's failing verdict sends the tasks it checked back with its feedback, then
  checks again, at most `max_validation_rounds` times; after that the verdict is accepted.
- When every planned task has succeeded, the final synthesis is asked for, with every
  planned task's output; its answer completes the goal.
- A goal's deadline runs from its submission (its plan's, if the plan comes first), so a
  goal still being planned fails at its deadline too.
- The first plan of a run is the one its results bind to: a goal planned twice (the
  planner crashed before it committed) may get a different second plan, whose task ids
  differ (they carry a digest of the plan), and whose results are ignored.
- A rejected plan, a passed deadline or a cancellation fails the goal. An ended goal
  ignores everything: a cancelled goal has no task released and its late results and
  its plan, if that comes after the cancellation, change nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime

from podium_aggregator import outcomes
from podium_aggregator.state import GoalState, Limits, Phase, TaskState
from podium_common.events import (
    Event,
    GoalCancelled,
    GoalSubmitted,
    PlanCreated,
    PlanRejected,
    TaskResult,
    TaskStatus,
    Trace,
)

log = logging.getLogger(__name__)


def handle(state: GoalState, event: Event, now: datetime, limits: Limits) -> list[Event]:
    """Applies any event from `goals`, `plans` or `results`; others are not the aggregator's."""
    if state.first_seen is None:
        state.first_seen = now
    match event:
        case GoalSubmitted():
            return on_submitted(state, event, limits)
        case PlanCreated():
            return on_plan_created(state, event, now, limits)
        case PlanRejected():
            return on_plan_rejected(state, event, now)
        case TaskResult():
            return on_result(state, event, now, limits)
        case GoalCancelled():
            return on_cancelled(state, event, now)
    return []  # e.g. PlanningStarted: progress for the read model only


def on_submitted(state: GoalState, goal: GoalSubmitted, limits: Limits) -> list[Event]:
    """Starts the goal's deadline clock; a plan that came first keeps the deadline it carries."""
    if state.ended:
        return []
    state.accepted_at = goal.occurred_at
    state.deadline = state.deadline or goal.deadline_at(limits.deadline_s)
    state.trace = state.trace or goal.trace
    return []


def on_plan_created(
    state: GoalState, plan: PlanCreated, now: datetime, limits: Limits
) -> list[Event]:
    if state.ended or state.plan is not None:
        return []
    state.plan = plan
    state.submitted_at = state.submitted_at or plan.occurred_at
    state.deadline = plan.deadline
    state.trace = state.trace or plan.trace
    state.usage += plan.usage
    for task in plan.tasks:
        # The planner issues the first attempt of every task without dependencies.
        issued = not task.depends_on
        state.tasks[task.task_id] = TaskState(
            task=task, phase=Phase.ISSUED if issued else Phase.WAITING, attempt=int(issued)
        )
    waiting, state.buffered = state.buffered, []
    others = [result.task_id for result in waiting if not _belongs(state, result)]
    if others:
        log.warning("ignored results of another plan of goal %s: %s", state.key, others)
    _admit(state, [result for result in waiting if _belongs(state, result)])
    return _settle(state, plan.trace.child(), now, limits)


def on_plan_rejected(state: GoalState, rejected: PlanRejected, now: datetime) -> list[Event]:
    if state.ended or state.plan is not None:
        return []
    state.submitted_at = state.submitted_at or rejected.occurred_at
    state.usage += rejected.usage
    reason = f"{rejected.reason}: {'; '.join(rejected.errors)}" if rejected.errors else ""
    return [
        outcomes.failed(
            state, "plan_rejected", reason or rejected.reason, rejected.trace.child(), now
        )
    ]


def on_result(state: GoalState, result: TaskResult, now: datetime, limits: Limits) -> list[Event]:
    key = (result.task_id, result.attempt)
    if state.ended or key in state.seen:
        return []
    if state.plan is not None and not _belongs(state, result):
        log.warning("ignored a result for %s, not a task of goal %s", result.task_id, state.key)
        return []
    state.seen.add(key)
    if state.plan is None:
        state.buffered.append(result)
        return []  # counted and applied when the plan arrives, if it is one of its tasks
    _admit(state, [result])
    return _settle(state, result.trace.child(), now, limits)


def on_cancelled(state: GoalState, cancelled: GoalCancelled, now: datetime) -> list[Event]:
    """Fails the run at once, with or without its plan; an ended run stays as it ended."""
    if state.ended:
        return []
    if state.submitted_at is None:
        state.submitted_at = cancelled.occurred_at
    return [outcomes.failed(state, "cancelled", cancelled.describe(), cancelled.trace.child(), now)]


def on_tick(state: GoalState, now: datetime) -> list[Event]:
    """Fails a goal whose deadline has passed, planned or not; nothing otherwise."""
    if state.ended or state.deadline is None or now < state.deadline:
        return []
    reason = f"deadline {state.deadline.isoformat()} passed"
    if state.plan is None:
        reason += " while the goal was still being planned"
    waiting = [s.task.task_id for s in state.tasks.values() if s.phase is not Phase.SUCCEEDED]
    if waiting:
        reason += f" with tasks unfinished: {', '.join(waiting)}"
    trace = state.plan.trace if state.plan is not None else state.trace or Trace.new()
    return [outcomes.failed(state, "deadline", reason, trace.child(), now)]


def _belongs(state: GoalState, result: TaskResult) -> bool:
    """A result of a task of the adopted plan (another plan's task ids differ)."""
    return result.task_id in state.tasks or result.task_id == state.final_task_id


def _admit(state: GoalState, results: list[TaskResult]) -> None:
    """Counts results of the adopted plan once each; keeps those that may still apply."""
    for result in results:
        state.usage += result.usage
        if result.status is TaskStatus.FAILED:
            state.failed_attempts += 1
        if not state.is_stale(result):
            state.buffered.append(result)


def _settle(state: GoalState, trace: Trace, now: datetime, limits: Limits) -> list[Event]:
    """Issues what is ready and applies what fits, until nothing changes."""
    events: list[Event] = []
    while not state.ended:
        events += _release(state, trace, now)
        result = state.applicable()
        if result is None:
            break
        state.buffered.remove(result)
        events += _apply(state, result, trace, now, limits)
    return events


def _release(state: GoalState, trace: Trace, now: datetime) -> list[Event]:
    ready = state.ready()
    if not ready and state.final() is None and state.all_planned_succeeded():
        ready = [state.add_final()]
    return [_issue(state, task, trace, now) for task in ready]


def _issue(
    state: GoalState, task: TaskState, trace: Trace, now: datetime, feedback: str | None = None
) -> Event:
    task.phase = Phase.ISSUED
    task.attempt += 1
    task.feedback = feedback
    inputs = [state.tasks[dep].as_input() for dep in task.task.depends_on]
    return outcomes.assigned(state, state.the_plan(), task, inputs, trace, now)


def _apply(
    state: GoalState, result: TaskResult, trace: Trace, now: datetime, limits: Limits
) -> list[Event]:
    task = state.tasks[result.task_id]
    if result.status is TaskStatus.FAILED:
        return _on_failure(state, task, result, trace, now, limits)
    verdict = result.verdict
    if verdict is not None and not verdict.passed and task.task.depends_on:
        if task.validation_rounds < limits.max_validation_rounds:
            return _send_back(state, task, verdict.feedback, trace, now)
        state.accepted_failed_validations.append(task.task.task_id)
    task.phase = Phase.SUCCEEDED
    task.output = result.output or (verdict.feedback if verdict else "")
    task.verdict = verdict
    if task.final:
        return [outcomes.completed(state, task.output, trace, now)]
    return []


def _on_failure(
    state: GoalState,
    task: TaskState,
    result: TaskResult,
    trace: Trace,
    now: datetime,
    limits: Limits,
) -> list[Event]:
    task.failures += 1
    if task.failures < limits.max_task_attempts:
        return [_issue(state, task, trace, now, task.feedback)]
    error = f"{result.error.kind}: {result.error.message}" if result.error else "no error given"
    reason = f"task {task.task.task_id} failed {task.failures} times; last error {error}"
    return [outcomes.failed(state, "task_failed", reason, trace, now)]


def _send_back(
    state: GoalState, validator: TaskState, feedback: str, trace: Trace, now: datetime
) -> list[Event]:
    """Re-issues what a validator checked, with its feedback; it checks again afterwards."""
    validator.validation_rounds += 1
    validator.phase = Phase.WAITING
    events = []
    for dep in validator.task.depends_on:
        task = state.tasks[dep]
        task.failures = 0
        events.append(_issue(state, task, trace, now, feedback))
    return events
