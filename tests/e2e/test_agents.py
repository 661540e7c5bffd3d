"""Agents that are checked, that wait for people and that delegate: every service a
process, real Kafka and PostgreSQL, the scripted LLM."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from podium_common.events import local_task_id
from tests.e2e.conftest import SERVICES, Stack
from tests.e2e.test_goals import submit, wait_for_end

pytestmark = pytest.mark.e2e

ATTEMPTS = """
SELECT t.task_id, t.type, a.attempt, a.feedback, a.status, a.output, a.verdict
FROM task_attempts AS a JOIN tasks AS t USING (task_id)
WHERE a.goal_id = $1 ORDER BY t.position NULLS LAST, a.task_id, a.attempt
"""


async def attempts(stack: Stack, goal_id: str) -> list[dict[str, object]]:
    connection = await asyncpg.connect(stack.pg_dsn)
    try:
        rows = await connection.fetch(ATTEMPTS, uuid.UUID(goal_id))
    finally:
        await connection.close()
    return [dict(row) for row in rows]


async def test_a_rejected_validation_redoes_the_work_and_the_answer_uses_the_redone_output(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    # t1, t2 research; t3 builds on both; t4 validates t3 and rejects it once.
    goal_id = await submit(
        gateway, "Design a rate limiter for a public API [validate][reject-once]"
    )
    body = await wait_for_end(gateway, goal_id, 90)
    assert body["status"] == "completed", body
    tasks = {task["task_id"].rsplit(".", 1)[-1]: task for task in body["tasks"]}
    assert tasks["t3"]["type"] == "specialist"
    assert tasks["t4"]["type"] == "validator"
    assert (tasks["t3"]["attempts"], tasks["t4"]["attempts"]) == (2, 2)
    assert tasks["t4"]["verdict"] == {"passed": True, "feedback": ""}
    assert "Revised after Feedback: Scripted rejection" in tasks["t3"]["output"]

    # The read model keeps both rounds: the rejected work, the verdict that sent it back
    # with its feedback, the redone work and the verdict that passed it.
    rows = await attempts(stack, goal_id)
    specialist = [row for row in rows if row["task_id"] == tasks["t3"]["task_id"]]
    validator = [row for row in rows if row["task_id"] == tasks["t4"]["task_id"]]
    assert [row["attempt"] for row in specialist] == [1, 2]
    assert specialist[0]["feedback"] is None
    assert "Revised" not in str(specialist[0]["output"])
    rejection = '{"passed": false, "feedback": "Scripted rejection: revise the answer once'
    assert str(validator[0]["verdict"]).startswith(rejection), validator[0]
    assert str(specialist[1]["feedback"]).startswith("Scripted rejection")
    assert "Revised after Feedback" in str(specialist[1]["output"])
    assert [row["status"] for row in validator] == ["succeeded", "succeeded"]
    assert '"passed": true' in str(validator[1]["verdict"])

    # The final answer is synthesized from the redone output, not the rejected one.
    assert "Specialist result for task:" in body["output"]
    assert "(revised)" in body["output"], body["output"]
    others = [row for row in rows if row["task_id"] not in (tasks["t3"]["task_id"],)]
    assert all(row["attempt"] == 1 for row in others if row["type"] == "researcher")


async def wait_for_approval(
    gateway: httpx.AsyncClient, goal_id: str, within_s: float, round_: int = 1
) -> dict[str, Any]:
    """The goal once it waits for a decision of round `round_`; its view then."""
    deadline = time.monotonic() + within_s
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            response = await gateway.get(f"/goals/{goal_id}")
        except httpx.TransportError:  # the gateway is restarting
            await asyncio.sleep(0.25)
            continue
        if response.status_code == 200:
            body = response.json()
            waiting = [a for a in body["approvals"] if a["decision"] is None]
            if body["status"] == "waiting_approval" and any(a["round"] == round_ for a in waiting):
                return body
            assert body["status"] not in ("completed", "failed"), body
        await asyncio.sleep(0.25)
    raise TimeoutError(f"goal {goal_id} not waiting for approval after {within_s}s: {body}")


def podium(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "podium"), *args, "--url", stack.gateway]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


async def test_an_approved_task_runs_after_every_service_restarted_and_the_wait_is_not_deadline(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    options = {"approvals": {"specialist": "before"}, "deadline_s": 25}
    goal_id = await submit(gateway, "Pick a name for a cat", **options)
    body = await wait_for_approval(gateway, goal_id, 60)
    (approval,) = body["approvals"]
    specialist = next(t for t in body["tasks"] if t["type"] == "specialist")
    assert (approval["task_id"], approval["stage"]) == (specialist["task_id"], "before")
    assert specialist["status"] == "waiting_approval"
    assert "Input t1 (researcher):" in approval["shown"]  # what its worker will read

    # A waiting goal survives a restart of every service, and its deadline (25 s after its
    # submission) passes while it waits without failing it.
    submitted = time.monotonic()
    for name in SERVICES:
        stack.restart(name)
    await asyncio.sleep(max(0.0, 27 - (time.monotonic() - submitted)))
    still = await wait_for_approval(gateway, goal_id, 60)
    assert still["approvals"] == body["approvals"]

    stale = await gateway.post(
        f"/goals/{goal_id}/approvals/t3", json={"decision": "approve", "digest": "0" * 64}
    )
    assert stale.status_code == 409, stale.text
    done = podium(stack, "approve", goal_id, "t3", "--by", "alice")
    assert done.returncode == 0, done.stderr
    end = await wait_for_end(gateway, goal_id, 90)
    assert end["status"] == "completed", end
    (decided,) = end["approvals"]
    assert decided["decision"]["approved"] is True
    assert decided["decision"]["decided_by"] == "alice"
    assert next(t for t in end["tasks"] if t["type"] == "specialist")["attempts"] == 1


async def test_an_output_rejected_with_a_comment_is_redone_with_it_and_approved_again(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    goal_id = await submit(gateway, "Name a river", approvals={"specialist": "after"})
    first = await wait_for_approval(gateway, goal_id, 60)
    shown = first["approvals"][0]["shown"]
    assert shown.startswith("Specialist result for task:")
    rejected = podium(stack, "reject", goal_id, "t3", "-m", "cite a source")
    assert rejected.returncode == 0, rejected.stderr

    second = await wait_for_approval(gateway, goal_id, 60, round_=2)
    again = next(a for a in second["approvals"] if a["round"] == 2)
    assert "Revised after Feedback: cite a source" in again["shown"]
    decided = await gateway.post(
        f"/goals/{goal_id}/approvals/t3", json={"decision": "approve", "digest": again["digest"]}
    )
    assert decided.status_code == 202, decided.text
    end = await wait_for_end(gateway, goal_id, 60)
    assert end["status"] == "completed", end
    assert "(revised)" in end["output"]
    first_round = next(a for a in end["approvals"] if a["round"] == 1)
    assert first_round["decision"]["comment"] == "cite a source"
    assert first_round["decision"]["approved"] is False


async def test_podium_run_asks_about_each_approval_and_prints_the_answer(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    command = [
        str(Path(sys.executable).parent / "podium"),
        *("run", "Name a river", "--approve", "specialist=after", "--ask", "--url", stack.gateway),
    ]
    # Rejected with a reason (the task is redone with it), then the revision approved.
    answers = "n\ncite a source\ny\n"
    run = await asyncio.to_thread(
        subprocess.run, command, input=answers, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert "(revised)" in run.stdout  # stdout: the answer only; the questions went to stderr
    assert "approve?" not in run.stdout
    assert run.stderr.count("t3 (specialist) waits for your approval of its output:") == 2
    assert "| Revised after Feedback: cite a source" in run.stderr
    goal_id = run.stderr.split("goal ", 1)[1].split()[0]
    end = (await gateway.get(f"/goals/{goal_id}")).json()
    rounds = sorted(end["approvals"], key=lambda a: a["round"])
    decided = [(a["decision"]["approved"], a["decision"]["comment"]) for a in rounds]
    assert decided == [(False, "cite a source"), (True, "")]


async def test_a_goal_decides_whether_its_plans_own_approval_marks_count(
    gateway: httpx.AsyncClient,
) -> None:
    # The scripted plan marks t3 for approval of its output, as a model may unasked.
    followed = await submit(gateway, "Name a lake [mark-approval]")
    waiting = await wait_for_approval(gateway, followed, 60)
    assert [(a["task_id"], a["stage"]) for a in waiting["approvals"]] == [
        (waiting["approvals"][0]["task_id"], "after")
    ]
    assert local_task_id(waiting["approvals"][0]["task_id"]) == "t3"
    ignored = await submit(gateway, "Name a lake [mark-approval]", plan_approvals=False)
    body = await wait_for_end(gateway, ignored, 60)
    assert body["status"] == "completed", body
    assert body["approvals"] == []
    decided = await gateway.post(f"/goals/{followed}/approvals/t3", json={"decision": "approve"})
    assert decided.status_code == 202, decided.text
    assert (await wait_for_end(gateway, followed, 60))["status"] == "completed"


async def test_an_approval_nobody_gives_in_time_fails_the_goal(gateway: httpx.AsyncClient) -> None:
    options = {"approvals": {"researcher": "before"}, "approval_timeout_s": 3}
    goal_id = await submit(gateway, "Name a mountain", **options)
    body = await wait_for_end(gateway, goal_id, 60)
    assert body["status"] == "failed", body
    assert body["reason"]["kind"] == "approval_timeout"
    assert "nobody decided" in body["reason"]["message"]
    assert all(task["attempts"] == 0 for task in body["tasks"]), body["tasks"]
    late = await gateway.post(f"/goals/{goal_id}/approvals/t1", json={"decision": "approve"})
    assert late.status_code == 409


async def sse_events(stack: Stack, goal_id: str, within_s: float = 30) -> list[tuple[str, str]]:
    """The goal's progress stream, to its end: (event type, data) pairs."""
    seen: list[tuple[str, str]] = []
    kind = ""
    async with (
        httpx.AsyncClient(base_url=stack.gateway, timeout=within_s) as client,
        client.stream("GET", f"/goals/{goal_id}/events") as stream,
    ):
        async for line in stream.aiter_lines():
            if line.startswith("event:"):
                kind = line.removeprefix("event:").strip()
            elif line.startswith("data:"):
                seen.append((kind, line.removeprefix("data:").strip()))
                if kind in ("GoalCompleted", "GoalFailed"):
                    break
    return seen


async def test_a_two_level_delegation_runs_its_sub_plans_and_shows_the_tree(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    # t1 answers with a sub-plan (t1/s1, t1/s2) and t1/s1 with another (t1/s1/s1, t1/s1/s2);
    # each sub-plan's synthesis becomes its parent's output, which t3 then builds on.
    goal_id = await submit(gateway, "Map the history of tea [delegate=2]")
    body = await wait_for_end(gateway, goal_id, 120)
    assert body["status"] == "completed", body
    tasks = {local_task_id(task["task_id"]): task for task in body["tasks"]}
    assert {"t1/s1", "t1/s2", "t1/final", "t1/s1/s1", "t1/s1/s2", "t1/s1/final"} <= set(tasks)
    assert [tasks[name]["depth"] for name in ("t1", "t1/s1", "t1/s1/s2")] == [0, 1, 2]
    assert tasks["t1/s1/s2"]["parent_id"] == tasks["t1/s1"]["task_id"]
    assert tasks["t1/s1"]["parent_id"] == tasks["t1"]["task_id"]
    assert all(task["status"] == "succeeded" for task in body["tasks"]), body["tasks"]
    # A delegated task's output is its sub-plan's synthesis, and what its dependant read.
    assert tasks["t1"]["output"] == tasks["t1/final"]["output"]
    assert tasks["t1"]["output"].startswith("Answer:")
    assert tasks["t1/s1"]["output"] == tasks["t1/s1/final"]["output"]
    assert body["totals"]["tasks"] == len(body["tasks"]) == 3 + 1 + 6

    events = await sse_events(stack, goal_id)
    assigned = [json.loads(data) for kind, data in events if kind == "TaskAssigned"]
    deepest = {local_task_id(task["task_id"]) for task in assigned if task["depth"] == 2}
    assert deepest == {"t1/s1/s1", "t1/s1/s2", "t1/s1/final"}, assigned
    shown = podium(stack, "get", goal_id)
    assert shown.returncode == 0, shown.stderr
    assert '"depth": 2' in shown.stdout
