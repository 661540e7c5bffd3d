"""Runs worker-researcher: tasks.researcher → results."""

from podium_common.topics import TaskType
from podium_common.worker_service import run_worker
from podium_worker_researcher.handler import handle
from podium_worker_researcher.settings import Settings


def main() -> None:
    run_worker(TaskType.RESEARCHER, handle, Settings())


if __name__ == "__main__":
    main()
