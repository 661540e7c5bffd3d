"""tasks.specialist → results: does one task that needs domain expertise, using its inputs."""

from podium_common.events import TaskAssigned, TaskResult
from podium_common.llm import LLM
from podium_common.topics import TaskType
from podium_common.worker import WorkerRole, run_task
from podium_worker_specialist.prompts import SYSTEM

ROLE = WorkerRole(task_type=TaskType.SPECIALIST, system_prompt=SYSTEM)


async def handle(task: TaskAssigned, llm: LLM, *, worker_id: str, model: str) -> TaskResult:
    """Does the task with the expertise of its field, from its inputs."""
    return await run_task(task, llm=llm, role=ROLE, worker_id=worker_id, model=model)
