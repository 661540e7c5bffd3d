"""`/_scripted/stats` counts calls by role and outcome; `/_scripted/reset` zeroes them."""

from __future__ import annotations

from tests.unit.scripted_llm import chat


async def test_stats_count_calls_by_role_and_outcome(client):
    await client.post("/v1/chat/completions", json=chat.planner("Count me"))
    await client.post("/v1/chat/completions", json=chat.worker("researcher", "a", {}))
    await client.post("/v1/chat/completions", json=chat.worker("researcher", "b [always-fail]", {}))
    await client.post("/_scripted/config", json={"fail_next": {"status": 429}})
    await client.post("/v1/chat/completions", json=chat.worker("researcher", "c", {}))
    await client.post("/v1/chat/completions", content=b"nonsense")

    stats = (await client.get("/_scripted/stats")).json()
    assert stats["total"] == 5
    assert stats["by_role"] == {"planner": 1, "researcher": 3, "unknown": 1}
    assert stats["by_outcome"] == {"ok": 2, "refused": 1, "429": 1, "bad_request": 1}
    assert stats["by_role_outcome"]["researcher"] == {"ok": 1, "refused": 1, "429": 1}
    assert stats["tokens"]["prompt"] > 0
    assert stats["tokens"]["completion"] > 0


async def test_reset_zeroes_the_stats(client):
    await client.post("/v1/chat/completions", json=chat.planner("Count me"))
    response = await client.post("/_scripted/reset")
    zero = {"total": 0, "by_role": {}, "by_outcome": {}, "by_role_outcome": {}}
    assert response.json() == zero | {"tokens": {"prompt": 0, "completion": 0}}
    assert (await client.get("/_scripted/stats")).json() == response.json()
