"""Token budgets at the LLM boundary: several processes' clients (`OpenAILLM` with a
`TokenBudget`, each with its own pool on the real PostgreSQL) spend one goal's budget in
parallel against the scripted LLM; the spend never passes the budget, and every token the
LLM served is spent. Each attempt of a call is budgeted: one that may have been served
without a reply (a timeout) is spent at its most, one refused with a status or never
sent spends nothing."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from pydantic import SecretStr

from podium_common.budget import SPEND, TokenBudget, most_tokens, spending
from podium_common.errors import BudgetExhausted, LLMUnavailable
from podium_common.ledger import Ledger, LedgerSettings
from podium_common.llm import Message, OpenAILLM, Request
from podium_common.settings import LLMSettings
from podium_scripted_llm.settings import FaultConfig
from podium_scripted_llm.testing import ScriptedLLM, serve

pytestmark = pytest.mark.integration

MAX_TOKENS = 64


def task(number: int) -> Request:
    return Request(
        model="small",
        messages=(
            Message("system", "You are Podium's researcher.\nAnswer briefly."),
            Message("user", f"Goal: learn about owls\nTask: find owl species, part {number}"),
        ),
        max_tokens=MAX_TOKENS,
    )


@pytest.fixture
async def scripted():
    async with serve(FaultConfig(latency_ms=20, latency_max_ms=60)) as llm:
        yield llm


def client(settings: LedgerSettings, llm: LLMSettings) -> OpenAILLM:
    return OpenAILLM(llm, budget=TokenBudget(Ledger(settings), settings))


def replicas(scripted: ScriptedLLM, settings: LedgerSettings, count: int) -> list[OpenAILLM]:
    return [client(settings, LLMSettings(base_url=scripted.base_url)) for _ in range(count)]


async def ledger_row(settings: LedgerSettings, goal_id: uuid.UUID) -> asyncpg.Record | None:
    ledger = Ledger(settings)
    try:
        return await ledger.fetchrow(SPEND, goal_id, 1)
    finally:
        await ledger.close()


async def spend(llm: OpenAILLM, goal_id: uuid.UUID, number: int) -> int:
    """One call of the goal; 1 if it was made, 0 if the budget refused it."""
    with spending(goal_id, 1):
        try:
            await llm.complete(task(number))
        except BudgetExhausted:
            return 0
    return 1


async def test_three_replicas_never_spend_past_the_budget(scripted, pg_dsn) -> None:
    budget = 900
    settings = LedgerSettings(dsn=SecretStr(pg_dsn), tenant_budgets={"acme": budget})
    clients = replicas(scripted, settings, 3)
    goal_id = uuid.uuid4()
    try:
        # The planner's call sets the goal's budget from its tenant's default.
        with spending(goal_id, 1, tenant="acme"):
            await clients[0].complete(task(0))
        made = await asyncio.gather(
            *(spend(clients[n % 3], goal_id, n) for n in range(1, 40)),
            # Work done twice (a redelivered task) is spent twice.
            *(spend(clients[n % 3], goal_id, 1) for n in range(3)),
        )
        row = await ledger_row(settings, goal_id)
    finally:
        await asyncio.gather(*(client.close() for client in clients))
    served = scripted.stats()["tokens"]
    assert row is not None
    assert row["budget"] == budget
    assert 0 < sum(made) < 42, "some calls were made, the rest refused"
    assert row["refused"] == 42 - sum(made)
    assert row["calls"] == sum(made) + 1
    assert row["reserved"] == 0
    assert row["spent"] == served["prompt"] + served["completion"]
    assert row["spent"] <= budget, (row["spent"], budget)


async def test_a_goal_without_a_budget_is_spent_and_never_refused(scripted, pg_dsn) -> None:
    settings = LedgerSettings(dsn=SecretStr(pg_dsn))
    clients = replicas(scripted, settings, 2)
    goal_id = uuid.uuid4()
    try:
        with spending(goal_id, 1, tenant="nobody"):
            made = await asyncio.gather(*(spend(clients[n % 2], goal_id, n) for n in range(10)))
        row = await ledger_row(settings, goal_id)
    finally:
        await asyncio.gather(*(client.close() for client in clients))
    assert sum(made) == 10
    assert row is not None
    assert row["budget"] is None
    served = scripted.stats()["tokens"]
    assert row["spent"] == served["prompt"] + served["completion"]


async def test_a_first_call_larger_than_the_budget_is_refused_with_the_spend(
    scripted, pg_dsn
) -> None:
    settings = LedgerSettings(dsn=SecretStr(pg_dsn))
    (llm,) = replicas(scripted, settings, 1)
    goal_id = uuid.uuid4()
    try:
        with (
            spending(goal_id, 1, tenant="t", budget=10),
            pytest.raises(BudgetExhausted, match="token budget of 10 has no room") as refused,
        ):
            await llm.complete(task(1))
    finally:
        await llm.close()
    assert refused.value.kind == "budget"
    assert "0 tokens spent by 0 calls" in str(refused.value)
    assert scripted.stats()["total"] == 0


def retrying(base_url: str, *, attempts: int, timeout_s: float = 5.0) -> LLMSettings:
    return LLMSettings(
        base_url=base_url,
        timeout_s=timeout_s,
        max_attempts=attempts,
        backoff_base_s=0.01,
        backoff_max_s=0.02,
    )


async def test_an_attempt_that_timed_out_is_spent_at_its_most_and_a_retry_needs_room(
    pg_dsn,
) -> None:
    need = most_tokens(task(1))
    settings = LedgerSettings(dsn=SecretStr(pg_dsn))
    goal_id = uuid.uuid4()
    # Every call is held past the client's timeout: served, perhaps billed, never read.
    async with serve(FaultConfig(p_timeout=1.0, timeout_hold_s=5.0)) as held:
        llm = client(settings, retrying(held.base_url, attempts=3, timeout_s=0.3))
        try:
            with (
                spending(goal_id, 1, tenant="t", budget=need + need // 2),
                pytest.raises(BudgetExhausted, match=f"{need} tokens spent by 1 calls"),
            ):
                await llm.complete(task(1))
        finally:
            await llm.close()
        sent = held.stats()["total"]
    row = await ledger_row(settings, goal_id)
    assert sent == 1, "the retry was not sent: the timed-out attempt left no room for it"
    assert row is not None
    assert (row["spent"], row["calls"], row["reserved"], row["refused"]) == (need, 1, 0, 1)


async def test_attempts_refused_with_a_status_or_never_sent_spend_nothing(pg_dsn) -> None:
    settings = LedgerSettings(dsn=SecretStr(pg_dsn))
    goal_id = uuid.uuid4()
    async with serve(FaultConfig(p_500=1.0)) as failing:
        llm = client(settings, retrying(failing.base_url, attempts=3))
        try:
            with spending(goal_id, 1), pytest.raises(LLMUnavailable, match="answered 500"):
                await llm.complete(task(1))
        finally:
            await llm.close()
        assert failing.stats()["total"] == 3
    # Nothing listens at the port a finished server left: no attempt can be sent.
    llm = client(settings, retrying(failing.base_url, attempts=2))
    try:
        with spending(goal_id, 1), pytest.raises(LLMUnavailable, match="unreachable"):
            await llm.complete(task(2))
    finally:
        await llm.close()
    row = await ledger_row(settings, goal_id)
    assert row is not None, "each attempt reserved in the goal's row"
    assert (row["spent"], row["calls"], row["reserved"]) == (0, 0, 0)
