"""Workers, validator, unknown roles and the wire shape of answers and refusals."""

from __future__ import annotations

import json

import pytest

from podium_scripted_llm import script
from podium_scripted_llm.protocol import ChatRequest
from tests.unit.scripted_llm import chat


@pytest.mark.parametrize("role", script.ROLES)
def test_role_comes_from_the_system_line(role):
    assert script.role_of(ChatRequest.model_validate(chat.body(role, "hi"))) == role


@pytest.mark.parametrize("role", [None, "astronomer"])
def test_other_requests_have_no_podium_role(role):
    assert script.role_of(ChatRequest.model_validate(chat.body(role, "hi"))) == script.OTHER


async def test_answer_names_the_scripted_model_and_counts_tokens(client):
    response = await client.post("/v1/chat/completions", json=chat.body(None, "one two three"))
    answer = response.json()
    assert answer["model"] == "scripted:test-model"
    assert answer["object"] == "chat.completion"
    assert answer["choices"][0]["message"]["role"] == "assistant"
    completion_tokens = len(answer["choices"][0]["message"]["content"].split())
    assert answer["usage"] == {
        "prompt_tokens": 3,
        "completion_tokens": completion_tokens,
        "total_tokens": 3 + completion_tokens,
    }


async def test_researcher_names_its_task_and_counts_inputs(client):
    text = await chat.content(client, chat.worker("researcher", "Find tea facts", {}))
    assert text.splitlines()[0] == "Researcher result for task: Find tea facts"
    assert "0 input(s)" in text


async def test_specialist_lists_its_inputs(client):
    inputs = {"g.1.t1": "tea is old\nmore", "g.1.t2": "coffee is strong"}
    text = await chat.content(client, chat.worker("specialist", "Weigh them", inputs))
    assert "Specialist result for task: Weigh them" in text
    assert "2 input(s): g.1.t1, g.1.t2" in text


async def test_worker_answers_feedback(client):
    request = chat.worker("specialist", "Weigh them", {}, feedback="Cite a source")
    text = await chat.content(client, request)
    assert "Revised after Feedback: Cite a source" in text


async def test_synthesizer_combines_first_lines_into_an_answer(client):
    inputs = {"g.1.t1": "tea is old\ndetail", "g.1.t2": "coffee is strong\ndetail"}
    text = await chat.content(client, chat.worker("synthesizer", "Final answer", inputs))
    assert text.startswith("Answer: tea is old | coffee is strong")
    assert "2 input(s)" in text
    assert "detail" not in text


def test_input_content_on_the_header_line_counts_as_its_first_line():
    found = script.inputs_of("Input a.1.t1 (specialist): inline words\nnext\nInput a.1.t2 (x):")
    assert [(i.task_id, i.kind, i.first_line) for i in found] == [
        ("a.1.t1", "specialist", "inline words"),
        ("a.1.t2", "x", ""),
    ]


async def test_validator_passes_by_default(client):
    text = await chat.content(client, chat.worker("validator", "Check t3", {"t3": "fine"}))
    assert json.loads(text) == {"passed": True, "feedback": ""}


async def test_validator_rejects_once_then_passes_with_feedback(client):
    inputs = {"t3": "an answer [reject-once]"}
    first = json.loads(await chat.content(client, chat.worker("validator", "Check t3", inputs)))
    assert first["passed"] is False
    assert first["feedback"]
    retry = chat.worker("validator", "Check t3", inputs, feedback=first["feedback"])
    assert json.loads(await chat.content(client, retry))["passed"] is True


async def test_validator_passes_an_input_revised_after_feedback(client):
    revised = await chat.content(
        client, chat.worker("specialist", "Goal [reject-once]", {}, feedback="fix it")
    )
    request = chat.worker("validator", "Check t3 [reject-once]", {"t3": revised})
    assert json.loads(await chat.content(client, request))["passed"] is True


async def test_always_fail_is_refused_with_an_openai_error(client):
    response = await client.post(
        "/v1/chat/completions", json=chat.worker("researcher", "x [always-fail]", {})
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert "[always-fail]" in error["message"]


async def test_unknown_role_gets_generic_text_or_json(client):
    text = await chat.content(client, chat.body("poet", "Write a haiku"))
    assert text.startswith("Scripted reply to 2 message(s)")
    as_json = await chat.content(client, chat.body(None, "Write", json_mode=True))
    assert "Write" in json.loads(as_json)["reply"]


@pytest.mark.parametrize(
    "payload",
    [b"{not json", b'{"model": "m", "messages": []}', b'{"messages": [{"role": "user"}]}'],
)
async def test_bad_requests_get_400(client, payload):
    response = await client.post("/v1/chat/completions", content=payload)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


async def test_streaming_is_refused(client):
    response = await client.post(
        "/v1/chat/completions", json=chat.body(None, "x") | {"stream": True}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "no_streaming"


async def test_models_and_health(client):
    listed = (await client.get("/v1/models")).json()
    assert [m["id"] for m in listed["data"]] == ["scripted"]
    assert (await client.get("/v1/models/gpt-x")).json()["id"] == "gpt-x"
    assert (await client.get("/healthz")).json() == {"status": "ok", "scripted": True}
