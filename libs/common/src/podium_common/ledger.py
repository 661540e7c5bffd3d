"""The ledger every replica of every service shares: each goal's token budget and spend,
and each model's request and token rate. Off unless `PODIUM_LEDGER__DSN` names a database.

    PODIUM_LEDGER__DSN               the PostgreSQL database (usually Podium's own)
    PODIUM_LEDGER__DEFAULT_BUDGET    tokens a goal may spend when neither its options nor
                                     its tenant set a budget (unset: no bound)
    PODIUM_LEDGER__TENANT_BUDGETS    per-tenant defaults, JSON: {"acme": 20000}
    PODIUM_LEDGER__RATE_LIMITS       per model of this endpoint, JSON:
                                     {"gpt-4o": {"requests_per_minute": 500,
                                                 "tokens_per_minute": 300000}}

Its tables are made here on first use, as the LLM cache's are, and for the same reasons:
they are not part of the read model (nothing in the topics rebuilds a budget's
reservations or a rate's schedule) and a service that calls an LLM must not wait for the
recorder's migrations. A transient failure raises `Unavailable`: the call waits for the
ledger rather than go unaccounted.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings

from podium_common.postgres import LazyPool, transient_as_unavailable
from podium_common.settings import PostgresSettings, service_config

# Serialises the tables' creation among processes that start together.
LOCK_KEY = 0x6C6564676572  # "ledger"

CREATE_TABLES = """
CREATE TABLE IF NOT EXISTS token_ledger (
    goal_id    uuid NOT NULL,
    run        integer NOT NULL,
    budget     bigint,
    spent      bigint NOT NULL DEFAULT 0,
    reserved   bigint NOT NULL DEFAULT 0,
    calls      bigint NOT NULL DEFAULT 0,
    refused    bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (goal_id, run)
);
CREATE TABLE IF NOT EXISTS llm_rate (
    endpoint      text NOT NULL,
    model         text NOT NULL,
    requests_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    tokens_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    blocked_until timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (endpoint, model)
)"""


class RateLimit(BaseModel):
    """One model's share of its endpoint, for the whole cluster."""

    requests_per_minute: int | None = Field(default=None, ge=1)
    tokens_per_minute: int | None = Field(default=None, ge=1)


class LedgerSettings(BaseModel):
    """`PODIUM_LEDGER__*`: where budgets and rates are kept, and their defaults."""

    dsn: SecretStr | None = None
    max_pool: int = Field(default=4, ge=1)
    default_budget: int | None = Field(default=None, ge=1)
    tenant_budgets: dict[str, int] = Field(default_factory=dict)
    rate_limits: dict[str, RateLimit] = Field(default_factory=dict)

    def budget_of(self, tenant: str, requested: int | None) -> int | None:
        """A goal's budget: its own, else its tenant's, else the default."""
        return requested or self.tenant_budgets.get(tenant) or self.default_budget


class _LedgerEnvironment(BaseSettings):
    model_config = service_config()

    ledger: LedgerSettings = LedgerSettings()


def ledger_settings() -> LedgerSettings:
    """`PODIUM_LEDGER__*` from the environment."""
    return _LedgerEnvironment().ledger


class Ledger:
    """The shared database; its pool and tables are made on first use."""

    def __init__(self, settings: LedgerSettings) -> None:
        if settings.dsn is None:
            raise ValueError("the ledger needs a DSN (PODIUM_LEDGER__DSN)")
        postgres = PostgresSettings(dsn=settings.dsn, min_pool=0, max_pool=settings.max_pool)
        self._pool = LazyPool(postgres, CREATE_TABLES, LOCK_KEY)

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        pool = await self._pool.get()
        async with transient_as_unavailable():
            return await pool.fetchrow(query, *args)

    async def execute(self, query: str, *args: Any) -> None:
        pool = await self._pool.get()
        async with transient_as_unavailable():
            await pool.execute(query, *args)

    async def close(self) -> None:
        await self._pool.close()
