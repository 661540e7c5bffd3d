"""Goals through the gateway, every service a process, real Kafka and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest

from bench.load import KEEPALIVE_S, GoalDriver
from chaos.check import read_topic
from podium_cli.rerun import rerun
from podium_common.events import GoalFailed, TaskAssigned
from podium_common.settings import PostgresSettings
from podium_common.topics import TaskType
from tests.e2e.conftest import Stack, llm_latency

pytestmark = pytest.mark.e2e

# Plans of several shapes: parallel branches, and dependency chains of depth 3 and more.
GOALS = [
    "Compare PostgreSQL and MySQL for an analytics workload",
    "Plan a three-day trip to Lisbon [parallel=3][chain=3]",
    "Explain how Kafka consumer groups rebalance [chain=4]",
    "Summarise the trade-offs of event sourcing [parallel=4]",
    "Design a rate limiter for a public API [parallel=2][chain=3][validate]",
]


# The scripted LLM's latency while a goal is cancelled mid-chain.
CHAIN_CALL_MS = 300


async def wait_for_end(client: httpx.AsyncClient, goal_id: str, within_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + within_s
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = await client.get(f"/goals/{goal_id}")
        if response.status_code == 200:
            body = response.json()
            if body["status"] in ("completed", "failed"):
                return body
        await asyncio.sleep(0.25)
    raise TimeoutError(f"goal {goal_id} still {body.get('status')} after {within_s}s: {body}")


async def submit(client: httpx.AsyncClient, goal: str, **options: Any) -> str:
    response = await client.post("/goals", json={"goal": goal, "options": options})
    assert response.status_code == 202, response.text
    goal_id: str = response.json()["goal_id"]
    return goal_id


async def test_twenty_goals_complete_with_a_synthesized_answer(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    texts = [f"{GOALS[i % len(GOALS)]} #{i}" for i in range(20)]
    started = time.monotonic()
    ids = await asyncio.gather(*(submit(gateway, text) for text in texts))
    try:
        bodies = await asyncio.gather(*(wait_for_end(gateway, gid, 120) for gid in ids))
    except TimeoutError:
        print(stack.log_tail())
        raise
    elapsed = time.monotonic() - started
    print(f"\n20 goals in {elapsed:.1f}s: {20 / elapsed * 60:.0f} goals/min (scripted LLM, 0 ms)")

    for text, body in zip(texts, bodies, strict=True):
        assert body["status"] == "completed", body
        assert body["goal"] == text
        assert body["output"], body
        assert body["output"].startswith("Answer:")
        planned = body["plan"]["tasks"]
        assert len(body["tasks"]) == len(planned) + 1  # the plan and the final synthesis
        assert all(task["status"] == "succeeded" for task in body["tasks"]), body["tasks"]
        final = [task for task in body["tasks"] if task["final"]]
        assert len(final) == 1
        assert final[0]["type"] == "synthesizer"
        assert body["totals"]["prompt_tokens"] > 0
        assert body["totals"]["completion_tokens"] > 0

    chained = bodies[1]["plan"]["tasks"]
    assert depth(chained) >= 3, chained
    assert sum(1 for task in chained if not task["depends_on"]) >= 3, chained


def depth(tasks: list[dict[str, Any]]) -> int:
    by_id = {task["task_id"]: task for task in tasks}

    def longest(task_id: str) -> int:
        deps = by_id[task_id]["depends_on"]
        return 1 + max((longest(dep) for dep in deps), default=0)

    return max(longest(task_id) for task_id in by_id)


async def test_a_goal_whose_plan_is_always_invalid_fails_with_the_reason(
    gateway: httpx.AsyncClient,
) -> None:
    goal_id = await submit(gateway, "Build a castle in the air [invalid-plan]")
    body = await wait_for_end(gateway, goal_id, 60)
    assert body["status"] == "failed"
    assert body["reason"]["kind"] == "plan_rejected"
    assert "cycle" in body["reason"]["message"]
    assert body["output"] is None


async def test_a_goal_with_a_task_that_always_fails_ends_failed_not_stuck(
    gateway: httpx.AsyncClient,
) -> None:
    goal_id = await submit(gateway, "Survey every river on Earth [fail-task]")
    body = await wait_for_end(gateway, goal_id, 60)
    assert body["status"] == "failed"
    assert body["reason"]["kind"] == "task_failed"
    failed = [task for task in body["tasks"] if task["status"] == "failed"]
    assert failed
    assert failed[0]["attempts"] >= 1
    assert failed[0]["error"]["kind"] == "llm_rejected"


async def test_unknown_goal_is_404_and_bad_body_is_a_clear_4xx(gateway: httpx.AsyncClient) -> None:
    missing = await gateway.get("/goals/00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404
    bad = await gateway.post("/goals", json={"goal": 42})
    assert bad.status_code == 422
    assert any(f["field"] == "goal" for f in bad.json()["error"]["fields"])


async def test_a_cancelled_goal_fails_as_cancelled_and_dispatches_nothing_more(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    # A long chain, each call 300 ms: the cancellation arrives seconds before the last task
    # could be released, however busy the machine.
    await llm_latency(stack, CHAIN_CALL_MS, CHAIN_CALL_MS)
    try:
        goal_id = await submit(gateway, "Write a long saga, one chapter at a time [chain=6]")
        cancelled = await gateway.delete(f"/goals/{goal_id}", params={"reason": "changed my mind"})
        assert cancelled.status_code == 202, cancelled.text

        deadline = time.monotonic() + 60
        body = await wait_for_end(gateway, goal_id, 60)
        while body["completed_at"] is None and time.monotonic() < deadline:  # the outcome's row
            await asyncio.sleep(0.25)
            body = (await gateway.get(f"/goals/{goal_id}")).json()
    finally:
        await llm_latency(stack, 0, 0)
    assert body["status"] == "failed", body
    assert body["reason"] == {
        "kind": "cancelled",
        "message": "cancelled by anonymous: changed my mind",
    }
    # Tasks dispatched before the cancellation reached the aggregator (topics are not ordered
    # with one another: a busy machine may let a result in first) are fine; nothing is
    # dispatched after it, even once a late input arrives, and no final synthesis at all.
    await asyncio.sleep(2)
    later = (await gateway.get(f"/goals/{goal_id}")).json()
    assert later["status"] == "failed"
    topics = stack.kafka.topics
    names = [topics.tasks(kind) for kind in TaskType] + [topics.outputs]
    read = await asyncio.gather(*(read_topic(stack.kafka, name) for name in names))
    mine = [event for events in read for event in events if str(event.goal_id) == goal_id]
    (outcome,) = [event for event in mine if isinstance(event, GoalFailed)]
    released = [e for e in mine if isinstance(e, TaskAssigned) and e.depends_on]
    assert all(task.occurred_at <= outcome.occurred_at for task in released), released
    assert not any(e.final for e in mine if isinstance(e, TaskAssigned))
    again = await gateway.delete(f"/goals/{goal_id}")
    assert again.status_code == 409


async def test_a_rerun_completes_as_the_goals_second_run(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    goal_id = await submit(gateway, "Name three uses of a paperclip")
    first = await wait_for_end(gateway, goal_id, 60)
    assert (first["run"], first["status"]) == (1, "completed")

    postgres = PostgresSettings(dsn=stack.pg_dsn)
    (resubmitted,) = await rerun(stack.kafka, postgres, [uuid.UUID(goal_id)])
    assert resubmitted.run == 2

    deadline = time.monotonic() + 60
    body = first
    while body["run"] != 2 or body["status"] not in ("completed", "failed"):
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.25)
        body = (await gateway.get(f"/goals/{goal_id}")).json()
    assert body["status"] == "completed", body
    assert body["goal"] == "Name three uses of a paperclip"
    assert body["output"]
    assert all(task["task_id"].startswith(f"{goal_id}.2.") for task in body["tasks"])


async def test_the_benchmarks_driver_follows_each_goal_to_its_outcome(stack: Stack) -> None:
    """`make bench`'s client: goals in over HTTP, outcomes read on `outputs`; after an idle
    pause longer than its keep-alive (its connection closed), the next goal still goes in."""
    async with GoalDriver(stack.gateway, stack.kafka) as driver:
        first = await asyncio.wait_for(driver.run_one(), timeout=60)
        await asyncio.sleep(KEEPALIVE_S + 0.5)
        second = await asyncio.wait_for(driver.run_one(), timeout=60)
        latencies = driver.latencies_ms([first, second])
    assert first != second
    assert sorted(latencies) == sorted([first, second])
    assert all(ms > 0 for ms in latencies.values())
    assert driver.ended[first].completed
    assert driver.ended[second].completed
