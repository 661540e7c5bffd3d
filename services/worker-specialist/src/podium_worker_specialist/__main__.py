"""Runs worker-specialist: tasks.specialist → results."""

from podium_common.topics import TaskType
from podium_common.worker_service import run_worker
from podium_worker_specialist.handler import handle
from podium_worker_specialist.settings import Settings


def main() -> None:
    run_worker(TaskType.SPECIALIST, handle, Settings())


if __name__ == "__main__":
    main()
