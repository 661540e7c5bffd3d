"""A goal's token budget holds across worker replicas: every service of the stack spends
from the shared ledger, two replicas of each worker type run one goal's parallel tasks, and
a goal given half of what it needs fails with reason `budget`, having spent no more than
its budget; every token the LLM served is in the ledger."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from podium_common.budget import SPEND
from tests.conftest import fresh_database
from tests.e2e.conftest import Stack, _bin, _spawn, running_stack, wait_for_members
from tests.e2e.test_goals import submit, wait_for_end

pytestmark = pytest.mark.e2e

GOAL = "Compare the owls of every continent [parallel=6][validate]"
WORKERS = ("researcher", "specialist", "validator", "synthesizer")


@pytest.fixture
async def budgeted_stack(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Stack]:
    async with fresh_database() as dsn:
        monkeypatch.setenv("PODIUM_LEDGER__DSN", dsn)
        # Short replies: a call reserves little beyond its prompt, so the plan fits a half
        # budget and the workers' calls are what spends it. The plan's reply (192 tokens as
        # the scripted LLM counts them) must fit whole: one cut short does not parse.
        monkeypatch.setenv("PODIUM_LLM__MAX_TOKENS__PLANNER", "256")
        for role in (worker.upper() for worker in WORKERS):
            monkeypatch.setenv(f"PODIUM_LLM__MAX_TOKENS__{role}", "64")
        async with running_stack(tmp_path_factory, dsn) as stack:
            for worker in WORKERS:  # a second replica of every worker type
                name = f"podium-worker-{worker}"
                stack.processes[f"{name}.2"] = _spawn(
                    f"{name}.2", [_bin(name)], stack.env, stack.logs
                )
            # A replica joining while a goal runs moves its tasks in flight: one runs twice,
            # and the LLM serves tokens the ledger spends once (at-least-once delivery).
            for worker in WORKERS:
                await wait_for_members(stack.kafka, f"worker-{worker}", 2)
            yield stack


async def spend(dsn: str, goal_id: str) -> asyncpg.Record:
    connection = await asyncpg.connect(dsn)
    try:
        row = await connection.fetchrow(SPEND, uuid.UUID(goal_id), 1)
    finally:
        await connection.close()
    assert row is not None, f"goal {goal_id} spent nothing in the ledger"
    return row


async def served_tokens(stack: Stack) -> int:
    async with httpx.AsyncClient(base_url=stack.llm) as client:
        tokens = (await client.get("/_scripted/stats")).json()["tokens"]
    return int(tokens["prompt"] + tokens["completion"])


async def test_a_goal_past_its_budget_fails_for_budget_and_spends_no_more(
    budgeted_stack: Stack,
) -> None:
    stack = budgeted_stack
    async with httpx.AsyncClient(base_url=stack.gateway, timeout=10) as gateway:
        whole = await submit(gateway, GOAL)
        assert (await wait_for_end(gateway, whole, 90))["status"] == "completed"
        needed = (await spend(stack.pg_dsn, whole))["spent"]

        budget = needed // 2
        tight = await submit(gateway, GOAL, token_budget=budget)
        body = await wait_for_end(gateway, tight, 90)

    assert body["status"] == "failed", body
    assert body["reason"]["kind"] == "budget", body["reason"]
    assert f"token budget of {budget} has no room" in body["reason"]["message"]
    assert "could not run" in body["reason"]["message"], "a task, not the plan, was refused"
    assert any(task["status"] == "succeeded" for task in body["tasks"])
    # Tasks still in flight when a goal ended settle (a task run twice can end after its
    # goal completed, and spends into that goal): then every served token is spent.
    deadline = time.monotonic() + 30
    while True:
        first, row = await spend(stack.pg_dsn, whole), await spend(stack.pg_dsn, tight)
        settled = first["reserved"] == 0 and row["reserved"] == 0
        if settled and await served_tokens(stack) == first["spent"] + row["spent"]:
            break
        assert time.monotonic() < deadline, (first, row, await served_tokens(stack))
        await asyncio.sleep(0.5)
    assert row["budget"] == budget
    assert row["refused"] >= 1
    assert 0 < row["spent"] <= budget, (row["spent"], budget)
