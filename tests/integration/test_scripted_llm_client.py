"""Podium's real LLM client (`OpenAILLM`) against the scripted LLM served on a real port."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time

import httpx
import pytest

from podium_common import continued
from podium_common.errors import LLMRejected, LLMUnavailable
from podium_common.llm import Message, OpenAILLM, Request
from podium_common.settings import LLMSettings
from podium_scripted_llm.settings import FaultConfig
from podium_scripted_llm.testing import ScriptedLLM, serve

pytestmark = pytest.mark.integration


def researcher(task: str) -> Request:
    return Request(
        model="small",
        messages=(
            Message("system", "You are Podium's researcher.\nAnswer briefly."),
            Message("user", f"Goal: learn about owls\nTask: {task}"),
        ),
    )


@pytest.fixture
async def scripted():
    async with serve(FaultConfig(retry_after_s=0.2)) as llm:
        yield llm


@pytest.fixture(params=["aiohttp", "httpx"])
async def client(scripted: ScriptedLLM, request: pytest.FixtureRequest):
    """The client on each HTTP transport it may be configured with."""
    llm = OpenAILLM(
        LLMSettings(
            base_url=scripted.base_url,
            http_client=request.param,
            timeout_s=0.5,
            max_attempts=4,
            backoff_base_s=0.01,
            backoff_max_s=0.02,
        )
    )
    yield llm
    await llm.close()


async def test_plain_answer(client, scripted):
    completion = await client.complete(researcher("Find owl species"))
    assert completion.text.startswith("Researcher result for task: Find owl species")
    assert completion.model == "scripted:small"
    assert completion.usage.prompt_tokens > 0
    assert completion.usage.completion_tokens > 0
    assert completion.attempts == 1
    assert scripted.stats()["by_role"] == {"researcher": 1}


async def test_json_mode_plan(client):
    request = Request(
        model="planner-model",
        messages=(
            Message("system", "You are Podium's planner.\nAnswer in JSON."),
            Message("user", "Goal: owls [parallel=3] [chain=3]\nMost tasks: 8"),
        ),
        json_output=True,
    )
    tasks = json.loads((await client.complete(request)).text)["tasks"]
    assert len(tasks) == 6
    assert tasks[3]["depends_on"] == ["t1", "t2", "t3"]


async def test_429_with_retry_after_is_retried_until_success(client, scripted):
    scripted.fail_next(status=429, count=2)
    started = time.monotonic()
    completion = await client.complete(researcher("Survive rate limits"))
    assert completion.attempts == 3
    assert time.monotonic() - started >= 0.4  # two waits of at least Retry-After (0.2 s)
    assert scripted.stats()["by_outcome"] == {"429": 2, "ok": 1}


async def test_timeout_is_retried(client, scripted):
    scripted.configure(timeout_hold_s=30)
    scripted.fail_next(fault="timeout")
    completion = await client.complete(researcher("Survive a stall"))
    assert completion.attempts == 2
    assert scripted.stats()["by_outcome"] == {"timeout": 1, "ok": 1}


async def test_persistent_500_ends_unavailable(client, scripted):
    scripted.configure(p_500=1.0)
    with pytest.raises(LLMUnavailable):
        await client.complete(researcher("Never answered"))
    assert scripted.stats()["by_outcome"] == {"500": 4}


async def test_always_fail_raises_rejected_without_retry(client, scripted):
    with pytest.raises(LLMRejected, match="400"):
        await client.complete(researcher("Doomed [always-fail]"))
    assert scripted.stats()["by_outcome"] == {"refused": 1}


async def test_admin_endpoints_over_http(scripted):
    async with httpx.AsyncClient(base_url=scripted.url) as http:
        assert (await http.get("/healthz")).status_code == 200
        config = await http.post("/_scripted/config", json={"fail_next": {"status": 500}})
        assert config.json()["fail_next"]["remaining"] == 1
        assert scripted.state.faults.fail_left == 1
        assert (await http.post("/_scripted/reset")).json()["total"] == 0


async def test_leaving_ends_promptly_while_a_call_is_held():
    started = time.monotonic()
    config = FaultConfig(p_timeout=1.0, timeout_hold_s=60)
    async with serve(config) as scripted, httpx.AsyncClient(timeout=0.2) as http:
        body = {"model": "m", "messages": [{"role": "user", "content": "hold me"}]}
        with pytest.raises(httpx.ReadTimeout):
            await http.post(f"{scripted.base_url}/chat/completions", json=body)
    assert time.monotonic() - started < 5


async def test_stopping_releases_a_call_still_held():
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=30) as http:
        async with serve(FaultConfig(p_timeout=1.0, timeout_hold_s=60)) as scripted:
            body = {"model": "m", "messages": [{"role": "user", "content": "hold me"}]}
            call = asyncio.create_task(
                http.post(f"{scripted.base_url}/chat/completions", json=body)
            )
            for _ in range(500):  # until the server holds the call
                if scripted.stats()["total"]:
                    break
                await asyncio.sleep(0.01)
        response = await call
    assert response.status_code == 504
    assert time.monotonic() - started < 5


async def test_a_reply_cut_at_its_max_tokens_is_said_so_and_continued_whole(client):
    """The endpoint stops the reply at `max_tokens` (`finish_reason` "length"); the worker
    runtime asks it to go on until the reply ends, and the task's output is the whole reply."""
    request = researcher("Find owl species")
    whole = await client.complete(request)
    cut = await client.complete(dataclasses.replace(request, max_tokens=4))
    assert not whole.cut
    assert cut.cut
    assert cut.usage.completion_tokens == 4
    assert whole.text.startswith(cut.text)

    words = len(whole.text.split())
    going_on = await continued.whole(
        client.complete, dataclasses.replace(request, max_tokens=words // 2 + 1), cut, most=3
    )
    assert going_on.text == whole.text
    assert not going_on.cut
    assert going_on.usage.completion_tokens == words
