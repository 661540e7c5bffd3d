"""Runs worker-synthesizer: tasks.synthesizer → results."""

from podium_common.topics import TaskType
from podium_common.worker_service import run_worker
from podium_worker_synthesizer.handler import handle
from podium_worker_synthesizer.settings import Settings


def main() -> None:
    run_worker(TaskType.SYNTHESIZER, handle, Settings())


if __name__ == "__main__":
    main()
