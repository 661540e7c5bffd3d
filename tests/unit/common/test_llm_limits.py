"""Each role's requests fitted to a small model: its reply's max_tokens from the settings,
and a prompt shortened, longest sections first, to leave room for the reply."""

from __future__ import annotations

import dataclasses

import pytest
from pydantic import ValidationError

from podium_common import continued
from podium_common.events import TokenUsage
from podium_common.llm import Completion, Message, Request
from podium_common.llm_limits import CHARS_PER_TOKEN, LENGTH, LimitedLLM, fit, prompt_budget
from podium_common.settings import LLMSettings, RoleTokens


class Recorder:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.closed = False

    async def complete(self, request: Request) -> Completion:
        self.requests.append(request)
        return Completion("ok", request.model, TokenUsage(), 1)

    async def close(self) -> None:
        self.closed = True


SYSTEM = Message("system", "You are a worker. " * 20)
HEAD = "Goal: compare A and B\n\nTask: write the comparison"


def long_prompt() -> tuple[Message, ...]:
    inputs = [f"Input t{i} (researcher):\n" + f"fact {i} " * (300 * i) for i in (1, 2, 3)]
    return (SYSTEM, Message("user", "\n\n".join([HEAD, *inputs, "Feedback:\nbe brief"])))


def test_a_prompt_that_fits_is_sent_as_it_is() -> None:
    messages = long_prompt()
    assert fit(messages, 10**6) is messages


def test_the_longest_sections_are_cut_first_and_the_rest_kept_whole() -> None:
    messages = long_prompt()
    budget = 9000
    fitted = fit(messages, budget)
    assert sum(len(m.content) for m in fitted) <= budget
    assert fitted[0] == SYSTEM
    sections = fitted[1].content.split("\n\n")
    assert sections[:2] == HEAD.split("\n\n")
    assert sections[-1] == "Feedback:\nbe brief"
    first, second, third = sections[2:5]
    assert first.startswith("Input t1")
    assert "cut" not in first
    for cut in (second, third):
        assert cut.startswith("Input t")
        assert cut.endswith("characters cut to fit the model's context ...]")


async def test_each_role_gets_its_max_tokens_unless_the_request_names_one() -> None:
    inner = Recorder()
    settings = LLMSettings(max_tokens=RoleTokens(validator=200))
    llm = LimitedLLM(inner, settings, role="validator")
    await llm.complete(Request(model="m", messages=(SYSTEM,)))
    await llm.complete(Request(model="m", messages=(SYSTEM,), max_tokens=50))
    assert [r.max_tokens for r in inner.requests] == [200, 50]
    # No context window set: sent whole, the reply's length said.
    assert inner.requests[0].messages == (
        Message("system", SYSTEM.content + LENGTH.format(words=150)),
    )
    await llm.close()
    assert inner.closed


async def test_with_a_context_window_the_prompt_leaves_room_for_the_reply() -> None:
    inner = Recorder()
    settings = LLMSettings(context_tokens=2048, max_tokens=RoleTokens(synthesizer=1024))
    await LimitedLLM(inner, settings, role="synthesizer").complete(
        Request(model="m", messages=long_prompt())
    )
    sent = inner.requests[0]
    budget = prompt_budget(2048, 1024, len(sent.messages))
    assert budget < (2048 - 1024) * CHARS_PER_TOKEN
    assert sum(len(m.content) for m in sent.messages) <= budget
    assert sent.max_tokens == 1024


class Pieces(Recorder):
    """Answers with its pieces in order, each but the last stopped at its max_tokens."""

    def __init__(self, *pieces: str) -> None:
        super().__init__()
        self.pieces = list(pieces)

    async def complete(self, request: Request) -> Completion:
        self.requests.append(request)
        text = self.pieces.pop(0)
        return Completion(text, "m", TokenUsage(completion_tokens=2), 1, cut=bool(self.pieces))


def text_request() -> Request:
    return Request(model="m", messages=(Message("system", "You answer."), Message("user", "Q")))


async def test_a_text_request_is_told_its_length_and_a_cut_reply_goes_on_where_it_stopped() -> None:
    inner = Pieces("Water boils at", "100 °C at sea", " level.")
    llm = LimitedLLM(inner, LLMSettings(max_tokens=RoleTokens(researcher=200)), "researcher")

    reply = await llm.complete(text_request())

    assert (reply.text, reply.cut) == ("Water boils at 100 °C at sea level.", False)
    assert reply.usage.completion_tokens == 6
    first, second, third = inner.requests
    assert first.messages[0].content == "You answer." + LENGTH.format(words=150)
    assert first.messages[1:] == (Message("user", "Q"),)
    assert second.messages[2:] == (
        Message("assistant", "Water boils at"),
        Message("user", continued.CONTINUE),
    )
    assert third.messages[2].content == "Water boils at 100 °C at sea"
    assert {request.max_tokens for request in inner.requests} == {200}


async def test_continuations_are_bounded_by_the_setting_and_a_reply_still_cut_is_kept() -> None:
    inner = Pieces("one", "two", "three")
    llm = LimitedLLM(inner, LLMSettings(continuations=1), "researcher")

    reply = await llm.complete(text_request())

    assert (reply.text, reply.cut) == ("one two", True)
    assert len(inner.requests) == 2


async def test_a_json_request_is_neither_told_a_length_nor_continued() -> None:
    inner = Pieces('{"a": "b', "}")
    llm = LimitedLLM(inner, LLMSettings(), "validator")

    reply = await llm.complete(dataclasses.replace(text_request(), json_output=True))

    assert (reply.text, reply.cut) == ('{"a": "b', True)
    assert inner.requests[0].messages[0].content == "You answer."


@pytest.mark.parametrize("given", [-1, 11])
def test_continuations_out_of_range_are_refused_naming_the_setting(given: int) -> None:
    with pytest.raises(ValidationError, match="continuations"):
        LLMSettings(continuations=given)
