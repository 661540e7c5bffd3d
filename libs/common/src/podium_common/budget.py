"""Token budgets, held across every replica: `TokenBudget` admits each attempt of an LLM
call only when the goal it serves has room for it, in the shared ledger
(`podium_common.ledger`). `OpenAILLM` asks it before every attempt it sends, retries too.

Before an attempt it reserves what the attempt can cost at most (the prompt estimated from
its characters, on the safe side, plus the reply's `max_tokens`), atomically against the
goal's budget and everything spent and reserved by every process; after it, it settles: the
reservation goes, and the attempt is spent: the tokens the endpoint reports for a reply; the
whole reservation for an attempt that may have been served but whose reply never came (a
read timeout, a connection lost after the request was sent, the call cancelled once its
request was handed to the HTTP client: the endpoint may have billed it); nothing for one
the endpoint refused with a status (429, 5xx) or never received, or cancelled before it was
sent. So the spend never passes the budget by more than one attempt's underestimate, and
work done twice (a redelivered task, a retry) is spent twice. A reply from the LLM cache is
not an attempt: it spends nothing and is served whatever is left. An attempt that cannot fit
raises `BudgetExhausted` without being sent; the worker's result, or the planner's
rejection, says so, and the aggregator fails the goal with reason `budget`.

Which goal a call serves is bound by the handler (`spending`) in a context variable, as
each record's asyncio task has its own: a call outside any goal is not budgeted.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from podium_common.errors import BudgetExhausted
from podium_common.ledger import Ledger, LedgerSettings
from podium_common.llm import Request

# Characters per token and tokens a chat template adds per message: as in `llm_limits`.
CHARS_PER_TOKEN = 3
TEMPLATE_TOKENS = 8
# The reply's bound when a request sets none (every service's `LimitedLLM` sets one).
DEFAULT_MAX_TOKENS = 1024

RESERVE = """
INSERT INTO token_ledger AS l (goal_id, run, budget, reserved) VALUES ($1, $2, $3, $4)
ON CONFLICT (goal_id, run) DO UPDATE
    SET reserved = l.reserved + $4, budget = COALESCE(l.budget, $3), updated_at = now()
    WHERE COALESCE(l.budget, $3) IS NULL OR l.spent + l.reserved + $4 <= COALESCE(l.budget, $3)
RETURNING budget"""
REFUSED = """UPDATE token_ledger SET refused = refused + 1 WHERE goal_id = $1 AND run = $2
RETURNING budget, spent, reserved, calls"""
SETTLE = """UPDATE token_ledger
SET reserved = GREATEST(0, reserved - $3), spent = spent + $4, calls = calls + $5,
    updated_at = now()
WHERE goal_id = $1 AND run = $2"""
SPEND = """SELECT budget, spent, reserved, calls, refused FROM token_ledger
WHERE goal_id = $1 AND run = $2"""


@dataclass(frozen=True)
class Spender:
    """The goal a call serves; `tenant` and `budget` when the submission is at hand (the
    planner), so its budget is set before the first call."""

    goal_id: uuid.UUID
    run: int
    tenant: str | None = None
    budget: int | None = None


_current: ContextVar[Spender | None] = ContextVar("podium_spender", default=None)


@contextmanager
def spending(
    goal_id: uuid.UUID, run: int, *, tenant: str | None = None, budget: int | None = None
) -> Iterator[None]:
    """The LLM calls made in the block are spent from this goal's budget."""
    token = _current.set(Spender(goal_id, run, tenant, budget))
    try:
        yield
    finally:
        _current.reset(token)


def most_tokens(request: Request) -> int:
    """The most a request can cost: its prompt, estimated high, and its longest reply."""
    chars = sum(len(message.content) for message in request.messages)
    template = TEMPLATE_TOKENS * (len(request.messages) + 1)
    return chars // CHARS_PER_TOKEN + template + (request.max_tokens or DEFAULT_MAX_TOKENS)


class TokenBudget:
    """The `BudgetGate` of `OpenAILLM`: each attempt spent from its goal's budget."""

    def __init__(self, ledger: Ledger, settings: LedgerSettings) -> None:
        self._ledger = ledger
        self._settings = settings

    async def admit(self, request: Request) -> int:
        """Reserves the most the attempt can cost (0: a call outside any goal)."""
        spender = _current.get()
        if spender is None:
            return 0
        budget = None
        if spender.tenant is not None:
            budget = self._settings.budget_of(spender.tenant, spender.budget)
        need = most_tokens(request)
        await self._reserve(spender, budget, need)
        return need

    async def settle(self, held: int, spent: int, calls: int) -> None:
        """The reservation goes; `spent` tokens by `calls` calls (0 or 1) are spent."""
        spender = _current.get()
        if spender is not None and held:
            await self._ledger.execute(SETTLE, spender.goal_id, spender.run, held, spent, calls)

    async def _reserve(self, spender: Spender, budget: int | None, need: int) -> None:
        goal, run = spender.goal_id, spender.run
        if budget is None or need <= budget:
            if await self._ledger.fetchrow(RESERVE, goal, run, budget, need) is not None:
                return
        else:  # not even the first call fits: the goal's row says so all the same
            await self._ledger.execute(
                "INSERT INTO token_ledger (goal_id, run, budget) VALUES ($1, $2, $3) "
                "ON CONFLICT DO NOTHING",
                goal,
                run,
                budget,
            )
        row = await self._ledger.fetchrow(REFUSED, goal, run)
        held = row if row is not None else {"budget": budget, "spent": 0, "reserved": 0, "calls": 0}
        raise BudgetExhausted(
            f"the token budget of {held['budget']} has no room for a call of up to {need} "
            f"tokens: {held['spent']} tokens spent by {held['calls']} calls, "
            f"{held['reserved']} reserved by calls in flight",
            goal_id=goal,
            run=run,
            spent=held["spent"],
        )

    async def close(self) -> None:
        await self._ledger.close()
