"""A plain-text reply that stopped at its `max_tokens`, asked to go on where it stopped.

An endpoint ends a reply at the request's `max_tokens` wherever it is, mid-sentence or
mid-list (`finish_reason` "length"). Taken as it is, a task's output, and the goal's answer
with it, would end there. Instead the model is shown its reply so far and asked to continue
it, at most `most` times (`PODIUM_LLM__CONTINUATIONS`); the pieces are joined into one reply
whose usage is the sum of every call's. A reply still cut after that is kept as it is, and
says so in the log. `LimitedLLM` does this for every plain-text request of a role.

Only plain text is continued: a JSON reply cut short does not parse, and is asked again,
shorter, by its caller's repair.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable

from podium_common.llm import Completion, Message, Request

log = logging.getLogger(__name__)

CONTINUE = (
    "Your answer was cut off at the length limit. Continue it from exactly where it "
    "stopped: do not repeat anything, do not start over, and bring it to an end."
)
# A piece that begins with one of these joins the one before it without a space.
CLOSES = ".,;:!?)]}'\"`"


Ask = Callable[[Request], Awaitable[Completion]]


async def whole(ask: Ask, request: Request, reply: Completion, most: int) -> Completion:
    """`reply` (the answer to `request`), continued while it is cut, `most` times at most,
    each time with `ask`."""
    text = reply.text
    for _ in range(most):
        if not reply.cut:
            return reply
        asked = (*request.messages, Message("assistant", text), Message("user", CONTINUE))
        more = await ask(dataclasses.replace(request, messages=asked))
        text = joined(text, more.text)
        reply = dataclasses.replace(
            more,
            text=text,
            usage=reply.usage + more.usage,
            latency_ms=reply.latency_ms + more.latency_ms,
            attempts=reply.attempts + more.attempts,
        )
    if reply.cut:
        log.warning("a reply is still cut at its max_tokens after %d continuations", most)
    return reply


def joined(head: str, tail: str) -> str:
    """Two pieces of one reply: a space between them unless either side brings its own
    whitespace or the second goes on with punctuation."""
    if not head or not tail or head[-1].isspace() or tail[0].isspace() or tail[0] in CLOSES:
        return head + tail
    return f"{head} {tail}"
