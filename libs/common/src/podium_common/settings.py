"""Settings blocks shared by the services. Each service nests the ones it needs in its own
`BaseSettings` with prefix `PODIUM_` and `__` between levels, e.g.
`PODIUM_KAFKA__BOOTSTRAP_SERVERS`. Settings are built once in `__main__` and passed down.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from podium_common.topics import Topics

DRAIN_TIMEOUT_S = 150.0
LLM_TIMEOUT_S = 120.0


class KafkaSettings(BaseModel):
    bootstrap_servers: str = "127.0.0.1:9092"
    # A prefix for every topic and consumer group: lets tests share one broker.
    topic_prefix: str = ""
    partitions: int = Field(default=6, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: str | None = None
    # Consumers: the longest pause between two polls before the group drops the member,
    # and how long a silent (crashed) member keeps its partitions.
    max_poll_interval_ms: int = Field(default=300_000, ge=1)
    session_timeout_ms: int = Field(default=10_000, ge=1)
    # After SIGTERM, how long the records in flight get to finish before the consumer
    # commits what finished and exits; longer than one LLM call (LLMSettings.timeout_s),
    # and shorter than the deployment's grace period (the chart's and compose's follow it).
    drain_timeout_s: float = Field(default=DRAIN_TIMEOUT_S, gt=0)
    # How long Podium's topics keep records (`retention.ms`; -1: forever). The goal log is
    # the source of truth: the read model is rebuilt from it and reruns read it, so by
    # default nothing expires; a deployment may bound it, knowing a rebuild then starts
    # from what is left. Dead letters wait for a person, so they keep their own setting.
    retention_ms: int = Field(default=-1, ge=-1)
    dlq_retention_ms: int = Field(default=-1, ge=-1)
    # Producers wait this long for more records to send in the same request. 0 measured
    # best here (docs/benchmarks-history.md): records already batch while a request is in flight.
    linger_ms: int = Field(default=0, ge=0)
    # Consumers fetch in incremental fetch sessions (KIP-227, `podium_common.fetch_sessions`):
    # each fetch names only the partitions that changed. Off: every fetch names them all.
    fetch_sessions: bool = True
    # Every consumer process beats on the `heartbeats` topic this often.
    heartbeat_interval_s: float = Field(default=5.0, gt=0)

    @property
    def topics(self) -> Topics:
        return Topics(self.topic_prefix)


class SchemaRegistrySettings(BaseModel):
    """A Confluent-compatible schema registry (`PODIUM_SCHEMA_REGISTRY__URL`, e.g. Apicurio's
    `http://host:8080/apis/ccompat/v7`). With one, records are written in the Confluent wire
    format; without, with the Avro single-object header. Readers take both either way."""

    url: str | None = None
    # Register a schema the first time a process writes it. Off in production: there
    # `podium schemas register` registers them at deploy time and writers only look them up.
    auto_register: bool = False
    username: str | None = None
    password: SecretStr | None = None
    ssl_cafile: str | None = None


class PostgresSettings(BaseModel):
    dsn: SecretStr = SecretStr("postgresql://podium@127.0.0.1:54329/podium")
    min_pool: int = Field(default=1, ge=0)
    max_pool: int = Field(default=10, ge=1)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    command_timeout_s: float = Field(default=30.0, gt=0)


class RoleTokens(BaseModel):
    """The most tokens one reply of each role may take (`max_tokens`):
    `PODIUM_LLM__MAX_TOKENS__PLANNER`, `__RESEARCHER`, `__SPECIALIST`, `__VALIDATOR`,
    `__SYNTHESIZER`."""

    planner: int = Field(default=1024, ge=16)
    researcher: int = Field(default=768, ge=16)
    specialist: int = Field(default=768, ge=16)
    validator: int = Field(default=256, ge=16)
    synthesizer: int = Field(default=1024, ge=16)

    def of(self, role: str) -> int:
        value: int = getattr(self, role)
        return value


# How a reply's JSON schema is asked for:
#   json_schema         OpenAI's `response_format` {"type": "json_schema", ...} (OpenAI, vLLM,
#                       llama.cpp's C++ server, Ollama, LiteLLM)
#   json_object_schema  {"type": "json_object", "schema": ...}: llama-cpp-python's server,
#                       which answers the first form with HTTP 500
#   json_object         JSON mode without a schema, for endpoints with no constrained
#                       decoding; the callers' repair asks then do the work
StructuredOutput = Literal["json_schema", "json_object_schema", "json_object"]


class LLMSettings(BaseModel):
    base_url: str = "http://127.0.0.1:8099/v1"
    api_key: SecretStr = SecretStr("scripted")
    timeout_s: float = Field(default=LLM_TIMEOUT_S, gt=0)
    max_attempts: int = Field(default=6, ge=1)
    backoff_base_s: float = Field(default=0.5, gt=0)
    backoff_max_s: float = Field(default=30.0, gt=0)
    max_connections: int = Field(default=1024, ge=1)
    # The HTTP client under the OpenAI SDK: aiohttp's pool stays cheap with many calls in
    # flight, where httpx's scans every pooled connection per request (docs/benchmarks-history.md).
    http_client: Literal["aiohttp", "httpx"] = "aiohttp"
    structured_output: StructuredOutput = "json_schema"
    max_tokens: RoleTokens = RoleTokens()
    # Times a plain-text reply stopped at its max_tokens is asked to go on where it stopped
    # (`podium_common.continued`); 0: kept as it stopped.
    continuations: int = Field(default=2, ge=0, le=10)
    # The model's context window in tokens: prompts are shortened to leave room for the
    # reply's `max_tokens` in it. None: no limit is known, prompts are sent whole.
    context_tokens: int | None = Field(default=None, ge=256)
    # Calls one process has in flight to the endpoint at once (a local server that answers
    # one at a time gains nothing from more). None: only `max_connections` bounds them.
    max_concurrency: int | None = Field(default=None, ge=1)
    # `podium up` runs the scripted test LLM instead of a local model (tests, chaos, bench).
    scripted: bool = False


def service_config(**overrides: object) -> SettingsConfigDict:
    """The settings config every service uses."""
    config = SettingsConfigDict(env_prefix="PODIUM_", env_nested_delimiter="__", extra="ignore")
    config.update(overrides)  # type: ignore[typeddict-item]
    return config


class BaseServiceSettings(BaseSettings):
    model_config = service_config()

    kafka: KafkaSettings = KafkaSettings()
    log_level: str = "INFO"
    # `text` for a terminal; `json`: one JSON object a line, with goal_id, task_id, trace_id.
    log_format: Literal["text", "json"] = "text"
    # `/healthz`, `/readyz`, `/metrics` for orchestrators; None serves none.
    health_host: str = "127.0.0.1"
    health_port: int | None = None

    @model_validator(mode="after")
    def _drain_outlasts_an_llm_call(self) -> Self:
        """A service that calls the LLM must give a call in flight time to finish when it
        is stopped; else every SIGTERM would cancel calls and redo them elsewhere."""
        llm = getattr(self, "llm", None)
        drain = self.kafka.drain_timeout_s
        if isinstance(llm, LLMSettings) and drain <= llm.timeout_s:
            raise ValueError(
                f"PODIUM_KAFKA__DRAIN_TIMEOUT_S ({drain:g} s) must be longer than "
                f"PODIUM_LLM__TIMEOUT_S ({llm.timeout_s:g} s): a stopping service waits that "
                "long for its LLM calls in flight, and one call may take the LLM timeout"
            )
        return self
