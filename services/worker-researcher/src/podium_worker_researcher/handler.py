"""tasks.researcher → results: answers one research task with the facts it asks for."""

from podium_common.events import TaskAssigned, TaskResult
from podium_common.llm import LLM
from podium_common.topics import TaskType
from podium_common.worker import WorkerRole, run_task
from podium_worker_researcher.prompts import SYSTEM

ROLE = WorkerRole(task_type=TaskType.RESEARCHER, system_prompt=SYSTEM)


async def handle(task: TaskAssigned, llm: LLM, *, worker_id: str, model: str) -> TaskResult:
    """Gathers the facts the task asks for."""
    return await run_task(task, llm=llm, role=ROLE, worker_id=worker_id, model=model)
