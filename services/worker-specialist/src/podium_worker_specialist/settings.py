"""worker-specialist's settings: every variable is listed in podium_common's WorkerSettings."""

from podium_common.worker_service import WorkerSettings


class Settings(WorkerSettings):
    """PODIUM_MODEL defaults to gpt-4o-mini: specialist tasks run on a small, fast model."""

    model: str = "gpt-4o-mini"
