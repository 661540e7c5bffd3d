"""Agents that are checked, that wait for people and that delegate: every service a
process, real Kafka and PostgreSQL, the scripted LLM."""

from __future__ import annotations

import uuid

import asyncpg
import httpx
import pytest

from tests.e2e.conftest import Stack
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
