"""The LLM cache's table on the real PostgreSQL: a reply cut at its `max_tokens` comes back
cut (so a replay goes on with it as the first run did), and a table made before replies were
told apart gains the column."""

from __future__ import annotations

import asyncpg
import pytest
from pydantic import SecretStr

from podium_common.events import TokenUsage
from podium_common.llm import Completion, Message, Request
from podium_common.llm_cache import LLMCacheSettings, PostgresReplyStore

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

REQUEST = Request(model="m", messages=(Message("user", "How hot does water boil?"),))
USAGE = TokenUsage(prompt_tokens=5, completion_tokens=3)

# The table as it was made before the `cut` column.
OLD_TABLE = """CREATE TABLE llm_cache (
    key text PRIMARY KEY, request_model text NOT NULL, text text NOT NULL,
    model text NOT NULL, prompt_tokens integer NOT NULL, completion_tokens integer NOT NULL,
    latency_ms integer NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),
    hits bigint NOT NULL DEFAULT 0, last_hit_at timestamptz)"""


def store_on(dsn: str) -> PostgresReplyStore:
    return PostgresReplyStore(LLMCacheSettings(enabled=True, dsn=SecretStr(dsn)))


async def test_a_cut_reply_comes_back_cut_and_a_whole_one_whole(pg_dsn: str) -> None:
    store = store_on(pg_dsn)
    try:
        await store.put("a", REQUEST, Completion("Water boils at", "m", USAGE, 4, cut=True))
        await store.put("b", REQUEST, Completion("At 100 °C.", "m", USAGE, 4))
        cut, whole = await store.get("a"), await store.get("b")
    finally:
        await store.close()
    assert cut is not None
    assert (cut.text, cut.cut) == ("Water boils at", True)
    assert whole is not None
    assert (whole.text, whole.cut) == ("At 100 °C.", False)


async def test_a_table_made_before_the_cut_column_gains_it(pg_dsn: str) -> None:
    connection = await asyncpg.connect(pg_dsn)
    try:
        await connection.execute(OLD_TABLE)
        await connection.execute(
            "INSERT INTO llm_cache VALUES ('old', 'm', 'At 100 °C.', 'm', 5, 3, 4)"
        )
    finally:
        await connection.close()
    store = store_on(pg_dsn)
    try:
        old = await store.get("old")
        await store.put("new", REQUEST, Completion("Water boils at", "m", USAGE, 4, cut=True))
        new = await store.get("new")
    finally:
        await store.close()
    assert old is not None
    assert (old.text, old.cut) == ("At 100 °C.", False)
    assert new is not None
    assert new.cut
