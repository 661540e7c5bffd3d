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
- A task may answer with a sub-plan (delegation, `tree`): its tasks run in its place, under
  it in the goal's task tree, and the synthesis of their outputs becomes its output. A
  sub-plan beyond the goal's limits (depth, total tasks) is a failed attempt of the task.
- A task marked for approval waits for a person (`gates`): `before` it runs, on its input
  exactly as its worker will read it, `after`, on its output. An approval binds to the
  digest of what was shown. A rejection with a comment sends the task back once with the
  comment as feedback; any other rejection fails the goal, and so does a gate nobody
  decided in time (or it is rejected, as the goal's options say). While a gate is open the
  goal's deadline stands still.
- A task or a plan the goal's token budget had no room for (`podium_common.budget`) fails
  the goal with reason `budget`, at once: no retry would fit either.
- A rejected plan, a passed deadline or a cancellation fails the goal. An ended goal
  ignores everything: a cancelled goal has no task released and its late results and
  its plan, if that comes after the cancellation, change nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime

from podium_aggregator import gates, outcomes, tree
from podium_aggregator.state import GoalState, Limits, Phase, TaskState
from podium_common.errors import BUDGET_SPENT, BudgetExhausted
from podium_common.events import (
    AFTER,
    BEFORE,
    ApprovalDecided,
    DependencyOutput,
    Event,
    GoalCancelled,
    GoalSubmitted,
    PlanCreated,
    PlanRejected,
    TaskResult,
    TaskStatus,
    Trace,
    approval_digest,
    local_task_id,
)
from podium_common.prompts import user_message

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
        case ApprovalDecided():
            return on_decided(state, event, now, limits)
    return []  # PlanningStarted, ApprovalRequested: for the read model only


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
        # The planner issues the first attempt of every task without dependencies, but of
        # those whose input a person approves first.
        issued = not task.depends_on and task.approval != BEFORE
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
    kind = "budget" if rejected.reason == BUDGET_SPENT else "plan_rejected"
    return [outcomes.failed(state, kind, reason or rejected.reason, rejected.trace.child(), now)]


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


def on_decided(
    state: GoalState, decision: ApprovalDecided, now: datetime, limits: Limits
) -> list[Event]:
    """Applies a person's decision to the gate it names (its round and digest); a decision
    on anything else (already decided, or shown something that has changed) is ignored."""
    task = state.tasks.get(decision.task_id)
    gate = task.gate if task is not None else None
    if state.ended or task is None or gate is None:
        return []
    if (gate.round, gate.digest) != (decision.round, decision.digest):
        log.info("ignored a decision on %s: not what awaits one", decision.task_id)
        return []
    trace = decision.trace.child()
    gates.close_gate(state, task, now)
    events = _decide(state, task, gate.stage, decision, trace, now, limits)
    return events + _settle(state, trace, now, limits)


def on_tick(state: GoalState, now: datetime) -> list[Event]:
    """Fails a goal whose deadline has passed, planned or not, or one with an approval
    nobody decided in time (or rejects that, as its options say); nothing otherwise. The
    deadline is not looked at while the goal's clock stands for a person."""
    if state.ended:
        return []
    waited = gates.expired(state, now)
    if waited is not None:
        return _timed_out(state, waited, now)
    if state.deadline is None or not state.overdue(now):
        return []
    reason = f"deadline {state.deadline.isoformat()} passed"
    if state.plan is None:
        reason += " while the goal was still being planned"
    waiting = [s.task.task_id for s in state.tasks.values() if s.phase is not Phase.SUCCEEDED]
    if waiting:
        reason += f" with tasks unfinished: {', '.join(waiting)}"
    return [outcomes.failed(state, "deadline", reason, _trace(state).child(), now)]


def _trace(state: GoalState) -> Trace:
    return state.plan.trace if state.plan is not None else state.trace or Trace.new()


def _timed_out(state: GoalState, task: TaskState, now: datetime) -> list[Event]:
    gate = gates.close_gate(state, task, now)
    trace = _trace(state).child()
    what = f"the {gate.stage} approval of task {local_task_id(task.task.task_id)}"
    if gate.on_timeout == "reject":
        decided = outcomes.rejected_by_timeout(state, task, gate, trace, now)
        reason = f"{what} was rejected: nobody decided by {gate.timeout_at.isoformat()}"
        return [decided, outcomes.failed(state, "rejected", reason, trace, now)]
    reason = f"{what} timed out: nobody decided by {gate.timeout_at.isoformat()}"
    return [outcomes.failed(state, "approval_timeout", reason, trace, now)]


def _belongs(state: GoalState, result: TaskResult) -> bool:
    """A result of a task of the adopted plan or of its adopted sub-plans (another plan's
    task ids differ)."""
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
        events += _release(state, trace, now, limits)
        result = state.applicable()
        if result is None:
            break
        state.buffered.remove(result)
        events += _apply(state, result, trace, now, limits)
    return events


def _release(state: GoalState, trace: Trace, now: datetime, limits: Limits) -> list[Event]:
    tree.add_due_syntheses(state)
    ready = state.ready()
    if not ready and state.final() is None and state.all_planned_succeeded():
        ready = [state.add_final()]
    events: list[Event] = []
    for task in ready:
        events += _dispatch(state, task, trace, now, limits)
    return events


def _dispatch(
    state: GoalState,
    task: TaskState,
    trace: Trace,
    now: datetime,
    limits: Limits,
    feedback: str | None = None,
) -> list[Event]:
    """Issues the task's next attempt; or, when a person approves its input first and has
    not approved exactly this input, asks for that approval."""
    task.feedback = feedback
    attempt = outcomes.assigned(
        state,
        state.the_plan(),
        task,
        _inputs(state, task),
        trace,
        now,
        attempt=task.attempt + 1,
        max_subtasks=state.room_for_subtasks(task, limits),
    )
    if task.task.approval == BEFORE:
        shown = user_message(attempt)
        if approval_digest(task.task.task_id, BEFORE, shown) != task.approved_digest:
            return [gates.open_gate(state, task, BEFORE, shown, trace, now, limits)]
    task.phase = Phase.ISSUED
    task.attempt += 1
    return [attempt]


def _inputs(state: GoalState, task: TaskState) -> list[DependencyOutput]:
    """Its dependencies' outputs; a sub-plan's task without dependencies gets its parent's."""
    if task.task.depends_on:
        return [state.tasks[dep].as_input() for dep in task.task.depends_on]
    if task.parent is not None and task.synthesis_of is None:
        return _inputs(state, state.tasks[task.parent])
    return []


def _apply(
    state: GoalState, result: TaskResult, trace: Trace, now: datetime, limits: Limits
) -> list[Event]:
    task = state.tasks[result.task_id]
    if result.status is TaskStatus.FAILED:
        if result.error is not None and result.error.kind == BudgetExhausted.kind:
            # Another attempt would not fit either: the goal has spent what it may.
            where = f"task {local_task_id(task.task.task_id)}"
            reason = f"{where} could not run: {result.error.message}"
            return [outcomes.failed(state, "budget", reason, trace, now)]
        error = f"{result.error.kind}: {result.error.message}" if result.error else "no error"
        if result.error is not None and result.error.kind == "deadline" and state.overdue(now):
            # The worker stopped at the goal's deadline: the goal fails for it, as the timer
            # would, not as a task that failed.
            where = f"task {local_task_id(task.task.task_id)}"
            return [outcomes.failed(state, "deadline", f"{where} stopped: {error}", trace, now)]
        return _on_failure(state, task, error, trace, now, limits)
    if result.delegated:
        problem = tree.adopt(state, task, result, limits)
        if problem is None:
            return []  # its sub-plan's tasks are released as they become ready
        state.failed_attempts += 1
        return _on_failure(state, task, f"subplan_rejected: {problem}", trace, now, limits)
    verdict = result.verdict
    if verdict is not None and not verdict.passed and task.task.depends_on:
        if task.validation_rounds < limits.max_validation_rounds:
            return _send_back(state, task, verdict.feedback, trace, now, limits)
        state.accepted_failed_validations.append(task.task.task_id)
    task.verdict = verdict
    output = result.output or (verdict.feedback if verdict else "")
    return _succeed(state, task, output, trace, now, limits)


def _succeed(
    state: GoalState, task: TaskState, output: str, trace: Trace, now: datetime, limits: Limits
) -> list[Event]:
    """The task has its output: a person approves it first, if the task says so."""
    if task.task.approval == AFTER:
        task.pending_output = output
        return [gates.open_gate(state, task, AFTER, output, trace, now, limits)]
    return _complete(state, task, output, trace, now, limits)


def _complete(
    state: GoalState, task: TaskState, output: str, trace: Trace, now: datetime, limits: Limits
) -> list[Event]:
    task.phase = Phase.SUCCEEDED
    task.output = output
    task.pending_output = None
    if task.final:
        return [outcomes.completed(state, task.output, trace, now)]
    if task.synthesis_of is not None:  # the delegated task is answered
        return _succeed(state, state.tasks[task.synthesis_of], output, trace, now, limits)
    return []


def _decide(
    state: GoalState,
    task: TaskState,
    stage: str,
    decision: ApprovalDecided,
    trace: Trace,
    now: datetime,
    limits: Limits,
) -> list[Event]:
    if decision.approved and stage == BEFORE:
        task.approved_digest = decision.digest
        return _dispatch(state, task, trace, now, limits, task.feedback)
    if decision.approved:
        return _complete(state, task, task.pending_output or "", trace, now, limits)
    if decision.comment and task.sent_back < 1:
        # Sent back once with the comment: an output is redone, an input amended (and
        # shown again for approval).
        task.sent_back += 1
        task.failures = 0
        tree.drop_subtree(state, task)
        return _dispatch(state, task, trace, now, limits, decision.comment)
    said = f": {decision.comment}" if decision.comment else ""
    again = " (it had been sent back once already)" if task.sent_back else ""
    reason = (
        f"the {stage} approval of task {local_task_id(task.task.task_id)} was rejected by "
        f"{decision.decided_by}{said}{again}"
    )
    return [outcomes.failed(state, "rejected", reason, trace, now)]


def _on_failure(
    state: GoalState, task: TaskState, error: str, trace: Trace, now: datetime, limits: Limits
) -> list[Event]:
    task.failures += 1
    if task.failures < limits.max_task_attempts:
        return _dispatch(state, task, trace, now, limits, task.feedback)
    reason = f"task {task.task.task_id} failed {task.failures} times; last error {error}"
    return [outcomes.failed(state, "task_failed", reason, trace, now)]


def _send_back(
    state: GoalState,
    validator: TaskState,
    feedback: str,
    trace: Trace,
    now: datetime,
    limits: Limits,
) -> list[Event]:
    """Re-issues what a validator checked, with its feedback; it checks again afterwards.
    What a checked task had delegated is dropped: it is redone as a whole."""
    validator.validation_rounds += 1
    validator.phase = Phase.WAITING
    events: list[Event] = []
    for dep in validator.task.depends_on:
        task = state.tasks[dep]
        task.failures = 0
        tree.drop_subtree(state, task)
        events += _dispatch(state, task, trace, now, limits, feedback)
    return events
