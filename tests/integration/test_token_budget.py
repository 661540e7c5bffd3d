"""Token budgets at the LLM boundary: several processes' clients (`BudgetedLLM`, each with
its own pool on the real PostgreSQL) spend one goal's budget in parallel against the
scripted LLM; the spend never passes the budget, and every token the LLM served is spent."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from pydantic import SecretStr

from podium_common.budget import SPEND, BudgetedLLM, spending
from podium_common.errors import BudgetExhausted
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


def replicas(scripted: ScriptedLLM, settings: LedgerSettings, count: int) -> list[BudgetedLLM]:
    return [
        BudgetedLLM(OpenAILLM(LLMSettings(base_url=scripted.base_url)), Ledger(settings), settings)
        for _ in range(count)
    ]


async def spend(llm: BudgetedLLM, goal_id: uuid.UUID, number: int) -> int:
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
        row = await clients[0]._ledger.fetchrow(SPEND, goal_id, 1)
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
        row = await clients[1]._ledger.fetchrow(SPEND, goal_id, 1)
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
    (client,) = replicas(scripted, settings, 1)
    goal_id = uuid.uuid4()
    try:
        with (
            spending(goal_id, 1, tenant="t", budget=10),
            pytest.raises(BudgetExhausted, match="token budget of 10 has no room") as refused,
        ):
            await client.complete(task(1))
    finally:
        await client.close()
    assert refused.value.kind == "budget"
    assert "0 tokens spent by 0 calls" in str(refused.value)
    assert scripted.stats()["total"] == 0
