"""Runs worker-validator: tasks.validator → results."""

from podium_common.topics import TaskType
from podium_common.worker_service import run_worker
from podium_worker_validator.handler import handle
from podium_worker_validator.settings import Settings


def main() -> None:
    run_worker(TaskType.VALIDATOR, handle, Settings())


if __name__ == "__main__":
    main()
