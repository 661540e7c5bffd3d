"""The opt-in LLM response cache: a reply stored under the hash of (model, messages,
parameters) answers the same request again without an HTTP call.

Off by default; `PODIUM_LLM_CACHE__ENABLED=true` with `PODIUM_LLM_CACHE__DSN` turns it on.
`build_llm` is what every service calls for its LLM client: the plain `OpenAILLM`, or that
client wrapped in `CachingLLM`. A hit returns a `CachedCompletion`: the stored text, model
and usage (what the first call cost), `cache_hit=True` and `attempts=0`; the row's `hits`
counts every reuse, so spend can tell tokens paid for from tokens replayed.

The cache lives in PostgreSQL because every replica of every service must share it and the
stack already runs one. Its table is created here on first use, not by the recorder's
migrations: the cache is not part of the read model (it cannot be rebuilt from the topics,
and `podium rebuild` into a fresh database must not lose it), and a service that calls an
LLM must not depend on the recorder having migrated a database first.

Only replies are stored, never errors. While PostgreSQL is unavailable the call goes to the
LLM (with a warning): the cache saves calls, it never fails one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings

from podium_common.budget import TokenBudget
from podium_common.errors import Unavailable
from podium_common.events import TokenUsage
from podium_common.ledger import Ledger, LedgerSettings, ledger_settings
from podium_common.llm import LLM, Completion, OpenAILLM, Request
from podium_common.postgres import LazyPool, transient_as_unavailable
from podium_common.prices import Price, prices_from_env
from podium_common.ratelimit import ClusterRate
from podium_common.settings import LLMSettings, PostgresSettings, service_config

log = logging.getLogger(__name__)

# Bumped when the key's inputs change shape, so that old rows are never read as new ones.
KEY_VERSION = "v1"
# Serialises the table's creation among processes that start together.
LOCK_KEY = 0x6C6C6D636163  # "llmcac"

CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS llm_cache (
    key               text PRIMARY KEY,
    request_model     text NOT NULL,
    text              text NOT NULL,
    model             text NOT NULL,
    prompt_tokens     integer NOT NULL,
    completion_tokens integer NOT NULL,
    latency_ms        integer NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    hits              bigint NOT NULL DEFAULT 0,
    last_hit_at       timestamptz,
    cut               boolean NOT NULL DEFAULT false
);
-- A table made before replies cut at their max_tokens were told apart.
ALTER TABLE llm_cache ADD COLUMN IF NOT EXISTS cut boolean NOT NULL DEFAULT false"""

# One round trip finds the reply and counts the hit.
LOOKUP = """UPDATE llm_cache SET hits = hits + 1, last_hit_at = now() WHERE key = $1
RETURNING text, model, prompt_tokens, completion_tokens, cut"""

STORE = """INSERT INTO llm_cache
    (key, request_model, text, model, prompt_tokens, completion_tokens, latency_ms, cut)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (key) DO NOTHING"""


class LLMCacheSettings(BaseModel):
    """`PODIUM_LLM_CACHE__*`: whether replies are cached, and in which database."""

    enabled: bool = False
    dsn: SecretStr | None = None
    max_pool: int = Field(default=4, ge=1)

    @model_validator(mode="after")
    def _dsn_when_enabled(self) -> LLMCacheSettings:
        if self.enabled and self.dsn is None:
            raise ValueError("PODIUM_LLM_CACHE__DSN is required when PODIUM_LLM_CACHE__ENABLED")
        return self


class _CacheEnvironment(BaseSettings):
    model_config = service_config()

    llm_cache: LLMCacheSettings = LLMCacheSettings()


@dataclass(frozen=True)
class CachedCompletion(Completion):
    """A reply from the cache: no HTTP call was made; `usage` is what the first call cost."""

    cache_hit: bool = True


class ClosableLLM(LLM, Protocol):
    async def close(self) -> None: ...


class ReplyStore(Protocol):
    async def get(self, key: str) -> Completion | None: ...
    async def put(self, key: str, request: Request, completion: Completion) -> None: ...
    async def close(self) -> None: ...


def cache_key(request: Request) -> str:
    """The SHA-256 of every field of the request (model, messages and each parameter) in
    canonical JSON: equal requests share a key, any difference gives another."""
    fields = dataclasses.asdict(request)
    canonical = json.dumps(
        [KEY_VERSION, fields], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


class PostgresReplyStore:
    """Replies in the `llm_cache` table; the pool and the table are made on first use."""

    def __init__(self, settings: LLMCacheSettings) -> None:
        if settings.dsn is None:
            raise ValueError("the LLM cache needs a DSN (PODIUM_LLM_CACHE__DSN)")
        postgres = PostgresSettings(dsn=settings.dsn, min_pool=0, max_pool=settings.max_pool)
        self._pool = LazyPool(postgres, CREATE_TABLE, LOCK_KEY)

    async def get(self, key: str) -> Completion | None:
        pool = await self._pool.get()
        async with transient_as_unavailable(cache_key=key):
            row = await pool.fetchrow(LOOKUP, key)
        if row is None:
            return None
        usage = TokenUsage(
            prompt_tokens=row["prompt_tokens"], completion_tokens=row["completion_tokens"]
        )
        return Completion(
            text=row["text"], model=row["model"], usage=usage, latency_ms=0, cut=row["cut"]
        )

    async def put(self, key: str, request: Request, completion: Completion) -> None:
        pool = await self._pool.get()
        async with transient_as_unavailable(cache_key=key):
            await pool.execute(
                STORE,
                key,
                request.model,
                completion.text,
                completion.model,
                completion.usage.prompt_tokens,
                completion.usage.completion_tokens,
                completion.latency_ms,
                completion.cut,
            )

    async def close(self) -> None:
        await self._pool.close()


class CachingLLM:
    """An `LLM` that answers from `store` when it can, and stores what `llm` answers."""

    def __init__(self, llm: ClosableLLM, store: ReplyStore) -> None:
        self._llm = llm
        self._store = store
        self.hits = 0
        self.misses = 0

    async def complete(self, request: Request) -> Completion:
        started = time.monotonic()
        key = cache_key(request)
        try:
            stored = await self._store.get(key)
        except Unavailable as error:
            log.warning("LLM cache unavailable, calling the LLM: %s", error)
            stored = None
        if stored is not None:
            self.hits += 1
            return CachedCompletion(
                text=stored.text,
                model=stored.model,
                usage=stored.usage,
                latency_ms=int((time.monotonic() - started) * 1000),
                attempts=0,
                cut=stored.cut,
            )
        self.misses += 1
        completion = await self._llm.complete(request)
        try:
            await self._store.put(key, request, completion)
        except Unavailable as error:
            log.warning("LLM cache unavailable, reply not stored: %s", error)
        return completion

    async def close(self) -> None:
        try:
            await self._llm.close()
        finally:
            await self._store.close()


def build_llm(
    settings: LLMSettings,
    cache: LLMCacheSettings | None = None,
    ledger: LedgerSettings | None = None,
    prices: dict[str, Price] | None = None,
) -> ClosableLLM:
    """A service's LLM client: cached when `PODIUM_LLM_CACHE__ENABLED` (or `cache`) says so,
    its calls spent from their goals' budgets when `PODIUM_LEDGER__DSN` (or `ledger`) names
    the shared ledger (`podium_common.budget`); its calls' cost counted from
    `PODIUM_PRICES` (or `prices`)."""
    cache = cache if cache is not None else _CacheEnvironment().llm_cache
    ledger = ledger if ledger is not None else ledger_settings()
    prices = prices if prices is not None else prices_from_env()
    gate: ClusterRate | None = None
    budget: TokenBudget | None = None
    if ledger.dsn is None:
        log.warning("no ledger (PODIUM_LEDGER__DSN): token budgets and rates are not shared")
    else:
        shared = Ledger(ledger)
        gate = ClusterRate(shared, settings.base_url, ledger.rate_limits)
        budget = TokenBudget(shared, ledger)
    client: ClosableLLM = OpenAILLM(settings, gate, prices, budget)
    if cache.enabled:
        log.info("LLM response cache on")
        client = CachingLLM(client, PostgresReplyStore(cache))
    return client
