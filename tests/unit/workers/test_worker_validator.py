"""The validator's verdict: parsed from JSON, asked again when malformed, bounded."""

from __future__ import annotations

import json

import pytest

from podium_common.errors import LLMMalformed
from podium_common.events import TaskStatus, Verdict
from podium_common.topics import TaskType
from podium_worker_validator.handler import handle, parse_verdict
from tests.unit.workers.fakes import USAGE, FakeLLM, dependency, make_task

FAILED = json.dumps({"passed": False, "feedback": "The answer gives no units."})


def validation_task():
    return make_task(
        TaskType.VALIDATOR,
        description="Check the boiling point answer.",
        requirements=["gives units"],
        inputs=[dependency("t1", "It boils at 100.")],
    )


async def validate(llm):
    return await handle(validation_task(), llm, worker_id="v-1", model="checker")


async def test_a_failing_verdict_is_a_succeeded_task_carrying_it():
    llm = FakeLLM(FAILED)
    result = await validate(llm)
    assert result.status is TaskStatus.SUCCEEDED
    assert result.verdict == Verdict(passed=False, feedback="The answer gives no units.")
    assert result.output == "Failed: The answer gives no units."
    assert llm.requests[0].json_output is True
    assert "Requirements:\n- gives units" in llm.requests[0].messages[1].content


async def test_a_passing_verdict():
    result = await validate(FakeLLM('{"passed": true, "feedback": "All requirements met."}'))
    assert result.verdict == Verdict(passed=True, feedback="All requirements met.")
    assert result.output == "Passed: All requirements met."


async def test_a_malformed_reply_is_asked_again_then_the_good_one_counts():
    llm = FakeLLM("Looks fine to me!", FAILED)
    result = await validate(llm)
    assert result.status is TaskStatus.SUCCEEDED
    assert result.verdict is not None
    assert result.verdict.passed is False
    assert result.usage == USAGE + USAGE
    retry = llm.requests[1].messages
    assert retry[2].role == "assistant"
    assert retry[2].content == "Looks fine to me!"
    assert retry[3].role == "user"
    assert '{"passed": true|false, "feedback": "..."}' in retry[3].content


async def test_asking_again_uses_the_requested_model_not_the_reported_one():
    llm = FakeLLM("no JSON here", FAILED, model="checker-2025-01-01")
    result = await validate(llm)
    assert [request.model for request in llm.requests] == ["checker", "checker"]
    assert result.model == "checker-2025-01-01"


async def test_always_malformed_fails_the_task_after_three_replies():
    llm = FakeLLM('{"feedback": "no verdict"}')
    result = await validate(llm)
    assert len(llm.requests) == 3
    assert result.status is TaskStatus.FAILED
    assert result.verdict is None
    assert result.error is not None
    assert result.error.kind == "llm_malformed"
    assert "3 replies" in result.error.message
    assert result.usage.total == 3 * USAGE.total


def test_a_fenced_verdict_is_read():
    outcome = parse_verdict('```json\n{"passed": true, "feedback": ""}\n```')
    assert outcome.verdict == Verdict(passed=True, feedback="")
    assert outcome.output == "Passed"


def test_extra_keys_and_null_feedback_are_tolerated():
    outcome = parse_verdict('{"passed": false, "feedback": null, "score": 2}')
    assert outcome.verdict == Verdict(passed=False, feedback="")


@pytest.mark.parametrize(
    "reply",
    ["", "not json", "[true]", '{"passed": "yes"}', '{"passed": 1}', '{"feedback": "x"}'],
)
def test_replies_without_a_boolean_verdict_are_malformed(reply):
    with pytest.raises(LLMMalformed, match="not JSON of the shape"):
        parse_verdict(reply)
