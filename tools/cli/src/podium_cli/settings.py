"""The `podium` command's settings: the shared blocks plus where and how the local stack runs.

A block whose address is set in the environment names an external server, and `podium up`
starts none for it: `PODIUM_KAFKA__BOOTSTRAP_SERVERS` (a broker), `PODIUM_POSTGRES__DSN`
(a PostgreSQL) and `PODIUM_LLM__BASE_URL` (an OpenAI-compatible LLM). Without an LLM the
stack serves a local model (`PODIUM_LOCAL_MODEL`), or the scripted test LLM when
`PODIUM_LLM__SCRIPTED=1` says so (tests, chaos, benchmarks).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings

from podium_cli.models import DEFAULT_MODEL
from podium_common.settings import (
    KafkaSettings,
    LLMSettings,
    PostgresSettings,
    SchemaRegistrySettings,
    service_config,
)


class DevSettings(BaseModel):
    """The local stack (`PODIUM_DEV__*`): ports, state directory, bounds."""

    # Where pidfiles, logs, broker and database data live; `<checkout>/.dev` when unset.
    state_dir: Path | None = None
    kafka_port: int = Field(default=9092, ge=1, le=65535)
    controller_port: int = Field(default=9093, ge=1, le=65535)
    pg_port: int = Field(default=54329, ge=1, le=65535)
    gateway_port: int = Field(default=8080, ge=1, le=65535)
    llm_port: int = Field(default=8099, ge=1, le=65535)
    # The Zipkin server `podium up --tracing` starts (or PODIUM_DEV__TRACING=1).
    zipkin_port: int = Field(default=9411, ge=1, le=65535)
    tracing: bool = False
    # The schema registry `podium up --registry` starts (or PODIUM_DEV__REGISTRY=1).
    registry_port: int = Field(default=8085, ge=1, le=65535)
    registry: bool = False
    # Consumer services serve /readyz on consecutive ports from here.
    health_port_base: int = Field(default=8181, ge=1, le=65535)
    kafka_heap_mb: int = Field(default=1536, ge=128, le=8192)
    # The broker's JIT: "quick-start" compiles with C1 only (it starts in about half the
    # time; tests and development), "throughput" with C1 and C2 as Kafka ships (`make bench`).
    kafka_jit: Literal["quick-start", "throughput"] = "quick-start"
    ready_timeout_s: float = Field(default=120.0, gt=0)
    # Threads of the local model server. Half the cores by default: the broker and the
    # services share the machine, and llama.cpp's threads spin badly on a busy core (on 2
    # busy cores, 1 thread answered 5 times faster than 2).
    llm_threads: int = Field(default_factory=lambda: max(1, (os.cpu_count() or 2) // 2), ge=1)
    stop_timeout_s: float = Field(default=20.0, gt=0)


class CliSettings(BaseSettings):
    model_config = service_config()

    # Downloads kept across checkouts (the Kafka jars): `PODIUM_CACHE_DIR`.
    cache_dir: Path = Field(default_factory=lambda: Path.home() / ".cache" / "podium")
    dev: DevSettings = DevSettings()
    kafka: KafkaSettings = KafkaSettings()
    postgres: PostgresSettings = PostgresSettings()
    llm: LLMSettings = LLMSettings()
    # A Confluent-compatible schema registry (`podium schemas register`).
    schema_registry: SchemaRegistrySettings = SchemaRegistrySettings()
    # The model `podium up` serves when no LLM is configured: one of podium_cli.models.
    local_model: str = DEFAULT_MODEL
    # The API key the gateway commands send (`PODIUM_API_KEY`; `podium keys create` makes one).
    api_key: SecretStr | None = None

    @property
    def llm_kind(self) -> Literal["external", "scripted", "local"]:
        """Which LLM the stack's services use: the configured endpoint, the scripted test
        LLM (asked for by `PODIUM_LLM__SCRIPTED`), or the local model server."""
        if self.external_llm:
            return "external"
        return "scripted" if self.llm.scripted else "local"

    @property
    def external_kafka(self) -> bool:
        return "bootstrap_servers" in self.kafka.model_fields_set

    @property
    def external_postgres(self) -> bool:
        return "dsn" in self.postgres.model_fields_set

    @property
    def external_llm(self) -> bool:
        return "base_url" in self.llm.model_fields_set

    @property
    def bootstrap_servers(self) -> str:
        if self.external_kafka:
            return self.kafka.bootstrap_servers
        return f"127.0.0.1:{self.dev.kafka_port}"

    @property
    def postgres_dsn(self) -> str:
        """The DSN of Podium's database, which the services use."""
        if self.external_postgres:
            return self.postgres.dsn.get_secret_value()
        return f"postgresql://podium@127.0.0.1:{self.dev.pg_port}/podium"

    @property
    def llm_base_url(self) -> str:
        if self.external_llm:
            return self.llm.base_url
        return f"http://127.0.0.1:{self.dev.llm_port}/v1"

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.dev.gateway_port}"

    def kafka_for_stack(self) -> KafkaSettings:
        """The Kafka block the stack's services and topics use."""
        return self.kafka.model_copy(update={"bootstrap_servers": self.bootstrap_servers})
