"""The shared worker runtime: prompt building, results, failures, model choice."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest

from podium_common.errors import ConfigError, LLMMalformed, LLMRejected, LLMUnavailable
from podium_common.events import TaskStatus, TokenUsage, derived_id, utcnow
from podium_common.llm import Completion
from podium_common.prompts import user_message
from podium_common.topics import TaskType
from podium_common.worker import Outcome, WorkerRole, run_task
from tests.unit.workers.fakes import USAGE, FakeLLM, dependency, make_task

ROLE = WorkerRole(task_type=TaskType.RESEARCHER, system_prompt="You are Podium's researcher.")


async def run(task, llm, *, model="worker-model"):
    return await run_task(task, llm=llm, role=ROLE, worker_id="w-1", model=model)


def test_user_message_has_every_section_of_the_contract_in_order():
    task = make_task(
        requirements=["cite a source", "give units"],
        inputs=[dependency("t1", "100 °C"), dependency("t2", "boils lower", TaskType.SPECIALIST)],
        feedback="Units are missing.",
    )
    text = user_message(task)
    assert text.startswith("Goal: Explain how altitude changes cooking times.\n")
    assert "\nTask: Find the boiling point of water at sea level.\n" in text
    assert "Requirements:\n- cite a source\n- give units" in text
    assert "- t1 (researcher): the t1 assignment\n- t2 (specialist): the t2" in text
    # Each input section holds the output right after its header.
    assert "\n\nInput t1 (researcher):\n100 °C\n\n" in text
    assert "\n\nInput t2 (specialist):\nboils lower\n\n" in text
    assert text.endswith("Feedback:\nUnits are missing.")
    order = [
        "Goal:",
        "Task:",
        "Requirements:",
        "What each",
        "Input t1",
        "Input t2",
        "Feedback:",
    ]
    positions = [text.index(marker) for marker in order]
    assert positions == sorted(positions)


def test_user_message_leaves_out_empty_sections():
    text = user_message(make_task())
    assert text == (
        "Goal: Explain how altitude changes cooking times.\n\n"
        "Task: Find the boiling point of water at sea level."
    )


async def test_success_carries_output_usage_and_identity():
    task = make_task(attempt=2, final=True, run=3)
    llm = FakeLLM("  Water boils at 100 °C at sea level.\n")
    result = await run(task, llm)
    assert result.status is TaskStatus.SUCCEEDED
    assert result.output == "Water boils at 100 °C at sea level."
    assert result.verdict is None
    assert result.error is None
    assert result.usage == USAGE
    assert result.model == "worker-model"
    assert result.worker_id == "w-1"
    assert (result.task_id, result.type, result.attempt, result.final) == (
        task.task_id,
        task.type,
        2,
        True,
    )
    assert (result.goal_id, result.run) == (task.goal_id, 3)
    assert result.event_id == derived_id("result", task.task_id, 2)
    assert result.latency_ms >= 0


async def test_the_request_has_the_role_prompt_and_the_task():
    task = make_task()
    llm = FakeLLM()
    await run(task, llm)
    [request] = llm.requests
    assert [m.role for m in request.messages] == ["system", "user"]
    assert request.messages[0].content == ROLE.system_prompt
    assert request.messages[1].content == user_message(task)
    assert request.json_output is False
    assert request.temperature == ROLE.temperature


async def test_the_result_continues_the_tasks_trace_in_a_new_span():
    task = make_task()
    result = await run(task, FakeLLM())
    _, trace_id, span, _ = task.trace.traceparent.split("-")
    _, result_trace_id, result_span, _ = result.trace.traceparent.split("-")
    assert result_trace_id == trace_id
    assert result_span != span


async def test_redelivered_task_gets_the_same_result_id():
    task = make_task()
    first, second = await run(task, FakeLLM()), await run(task, FakeLLM())
    assert first.event_id == second.event_id
    retried = await run(make_task(task_id=task.task_id, goal_id=task.goal_id, attempt=2), FakeLLM())
    assert retried.event_id != first.event_id


async def test_the_tasks_model_overrides_the_workers():
    llm = FakeLLM()
    result = await run(make_task(model="big-model"), llm)
    assert llm.requests[0].model == "big-model"
    assert result.model == "big-model"


async def test_the_workers_model_is_used_when_the_task_names_none():
    llm = FakeLLM()
    await run(make_task(), llm, model="small-model")
    assert llm.requests[0].model == "small-model"


async def test_the_model_the_endpoint_reports_is_recorded():
    result = await run(make_task(), FakeLLM(model="small-model-2025-01"), model="small-model")
    assert result.model == "small-model-2025-01"


async def test_a_refused_request_fails_the_task_without_asking_again():
    llm = FakeLLM(LLMRejected("LLM refused the request with 400: no", model="m"))
    result = await run(make_task(), llm)
    assert result.status is TaskStatus.FAILED
    assert result.error is not None
    assert result.error.kind == "llm_rejected"
    assert "refused the request with 400" in result.error.message
    assert result.output is None
    assert len(llm.requests) == 1


async def test_an_unavailable_llm_fails_the_task():
    result = await run(make_task(), FakeLLM(LLMUnavailable("LLM answered 503")))
    assert result.status is TaskStatus.FAILED
    assert result.error is not None
    assert result.error.kind == "llm_unavailable"
    assert result.usage == TokenUsage()
    assert result.event_id == derived_id("result", result.task_id, 1)


async def test_a_task_past_its_deadline_fails_without_calling_the_llm():
    llm = FakeLLM()
    result = await run(make_task(deadline=utcnow() - timedelta(seconds=1)), llm)
    assert result.status is TaskStatus.FAILED
    assert result.error is not None
    assert result.error.kind == "deadline"
    assert "before the task began" in result.error.message
    assert llm.requests == []


async def test_the_deadline_cuts_a_slow_llm_call_short():
    llm = FakeLLM(delay_s=5.0)
    started = time.monotonic()
    result = await run(make_task(deadline=utcnow() + timedelta(milliseconds=200)), llm)
    assert time.monotonic() - started < 2.0
    assert result.status is TaskStatus.FAILED
    assert result.error is not None
    assert result.error.kind == "deadline"
    assert "during the LLM call" in result.error.message


async def test_an_empty_reply_is_asked_for_again_with_what_was_wrong():
    llm = FakeLLM("   ", "A real answer.")
    result = await run(make_task(), llm)
    assert result.status is TaskStatus.SUCCEEDED
    assert result.output == "A real answer."
    assert result.usage == USAGE + USAGE
    retry = llm.requests[1].messages
    assert [m.role for m in retry] == ["system", "user", "assistant", "user"]
    assert "the reply was empty" in retry[-1].content


def test_a_role_must_allow_at_least_one_reply():
    with pytest.raises(ConfigError):
        WorkerRole(task_type=TaskType.RESEARCHER, system_prompt="x", max_replies=0)


def piece(text: str, *, cut: bool) -> Completion:
    return Completion(text=text, model="m", usage=USAGE, latency_ms=2, cut=cut)


async def test_a_json_reply_cut_short_is_asked_again_shorter_not_continued():
    role = WorkerRole(
        task_type=TaskType.VALIDATOR, system_prompt="x", json_output=True, parse=json_answer
    )
    llm = FakeLLM(piece('{"answer": "a very lo', cut=True), '{"answer": "short"}')
    result = await run_task(make_task(), llm=llm, role=role, worker_id="w-1", model="m")
    assert result.output == "short"
    repair = llm.requests[1].messages
    assert repair[2].content == '{"answer": "a very lo'
    assert "cut off at the length limit, answer shorter" in repair[3].content


def json_answer(reply: str) -> Outcome:
    try:
        return Outcome(output=json.loads(reply)["answer"])
    except ValueError as error:
        raise LLMMalformed(f"not JSON: {error}") from error
