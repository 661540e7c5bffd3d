"""A role's requests fitted to its model: the reply's `max_tokens` from the settings
(`PODIUM_LLM__MAX_TOKENS__<ROLE>`), and a prompt short enough to leave room for that reply
in the model's context window (`PODIUM_LLM__CONTEXT_TOKENS`).

A plain-text request's system prompt says how long the reply may be (in words, about three
quarters of its tokens), so that a model ends its answer in time; one stopped at its cap all
the same is asked to go on (`podium_common.continued`, `PODIUM_LLM__CONTINUATIONS` times at
most). A JSON reply is not continued: its caller asks again, shorter.

A prompt too long for the window is shortened where it is longest: every message but the
system prompt is split into its sections (the paragraphs between blank lines: a worker's
inputs, a planner's earlier replies), and the sections over a common cap are cut to it,
with a note saying how much was cut. Short sections (the goal, the task, the feedback)
stay whole. Token counts are estimated from characters, on the safe side.
"""

from __future__ import annotations

import dataclasses
import logging

from podium_common.continued import whole
from podium_common.llm import Completion, Message, Request
from podium_common.llm_cache import ClosableLLM
from podium_common.settings import LLMSettings

log = logging.getLogger(__name__)

# Characters per token, low on purpose: English prose runs near 4, JSON and code nearer 3.
CHARS_PER_TOKEN = 3
# Tokens a chat template adds around each message.
TEMPLATE_TOKENS = 8
SECTION = "\n\n"
CUT = " [... {} characters cut to fit the model's context ...]"
# No section is cut below this many characters, even when the prompt then stays too long.
MIN_CAP = 80
# Words a reply of so many tokens holds, about: English prose runs near 0.75 words a token.
WORDS_PER_TOKEN = 0.75
LENGTH = (
    "\n\nLength: at most about {words} words; a reply is cut off after that, so end it within them."
)


def prompt_budget(context_tokens: int, max_tokens: int, messages: int) -> int:
    """How many characters of message text fit beside a reply of `max_tokens`."""
    tokens = context_tokens - max_tokens - TEMPLATE_TOKENS * (messages + 1)
    return max(0, tokens) * CHARS_PER_TOKEN


def fit(messages: tuple[Message, ...], budget: int) -> tuple[Message, ...]:
    """`messages` whose text is at most `budget` characters (as near as the minimum cap
    allows), the longest sections of the non-system messages cut first."""
    if sum(len(message.content) for message in messages) <= budget:
        return messages
    fixed = sum(len(m.content) for m in messages if m.role == "system")
    parts = [m.content.split(SECTION) for m in messages if m.role != "system"]
    sections = [len(section) for part in parts for section in part]
    joints = sum(len(SECTION) * (len(part) - 1) for part in parts)
    cap = _cap(sections, budget - fixed - joints)
    shortened = iter(SECTION.join(_cut(section, cap) for section in part) for part in parts)
    return tuple(
        message
        if message.role == "system"
        else dataclasses.replace(message, content=next(shortened))
        for message in messages
    )


def _cap(lengths: list[int], room: int) -> int:
    """The largest cap such that the sections, each cut to it (a cut one ends with the note),
    add up to at most `room` characters."""
    note = len(CUT.format(10**6))
    ordered = sorted(lengths)
    kept = 0  # the sections below the cap, kept whole
    for index, length in enumerate(ordered):
        over = len(ordered) - index  # sections from here on are cut
        cap = (room - kept) // over - note
        if cap < length:
            return max(MIN_CAP, cap)
        kept += length
    return max(ordered, default=MIN_CAP)


def _cut(section: str, cap: int) -> str:
    if len(section) <= cap:
        return section
    return section[:cap] + CUT.format(len(section) - cap)


class LimitedLLM:
    """An `LLM` that gives each request of `role` its reply's `max_tokens`, unless the
    request sets one, and a prompt that fits the context window beside it."""

    def __init__(self, llm: ClosableLLM, settings: LLMSettings, role: str) -> None:
        self._llm = llm
        self._max_tokens = settings.max_tokens.of(role)
        self._context = settings.context_tokens
        self._continuations = settings.continuations
        self.role = role

    async def complete(self, request: Request) -> Completion:
        if request.json_output or request.schema is not None:
            return await self._fitted(request)
        request = with_length(request, request.max_tokens or self._max_tokens)
        reply = await self._fitted(request)
        return await whole(self._fitted, request, reply, self._continuations)

    async def _fitted(self, request: Request) -> Completion:
        max_tokens = request.max_tokens or self._max_tokens
        messages = request.messages
        if self._context is not None:
            budget = prompt_budget(self._context, max_tokens, len(messages))
            messages = fit(messages, budget)
            if messages is not request.messages:
                log.info("%s prompt shortened to fit %d tokens", self.role, self._context)
        return await self._llm.complete(
            dataclasses.replace(request, messages=messages, max_tokens=max_tokens)
        )

    async def close(self) -> None:
        await self._llm.close()


def with_length(request: Request, max_tokens: int) -> Request:
    """The request with its reply's length said at the end of its system prompt, if any."""
    if not request.messages or request.messages[0].role != "system":
        return request
    first, *rest = request.messages
    length = LENGTH.format(words=int(max_tokens * WORDS_PER_TOKEN))
    said = dataclasses.replace(first, content=first.content + length)
    return dataclasses.replace(request, messages=(said, *rest))
