"""The recorder's settings: `PODIUM_` environment variables, nested with `__`."""

from __future__ import annotations

from pydantic import Field

from podium_common.settings import BaseServiceSettings, PostgresSettings, service_config


class RecorderSettings(BaseServiceSettings):
    model_config = service_config()

    postgres: PostgresSettings = PostgresSettings()
    # Events recorded at once; each holds a pooled connection while it is written.
    max_in_flight: int = Field(default=64, ge=1)
    # Waits between attempts to reach PostgreSQL at start-up.
    startup_retry_s: float = Field(default=2.0, gt=0)
