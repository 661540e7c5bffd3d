"""The workers through the real LLM client against the scripted OpenAI-compatible server:
the prompt contract holds on both sides, and the server's faults end as the runtime says."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from podium_common.events import TaskStatus, Verdict
from podium_common.llm import OpenAILLM
from podium_common.settings import LLMSettings
from podium_common.topics import TaskType
from podium_scripted_llm.testing import ScriptedLLM, serve
from podium_worker_researcher import handler as researcher
from podium_worker_synthesizer import handler as synthesizer
from podium_worker_validator import handler as validator
from tests.unit.workers.fakes import dependency, make_task


@pytest.fixture
async def scripted() -> AsyncIterator[ScriptedLLM]:
    async with serve() as server:
        yield server


@pytest.fixture
async def llm(scripted: ScriptedLLM) -> AsyncIterator[OpenAILLM]:
    client = OpenAILLM(
        LLMSettings(base_url=scripted.base_url, max_attempts=3, backoff_base_s=0.01, timeout_s=5)
    )
    yield client
    await client.close()


async def test_a_researcher_answer_with_usage(llm, scripted):
    result = await researcher.handle(make_task(), llm, worker_id="w", model="m")
    assert result.status is TaskStatus.SUCCEEDED
    assert result.output is not None
    assert result.output.startswith(
        "Researcher result for task: Find the boiling point of water at sea level."
    )
    assert result.usage.prompt_tokens > 0
    assert result.usage.completion_tokens > 0
    assert scripted.stats()["by_role"] == {"researcher": 1}


async def test_the_synthesizer_reads_each_input_section(llm):
    task = make_task(
        TaskType.SYNTHESIZER,
        inputs=[
            dependency("t1", "Water boils at 100 °C.\nmore"),
            dependency("t2", "Less at altitude."),
        ],
    )
    result = await synthesizer.handle(task, llm, worker_id="w", model="m")
    assert result.output == (
        "Answer: Water boils at 100 °C. | Less at altitude.\nSynthesized from 2 input(s)."
    )


async def test_a_rejection_then_a_pass_after_feedback(llm):
    task = make_task(TaskType.VALIDATOR, description="Check t1 [reject-once]")
    rejected = await validator.handle(task, llm, worker_id="w", model="m")
    assert rejected.verdict is not None
    assert rejected.verdict.passed is False
    revised = make_task(
        TaskType.VALIDATOR, description=task.description, feedback=rejected.verdict.feedback
    )
    passed = await validator.handle(revised, llm, worker_id="w", model="m")
    assert passed.verdict == Verdict(passed=True, feedback="")


async def test_a_malformed_verdict_is_asked_for_again(llm, scripted):
    scripted.fail_next(fault="malformed", role="validator")
    result = await validator.handle(make_task(TaskType.VALIDATOR), llm, worker_id="w", model="m")
    assert result.verdict == Verdict(passed=True, feedback="")
    assert scripted.stats()["by_role_outcome"]["validator"] == {"malformed": 1, "ok": 1}


async def test_a_refused_task_fails_with_the_reason(llm):
    task = make_task(description="Do this [always-fail]")
    result = await researcher.handle(task, llm, worker_id="w", model="m")
    assert result.status is TaskStatus.FAILED
    assert result.error is not None
    assert result.error.kind == "llm_rejected"
    assert "400" in result.error.message


async def test_transient_errors_are_retried_by_the_client(llm, scripted):
    scripted.fail_next(status=503, count=2)
    result = await researcher.handle(make_task(), llm, worker_id="w", model="m")
    assert result.status is TaskStatus.SUCCEEDED
    assert scripted.stats()["by_outcome"] == {"503": 2, "ok": 1}


async def test_an_llm_down_for_good_fails_the_task(llm, scripted):
    scripted.fail_next(status=500, count=3)
    result = await researcher.handle(make_task(), llm, worker_id="w", model="m")
    assert result.status is TaskStatus.FAILED
    assert result.error is not None
    assert result.error.kind == "llm_unavailable"
