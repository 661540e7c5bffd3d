"""Injected latency and faults: random ones at probability 1, seeded draws, `fail_next`."""

from __future__ import annotations

import json
import time

import pytest

from podium_scripted_llm.faults import Faults
from podium_scripted_llm.settings import FaultConfig
from tests.unit.scripted_llm import chat


async def configure(client, **changes):
    response = await client.post("/_scripted/config", json=changes)
    assert response.status_code == 200, response.text
    return response.json()


async def call(client, role="researcher", *, json_mode=False):
    return await client.post(
        "/v1/chat/completions", json=chat.body(role, "Task: x", json_mode=json_mode)
    )


async def test_429_carries_retry_after(client):
    await configure(client, p_429=1.0, retry_after_s=2.5)
    response = await call(client)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "2.5"
    assert response.json()["error"]["code"] == "rate_limit_exceeded"


async def test_500(client):
    await configure(client, p_500=1.0)
    response = await call(client)
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "server_error"


async def test_timeout_holds_then_answers_504(client):
    await configure(client, p_timeout=1.0, timeout_hold_s=0.2)
    started = time.monotonic()
    response = await call(client)
    assert time.monotonic() - started >= 0.2
    assert response.status_code == 504


async def test_malformed_json_mode_content_is_not_json(client):
    await configure(client, p_malformed=1.0)
    response = await call(client, "planner", json_mode=True)
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.json()["choices"][0]["message"]["content"])


async def test_malformed_text_is_garbage(client):
    await configure(client, p_malformed=1.0)
    text = (await call(client)).json()["choices"][0]["message"]["content"]
    assert "garbage" in text
    assert "result for task" not in text


async def test_fixed_latency_delays_the_answer(client):
    await configure(client, latency_ms=150)
    started = time.monotonic()
    assert (await call(client)).status_code == 200
    assert time.monotonic() - started >= 0.15


def test_latency_range_is_uniform_and_seeded():
    config = FaultConfig(latency_ms=10, latency_max_ms=30, seed=3)
    one, two = Faults(config), Faults(config)
    draws = [one.latency_s() for _ in range(50)]
    assert draws == [two.latency_s() for _ in range(50)]
    assert all(0.010 <= d <= 0.030 for d in draws)
    assert len(set(draws)) > 1


def outcomes(faults: Faults, calls: int = 40) -> list[str]:
    drawn = (faults.draw("researcher") for _ in range(calls))
    return [fault.outcome if fault else "ok" for fault in drawn]


def test_random_faults_are_reproducible_from_the_seed():
    config = FaultConfig(p_429=0.3, p_500=0.3, seed=42)
    first = outcomes(Faults(config))
    assert outcomes(Faults(config)) == first
    assert set(first) == {"ok", "429", "500"}
    reseeded = Faults(config)
    reseeded.configure({"seed": 7})
    assert outcomes(reseeded) != first


async def test_fail_next_fails_exactly_count_calls(client):
    snapshot = await configure(client, fail_next={"status": 429, "count": 2})
    assert snapshot["fail_next"] == {"status": 429, "count": 2, "remaining": 2}
    statuses = [(await call(client)).status_code for _ in range(3)]
    assert statuses == [429, 429, 200]
    assert (await client.get("/_scripted/config")).json()["fail_next"] is None


async def test_fail_next_can_target_one_role(client):
    await configure(client, fail_next={"status": 503, "role": "planner"})
    assert (await call(client, "researcher")).status_code == 200
    assert (await call(client, "planner", json_mode=True)).status_code == 503
    assert (await call(client, "planner", json_mode=True)).status_code == 200


async def test_fail_next_timeout_and_malformed(client):
    await configure(client, timeout_hold_s=0.05, fail_next={"fault": "timeout"})
    assert (await call(client)).status_code == 504
    await configure(client, fail_next={"fault": "malformed"})
    text = (await call(client, "validator", json_mode=True)).json()["choices"][0]["message"]
    with pytest.raises(json.JSONDecodeError):
        json.loads(text["content"])
    assert (await call(client)).status_code == 200


async def test_fail_next_null_clears_it(client):
    await configure(client, fail_next={"status": 500, "count": 5})
    await configure(client, fail_next=None)
    assert (await call(client)).status_code == 200


@pytest.mark.parametrize(
    "changes",
    [
        {"p_429": 0.6, "p_500": 0.6},
        {"p_timeout": -0.1},
        {"latency_ms": 50, "latency_max_ms": 10},
        {"no_such_knob": 1},
        {"fail_next": {"status": 429, "fault": "timeout"}},
        {"fail_next": {"count": 2}},
        {"p_500": 1.0, "fail_next": {"status": 200}},
    ],
)
async def test_invalid_config_is_refused_and_changes_nothing(client, changes):
    before = (await client.get("/_scripted/config")).json()
    response = await client.post("/_scripted/config", json=changes)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_config"
    assert (await client.get("/_scripted/config")).json() == before


async def test_config_body_must_be_an_object(client):
    response = await client.post("/_scripted/config", json=[1, 2])
    assert response.status_code == 400
