"""Each role's requests fitted to a small model: its reply's max_tokens from the settings,
and a prompt shortened, longest sections first, to leave room for the reply."""

from __future__ import annotations

from podium_common.events import TokenUsage
from podium_common.llm import Completion, Message, Request
from podium_common.llm_limits import CHARS_PER_TOKEN, LimitedLLM, fit, prompt_budget
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
    assert inner.requests[0].messages == (SYSTEM,)  # no context window set: sent whole
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
