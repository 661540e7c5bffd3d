"""Settings of the scripted LLM: faults changeable at run time, and the server's start-up flags."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class FaultConfig(BaseModel):
    """Latency and injected faults; `POST /_scripted/config` changes them at run time."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    latency_ms: float = Field(
        default=0.0, ge=0, description="latency per call in ms (the low end with --latency-max-ms)"
    )
    latency_max_ms: float | None = Field(
        default=None, ge=0, description="when set, latency is uniform in [latency-ms, this]"
    )
    p_429: float = Field(default=0.0, ge=0, le=1, description="probability of a 429")
    retry_after_s: float = Field(default=1.0, ge=0, description="Retry-After of a 429, in s")
    p_500: float = Field(default=0.0, ge=0, le=1, description="probability of a 500")
    p_timeout: float = Field(
        default=0.0, ge=0, le=1, description="probability of holding a call, then a 504"
    )
    timeout_hold_s: float = Field(
        default=30.0,
        ge=0,
        description="how long a timed-out call is held (the client leaving ends it)",
    )
    p_malformed: float = Field(
        default=0.0, ge=0, le=1, description="probability of a 200 whose content is not valid JSON"
    )
    seed: int = Field(default=0, description="seed of the fault and latency draws")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.p_429 + self.p_500 + self.p_timeout + self.p_malformed > 1:
            raise ValueError("p_429 + p_500 + p_timeout + p_malformed must not exceed 1")
        if self.latency_max_ms is not None and self.latency_max_ms < self.latency_ms:
            raise ValueError("latency_max_ms must not be below latency_ms")
        return self


class FailNext(BaseModel):
    """The next `count` calls (of `role`, when given) fail this way, before any random fault."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: int | None = Field(default=None, ge=400, le=599)
    fault: Literal["timeout", "malformed"] | None = None
    count: int = Field(default=1, ge=1)
    role: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if (self.status is None) == (self.fault is None):
            raise ValueError("give exactly one of `status` and `fault`")
        return self


class ScriptedSettings(BaseSettings, FaultConfig):
    """Flags of `podium-scripted-llm`; each also reads PODIUM_SCRIPTED_LLM_<NAME>."""

    model_config = SettingsConfigDict(
        env_prefix="PODIUM_SCRIPTED_LLM_",
        extra="ignore",
        cli_kebab_case=True,
        cli_implicit_flags=True,
        cli_prog_name="podium-scripted-llm",
    )

    host: str = Field(default="127.0.0.1", description="interface to listen on")
    port: int = Field(default=8099, ge=0, le=65535, description="port to listen on")
    log_level: str = Field(default="info", description="uvicorn log level")
    access_log: bool = Field(default=False, description="log every request (noisy under load)")

    def faults(self) -> FaultConfig:
        return FaultConfig.model_validate(self.model_dump(include=set(FaultConfig.model_fields)))
