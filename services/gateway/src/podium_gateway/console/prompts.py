"""The prompt a task's worker sent the LLM, from the task's recorded assignment.

A worker's first request is a pure function of its `TaskAssigned` and its role, so the
console computes it with the workers' own code (`podium_common.worker.first_messages` over
each worker's `ROLE`) rather than storing it. Later asks of the same attempt (after an
unusable reply) add the reply and what was wrong with it; they are not shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from podium_common.events import TaskAssigned
from podium_common.topics import TaskType
from podium_common.worker import WorkerRole, first_messages
from podium_worker_researcher.handler import ROLE as RESEARCHER
from podium_worker_specialist.handler import ROLE as SPECIALIST
from podium_worker_synthesizer.handler import ROLE as SYNTHESIZER
from podium_worker_validator.handler import ROLE as VALIDATOR

ROLES: dict[TaskType, WorkerRole] = {
    role.task_type: role for role in (RESEARCHER, SPECIALIST, VALIDATOR, SYNTHESIZER)
}


def sent(assigned: Mapping[str, Any]) -> dict[str, Any]:
    """The messages a recorded `TaskAssigned` (its JSON payload) made its worker send."""
    task = TaskAssigned.model_validate(assigned)
    return {
        "task_id": task.task_id,
        "attempt": task.attempt,
        "type": task.type.value,
        "messages": [
            {"role": message.role, "content": message.content}
            for message in first_messages(task, ROLES[task.type])
        ],
    }
