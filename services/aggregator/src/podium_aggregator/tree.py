"""Delegation: a task answered with a sub-plan, expanded under it in the goal's task tree.

The sub-plan was reviewed by its worker as the planner reviews a plan (`podium_common.plans`);
here it is checked against what only the aggregator knows: the goal's limits (depth and
total tasks, as they stand now) and that its ids are new and its own. A sub-plan that passes
puts its parent in `DELEGATED` and its tasks into the table; one that does not is a failed
attempt of the parent, with the reason.
"""

from __future__ import annotations

from graphlib import CycleError, TopologicalSorter

from podium_aggregator.state import GoalState, Limits, Phase, TaskState
from podium_common.events import TaskResult, subplan_prefix
from podium_common.plans import approval_of


def adopt(state: GoalState, parent: TaskState, result: TaskResult, limits: Limits) -> str | None:
    """Expands `result`'s sub-plan under `parent`; returns what is wrong with it instead."""
    problems = _problems(state, parent, result, limits)
    if problems:
        return "; ".join(problems)
    options = state.the_plan().options
    # A plan made before goals had their say carries none: the deployment's setting counts.
    plan_approvals = options.follows_plan_marks(limits.plan_approvals)
    parent.phase = Phase.DELEGATED
    parent.children = [task.task_id for task in result.subtasks]
    for task in result.subtasks:
        marked = approval_of(
            task.approval, task.type.value, options.approvals, plan_approvals=plan_approvals
        )
        state.tasks[task.task_id] = TaskState(
            task=task.model_copy(update={"approval": marked}),
            parent=parent.task.task_id,
            depth=parent.depth + 1,
        )
    return None


def _problems(state: GoalState, parent: TaskState, result: TaskResult, limits: Limits) -> list[str]:
    room = state.room_for_subtasks(parent, limits)
    count = len(result.subtasks)
    if room == 0:
        return [
            f"task {parent.task.task_id} may not delegate (depth {parent.depth}, at most "
            f"{state.max_depth(limits)}; {state.max_tasks(limits)} tasks at most in the goal)"
        ]
    problems = []
    if count > room:
        problems.append(f"the sub-plan has {count} tasks; at most {room} are allowed")
    prefix = subplan_prefix(parent.task.task_id, result.attempt)
    ids = [task.task_id for task in result.subtasks]
    if len(set(ids)) < count or any(not i.startswith(prefix) or i in state.tasks for i in ids):
        problems.append(f"its task ids must be new, distinct and begin with {prefix}")
    graph = {task.task_id: set(task.depends_on) for task in result.subtasks}
    unknown = sorted({dep for deps in graph.values() for dep in deps} - set(ids))
    if unknown:
        problems.append(f"it depends on tasks outside it: {', '.join(unknown)}")
    try:
        TopologicalSorter(graph).prepare()
    except CycleError:
        problems.append("its dependencies form a cycle")
    return problems


def add_due_syntheses(state: GoalState) -> None:
    """Adds the synthesis of every sub-plan whose tasks have all succeeded."""
    for parent in list(state.tasks.values()):
        if parent.phase is not Phase.DELEGATED or not parent.children:
            continue
        done = all(state.tasks[child].phase is Phase.SUCCEEDED for child in parent.children)
        if done and not any(s.synthesis_of == parent.task.task_id for s in state.tasks.values()):
            state.add_synthesis(parent)


def drop_subtree(state: GoalState, task: TaskState) -> None:
    """Forgets what `task` delegated, before it is redone: its sub-plans' tasks at every
    depth, their syntheses, and results buffered for them (late ones are then ignored)."""
    dropped = set(state.subtree(task.task.task_id))
    for task_id in dropped:
        del state.tasks[task_id]
    task.children = []
    state.buffered = [result for result in state.buffered if result.task_id not in dropped]
