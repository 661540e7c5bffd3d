"""The recorder's settings: `PODIUM_` environment variables, nested with `__`."""

from __future__ import annotations

from pydantic import Field

from podium_common.settings import BaseServiceSettings, PostgresSettings, service_config


class RecorderSettings(BaseServiceSettings):
    model_config = service_config()

    postgres: PostgresSettings = PostgresSettings()
    # Events handled at once; those that arrive while a write is under way are written
    # together by the next one, in one transaction (group commit).
    max_in_flight: int = Field(default=256, ge=1)
    # The broker holds a fetch until this much is there or the wait is over: the read model
    # trails the topics by at most the wait, and a busy recorder fetches (and writes) many
    # events at a time instead of a few. Each fetch names every partition of nine topics and
    # costs the recorder about 1.5 ms however few events it brings: at a 50 ms wait, 30 ms of
    # CPU a second, idle or not (a fifth of its CPU per goal at 50 goals/s). 200 ms is under
    # the 250 ms at which the gateway polls the read model for a goal's live stream.
    fetch_min_bytes: int = Field(default=65_536, ge=1)
    fetch_max_wait_ms: int = Field(default=200, ge=0, le=500)
    # Waits between attempts to reach PostgreSQL at start-up.
    startup_retry_s: float = Field(default=2.0, gt=0)
