"""The LLM response cache: its key, and the wrapper in front of the LLM (no PostgreSQL)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from podium_common.errors import LLMRejected, Unavailable
from podium_common.events import TokenUsage
from podium_common.llm import Completion, Message, OpenAILLM, Request
from podium_common.llm_cache import (
    CachedCompletion,
    CachingLLM,
    LLMCacheSettings,
    build_llm,
    cache_key,
)
from podium_common.settings import LLMSettings

USAGE = TokenUsage(prompt_tokens=120, completion_tokens=30)


def request(**changes: Any) -> Request:
    base = Request(
        model="gpt-4o-mini",
        messages=(Message("system", "You are Podium's planner."), Message("user", "Goal: x")),
        json_output=True,
        temperature=0.2,
        max_tokens=500,
        extra={"seed": "7"},
    )
    return dataclasses.replace(base, **changes)


# One change per field of Request; a field added to Request must be added here.
CHANGES: dict[str, list[Any]] = {
    "model": ["gpt-4o"],
    "messages": [
        (Message("system", "You are Podium's planner."), Message("user", "Goal: y")),
        (Message("system", "You are Podium's planner."), Message("assistant", "Goal: x")),
        (Message("user", "Goal: x"), Message("system", "You are Podium's planner.")),
        (Message("system", "You are Podium's planner."),),
    ],
    "json_output": [False],
    "temperature": [0.0, 0.21],
    "max_tokens": [None, 501],
    "extra": [{}, {"seed": "8"}, {"seed": "7", "top_p": "1"}],
    "schema": [{"type": "object"}, {"type": "object", "required": ["tasks"]}],
    "schema_name": ["plan"],
}


def test_the_same_request_built_twice_has_the_same_key() -> None:
    assert cache_key(request()) == cache_key(request())
    assert cache_key(request(extra={"b": "2", "a": "1"})) == cache_key(
        request(extra={"a": "1", "b": "2"})
    )


def test_every_field_of_a_request_is_varied_by_the_next_test() -> None:
    assert set(CHANGES) == {field.name for field in dataclasses.fields(Request)}


@pytest.mark.parametrize(
    ("field", "value"), [(field, value) for field, values in CHANGES.items() for value in values]
)
def test_any_change_of_model_messages_or_parameters_gives_another_key(
    field: str, value: Any
) -> None:
    assert cache_key(request(**{field: value})) != cache_key(request())


class CountingLLM:
    def __init__(self, reply: str | Exception = "the reply") -> None:
        self.reply = reply
        self.calls = 0
        self.closed = False

    async def complete(self, request: Request) -> Completion:
        self.calls += 1
        if isinstance(self.reply, Exception):
            raise self.reply
        return Completion(self.reply, "scripted:" + request.model, USAGE, latency_ms=40)

    async def close(self) -> None:
        self.closed = True


class MemoryStore:
    def __init__(self, down: bool = False) -> None:
        self.rows: dict[str, Completion] = {}
        self.down = down
        self.closed = False

    async def get(self, key: str) -> Completion | None:
        if self.down:
            raise Unavailable("PostgreSQL unavailable")
        return self.rows.get(key)

    async def put(self, key: str, request: Request, completion: Completion) -> None:
        if self.down:
            raise Unavailable("PostgreSQL unavailable")
        self.rows[key] = completion

    async def close(self) -> None:
        self.closed = True


async def test_a_repeated_request_is_answered_from_the_cache_with_its_usage() -> None:
    llm, store = CountingLLM(), MemoryStore()
    cached = CachingLLM(llm, store)

    first = await cached.complete(request())
    second = await cached.complete(request())

    assert llm.calls == 1
    assert not isinstance(first, CachedCompletion)
    assert isinstance(second, CachedCompletion)
    assert second.cache_hit
    assert second.attempts == 0
    assert (second.text, second.model, second.usage) == ("the reply", "scripted:gpt-4o-mini", USAGE)
    assert (cached.hits, cached.misses) == (1, 1)


async def test_a_reply_cut_at_its_max_tokens_comes_back_from_the_cache_cut() -> None:
    store = MemoryStore()
    store.rows[cache_key(request())] = Completion("Water boils", "m", USAGE, 40, cut=True)

    answered = await CachingLLM(CountingLLM(), store).complete(request())

    assert isinstance(answered, CachedCompletion)
    assert (answered.text, answered.cut) == ("Water boils", True)


async def test_a_request_that_differs_goes_to_the_llm() -> None:
    llm = CountingLLM()
    cached = CachingLLM(llm, MemoryStore())
    await cached.complete(request())
    await cached.complete(request(temperature=0.3))
    assert llm.calls == 2


async def test_an_error_is_not_cached() -> None:
    llm, store = CountingLLM(LLMRejected("refused")), MemoryStore()
    cached = CachingLLM(llm, store)
    for _ in range(2):
        with pytest.raises(LLMRejected):
            await cached.complete(request())
    assert llm.calls == 2
    assert store.rows == {}


async def test_without_its_database_the_cache_lets_every_call_through() -> None:
    llm = CountingLLM()
    cached = CachingLLM(llm, MemoryStore(down=True))
    replies = [await cached.complete(request()) for _ in range(2)]
    assert llm.calls == 2
    assert [reply.text for reply in replies] == ["the reply", "the reply"]


async def test_closing_closes_the_llm_and_the_store() -> None:
    llm, store = CountingLLM(), MemoryStore()
    await CachingLLM(llm, store).close()
    assert llm.closed
    assert store.closed


async def test_the_cache_is_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PODIUM_LLM_CACHE__ENABLED", raising=False)
    client = build_llm(LLMSettings())
    try:
        assert isinstance(client, OpenAILLM)
    finally:
        await client.close()


async def test_the_environment_turns_it_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODIUM_LLM_CACHE__ENABLED", "true")
    monkeypatch.setenv("PODIUM_LLM_CACHE__DSN", "postgresql://podium@127.0.0.1:1/cache")
    client = build_llm(LLMSettings())  # connects on its first call, not here
    try:
        assert isinstance(client, CachingLLM)
    finally:
        await client.close()


def test_on_without_a_dsn_is_refused_naming_the_setting() -> None:
    with pytest.raises(ValidationError, match="PODIUM_LLM_CACHE__DSN"):
        LLMCacheSettings(enabled=True)
    assert LLMCacheSettings(enabled=True, dsn=SecretStr("postgresql:///x")).enabled
