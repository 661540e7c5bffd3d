"""Approval gates: a task that waits for a person's decision, and the deadline clock that
stands still meanwhile.

A gate is opened with exactly what the person is shown (the task as its worker will read
it, or its output) and that content's digest; a decision applies only to the gate of its
round whose digest it names. While any gate of a goal is open, its deadline clock stands
(unless the limits count the wait): when the last one closes, the deadline moves on by
the time spent waiting. Each gate has its own timeout.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from podium_aggregator import outcomes
from podium_aggregator.state import Gate, GoalState, Limits, Phase, TaskState
from podium_common.events import ApprovalRequested, Trace, approval_digest


def open_gate(
    state: GoalState,
    task: TaskState,
    stage: str,
    shown: str,
    trace: Trace,
    now: datetime,
    limits: Limits,
) -> ApprovalRequested:
    """Puts `task` in wait for a decision on `shown`; returns the request to publish."""
    options = state.the_plan().options
    timeout_s = options.approval_timeout_s or limits.approval_timeout_s
    task.approval_rounds += 1
    task.gate = Gate(
        stage=stage,
        round=task.approval_rounds,
        digest=approval_digest(task.task.task_id, stage, shown),
        timeout_at=now + timedelta(seconds=timeout_s),
        on_timeout=options.on_approval_timeout or limits.on_approval_timeout,
    )
    task.phase = Phase.APPROVAL
    if state.waiting_since is None and not limits.deadline_counts_approval_wait:
        state.waiting_since = now
    return outcomes.approval_requested(state, task, task.gate, shown, trace, now)


def close_gate(state: GoalState, task: TaskState, now: datetime) -> Gate:
    """Ends `task`'s wait; once no gate is open, the deadline clock runs again, the time
    spent waiting added to the deadline. The caller moves the task on."""
    gate = task.gate
    if gate is None:
        raise LookupError(f"task {task.task.task_id} waits for no decision")
    task.gate = None
    if state.waiting_since is not None and not state.gates():
        if state.deadline is not None:
            state.deadline += now - state.waiting_since
        state.waiting_since = None
    return gate


def expired(state: GoalState, now: datetime) -> TaskState | None:
    """The first task whose gate has timed out, if any."""
    return next(
        (task for task in state.gates() if task.gate is not None and task.gate.timeout_at <= now),
        None,
    )
