"""A goal through the real local model, end to end: the model `podium up` serves by default
(built and fetched into the cache by `make test`'s `local-llm` step), every service a
process, the real broker and PostgreSQL. A small goal, short replies: a few minutes at most
on two CPU cores."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from podium_cli import models
from podium_cli.settings import CliSettings
from podium_cli.stack.layout import Layout
from podium_cli.stack.local_llm import LocalLLM
from tests.e2e.conftest import LLMServer, Stack, running_stack
from tests.e2e.test_goals import submit, wait_for_end

pytestmark = pytest.mark.e2e

# What the scripted test LLM answers: a task's or the synthesis's canned text.
CANNED = re.compile(r"^(Researcher|Specialist|Validator|Synthesizer) result for task:|^Answer: ")
# Short replies keep the run to a few minutes; the model's own limits are tested elsewhere.
SHORT = {
    "PODIUM_LLM__MAX_TOKENS__RESEARCHER": "160",
    "PODIUM_LLM__MAX_TOKENS__SPECIALIST": "160",
    "PODIUM_LLM__MAX_TOKENS__VALIDATOR": "120",
    "PODIUM_LLM__MAX_TOKENS__SYNTHESIZER": "240",
}


def local_server() -> LLMServer:
    settings = CliSettings()
    local = LocalLLM(settings, Layout.of(settings))
    local.prepare()  # found in the cache: `make test` built and fetched it first
    env = models.service_env(local.model, "", {})
    del env["PODIUM_LLM__BASE_URL"]  # the stack's own address for its LLM
    return LLMServer(
        name="local-llm",
        command=lambda port: list(local.process(port).command),
        env={**env, **SHORT},
        ready_path="/v1/models",
        ready_within_s=180,
    )


@pytest.fixture(scope="module")
async def local_stack(
    tmp_path_factory: pytest.TempPathFactory, module_pg_dsn: str
) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path_factory, module_pg_dsn, local_server()) as stack:
        yield stack


async def test_a_goal_completes_with_the_local_models_own_words_in_every_task(
    local_stack: Stack,
) -> None:
    async with httpx.AsyncClient(base_url=local_stack.gateway, timeout=10) as gateway:
        goal_id = await submit(
            gateway, "List two benefits of writing unit tests", max_tasks=2, deadline_s=540
        )
        try:
            body = await wait_for_end(gateway, goal_id, within_s=600)
        except TimeoutError:
            print(local_stack.log_tail())
            raise
    assert body["status"] == "completed", (body, local_stack.log_tail())
    assert body["approvals"] == []  # the model's own marks are not followed (PODIUM_PLAN_APPROVALS)
    assert 1 <= len(body["plan"]["tasks"]) <= 2
    tasks = body["tasks"]
    assert len(tasks) == len(body["plan"]["tasks"]) + 1  # and the final synthesis
    for task in tasks:
        assert task["status"] == "succeeded", task
        output = task["output"] or ""
        assert len(output.split()) >= 5, task
        assert not CANNED.search(output), task
        assert models.DEFAULT_MODEL in task["model"], task
    assert body["output"]
    assert not CANNED.search(body["output"])
    assert body["totals"]["completion_tokens"] > 0
