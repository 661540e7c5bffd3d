"""The gateway's settings: `PODIUM_` environment variables, nested with `__`."""

from __future__ import annotations

from pydantic import Field

from podium_common.prices import PriceTable
from podium_common.settings import BaseServiceSettings, PostgresSettings, service_config
from podium_gateway.auth import on_loopback


class GatewaySettings(BaseServiceSettings):
    model_config = service_config()

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    postgres: PostgresSettings = PostgresSettings()
    # A request body larger than this is refused with 413 before it is parsed.
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    # How long a submission waits to write its `queued` row; Kafka already has the goal.
    queued_write_timeout_s: float = Field(default=2.0, gt=0)
    # The progress stream polls the events table this often, and pings idle clients.
    stream_poll_s: float = Field(default=0.25, gt=0)
    stream_ping_s: float = Field(default=15.0, gt=0)
    # What a client is told to wait before it retries a 503.
    retry_after_s: int = Field(default=2, ge=1)
    # Open progress streams get this long to end cleanly when the gateway stops.
    shutdown_grace_s: float = Field(default=1.0, ge=0)
    # Whether every route but health, metrics and the document needs an API key; unset:
    # required unless the gateway listens on a loopback address only.
    require_keys: bool | None = None
    # Requests one API key may make per minute to this gateway replica (unset: no limit).
    key_requests_per_minute: int | None = Field(default=None, ge=1)
    # The console's link to a goal's trace: `{trace_id}` is filled in (`podium up
    # --tracing` sets Zipkin's); unset: no link.
    trace_url: str | None = None
    # Price per million tokens per model (PODIUM_PRICES): a goal's and each task's cost.
    prices: PriceTable = Field(default_factory=dict)
    # The console shows a worker lost after this long without a heartbeat.
    console_lost_after_s: float = Field(default=15.0, gt=0)

    @property
    def keys_required(self) -> bool:
        if self.require_keys is not None:
            return self.require_keys
        return not on_loopback(self.host)
