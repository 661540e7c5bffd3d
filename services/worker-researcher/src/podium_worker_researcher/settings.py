"""worker-researcher's settings: every variable is listed in podium_common's WorkerSettings."""

from podium_common.worker_service import WorkerSettings


class Settings(WorkerSettings):
    """PODIUM_MODEL defaults to gpt-4o-mini: research runs on a small, fast model by default."""

    model: str = "gpt-4o-mini"
