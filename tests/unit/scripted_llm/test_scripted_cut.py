"""Replies stopped at the request's `max_tokens`, and the rest of one asked for."""

from __future__ import annotations

from podium_common import continued
from podium_scripted_llm import protocol
from tests.unit.scripted_llm import chat


async def answer(client, body):
    response = await client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_reply_over_max_tokens_stops_there_with_finish_reason_length(client):
    body = chat.worker("researcher", "Find tea facts", {})
    whole = await answer(client, body)
    cut = await answer(client, {**body, "max_tokens": 3})

    text = cut["choices"][0]["message"]["content"]
    assert whole["choices"][0]["finish_reason"] == "stop"
    assert cut["choices"][0]["finish_reason"] == "length"
    assert text == "Researcher result for"
    assert cut["usage"]["completion_tokens"] == 3
    assert whole["choices"][0]["message"]["content"].startswith(text)


async def test_a_reply_within_max_tokens_is_whole(client):
    body = chat.worker("researcher", "Find tea facts", {})
    whole = await answer(client, body)
    tokens = whole["usage"]["completion_tokens"]
    same = await answer(client, {**body, "max_tokens": tokens})
    assert same["choices"][0] == whole["choices"][0]


async def test_asked_to_go_on_it_answers_the_rest_of_the_reply(client):
    body = chat.worker("researcher", "Find tea facts", {})
    whole = (await answer(client, body))["choices"][0]["message"]["content"]
    so_far = "Researcher result for"
    going_on = {
        **body,
        "messages": [
            *body["messages"],
            {"role": "assistant", "content": so_far},
            {"role": "user", "content": continued.CONTINUE},
        ],
    }
    rest = (await answer(client, going_on))["choices"][0]["message"]["content"]
    assert so_far + rest == whole
    assert continued.joined(so_far, rest) == whole


def test_podiums_ask_to_go_on_is_what_the_scripted_llm_looks_for() -> None:
    assert continued.CONTINUE.startswith(protocol.CONTINUE)


def test_pieces_join_with_a_space_only_where_neither_brings_one() -> None:
    assert continued.joined("at sea", "level") == "at sea level"
    assert continued.joined("at sea", " level") == "at sea level"
    assert continued.joined("at sea\n", "- level") == "at sea\n- level"
    assert continued.joined("at sea", ", then") == "at sea, then"
    assert continued.joined("", "level") == "level"
