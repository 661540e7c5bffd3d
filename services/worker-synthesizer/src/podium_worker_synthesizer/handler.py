"""tasks.synthesizer → results: combines task outputs into one answer to the goal."""

from podium_common.events import TaskAssigned, TaskResult
from podium_common.llm import LLM
from podium_common.topics import TaskType
from podium_common.worker import WorkerRole, run_task
from podium_worker_synthesizer.prompts import SYSTEM

ROLE = WorkerRole(task_type=TaskType.SYNTHESIZER, system_prompt=SYSTEM, temperature=0.3)


async def handle(task: TaskAssigned, llm: LLM, *, worker_id: str, model: str) -> TaskResult:
    """Combines the task's inputs into one coherent answer to the goal."""
    return await run_task(task, llm=llm, role=ROLE, worker_id=worker_id, model=model)
