"""The user message of a task, per the workers' prompt contract: `Goal:`, `Task:`, the
requirements, one `Input <local id> (<type>):` section per input (the plan's own name of
the task, the same in every run, so a rerun asks the same and can be cached), then
`Feedback:`. Workers send it; the aggregator shows it to the person asked to approve.
"""

from __future__ import annotations

from podium_common.events import TaskAssigned, local_task_id


def user_message(task: TaskAssigned) -> str:
    """The task as the LLM reads it, per the workers' prompt contract."""
    sections = [f"Goal: {task.goal}", f"Task: {task.description}"]
    if task.requirements:
        sections.append("Requirements:\n" + "\n".join(f"- {req}" for req in task.requirements))
    if task.inputs:
        # What each input was asked for, apart from the sections, which hold only outputs.
        sections.append(
            "What each input was asked:\n"
            + "\n".join(
                f"- {local_task_id(i.task_id)} ({i.type.value}): {i.description}"
                for i in task.inputs
            )
        )
        sections += [
            f"Input {local_task_id(i.task_id)} ({i.type.value}):\n{i.output}" for i in task.inputs
        ]
    if task.feedback:
        sections.append(f"Feedback:\n{task.feedback}")
    return "\n\n".join(sections)
