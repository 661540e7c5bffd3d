"""One rate per model for the whole cluster: every replica of every service asks the shared
ledger (`podium_common.ledger`, PostgreSQL) before each request to the LLM endpoint.

Each (endpoint, model) row holds the generic cell rate algorithm's theoretical arrival
times: `requests_at` moves on by 60 / requests_per_minute for each request admitted,
`tokens_at` by tokens * 60 / tokens_per_minute; a request is admitted when both are past,
in one `UPDATE` under the row's lock, so no two processes are admitted in the same slot.
Admitted requests are therefore spaced evenly: any window of a minute holds at most the
limit (tokens: at most the limit and the last request's tokens), with no burst at window
edges. A request not admitted waits until the later of the two times, read in the same
statement, and asks again. Its tokens are the most it can cost (`budget.most_tokens`); once
it has answered, what it did not use is given back.

A 429 with `Retry-After` seen by any replica sets `blocked_until`, and every replica waits
for it before its next request to that model. The database's clock decides, so the
replicas' clocks need not agree.
"""

from __future__ import annotations

import asyncio
import logging

from podium_common.budget import most_tokens
from podium_common.ledger import Ledger, RateLimit
from podium_common.llm import Request

log = logging.getLogger(__name__)

# The shortest wait before asking again, so that a crowd of waiters does not spin.
MIN_WAIT_S = 0.002

ADMIT = """
WITH admitted AS (
    UPDATE llm_rate SET
        requests_at = GREATEST(requests_at, clock_timestamp()) + make_interval(secs => $3),
        tokens_at = GREATEST(tokens_at, clock_timestamp()) + make_interval(secs => $4)
    WHERE endpoint = $1 AND model = $2 AND requests_at <= clock_timestamp()
        AND tokens_at <= clock_timestamp() AND blocked_until <= clock_timestamp()
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM admitted) AS admitted,
    (SELECT EXTRACT(EPOCH FROM GREATEST(requests_at, tokens_at, blocked_until)
        - clock_timestamp())::float8
     FROM llm_rate WHERE endpoint = $1 AND model = $2) AS wait_s"""
ROW = "INSERT INTO llm_rate (endpoint, model) VALUES ($1, $2) ON CONFLICT DO NOTHING"
GIVE_BACK = """UPDATE llm_rate SET tokens_at = tokens_at - make_interval(secs => $3)
WHERE endpoint = $1 AND model = $2"""
BLOCK = """UPDATE llm_rate
SET blocked_until = GREATEST(blocked_until, clock_timestamp() + make_interval(secs => $3))
WHERE endpoint = $1 AND model = $2"""


class ClusterRate:
    """The gate of one endpoint's models; `limits` by model (none: only Retry-After)."""

    def __init__(self, ledger: Ledger, endpoint: str, limits: dict[str, RateLimit]) -> None:
        self._ledger = ledger
        self._endpoint = endpoint
        self._limits = limits
        self._known: set[str] = set()

    def _spacing(self, model: str, tokens: int) -> tuple[float, float]:
        limit = self._limits.get(model, RateLimit())
        per_request = 60.0 / limit.requests_per_minute if limit.requests_per_minute else 0.0
        per_token = 60.0 / limit.tokens_per_minute if limit.tokens_per_minute else 0.0
        return per_request, tokens * per_token

    async def admit(self, request: Request) -> int:
        """Returns once `request` may be sent: the tokens it holds of its model's rate."""
        model, tokens = request.model, most_tokens(request)
        if model not in self._known:
            await self._ledger.execute(ROW, self._endpoint, model)
            self._known.add(model)
        requests_s, tokens_s = self._spacing(model, tokens)
        while True:
            row = await self._ledger.fetchrow(ADMIT, self._endpoint, model, requests_s, tokens_s)
            if row is None or row["admitted"]:
                return tokens
            await asyncio.sleep(max(MIN_WAIT_S, row["wait_s"] or 0.0))

    async def settle(self, request: Request, held: int, used: int) -> None:
        """Gives back the tokens an admitted request held and did not use."""
        _, unused_s = self._spacing(request.model, max(0, held - used))
        if unused_s > 0:
            await self._ledger.execute(GIVE_BACK, self._endpoint, request.model, unused_s)

    async def block(self, model: str, seconds: float) -> None:
        """Every replica waits `seconds` (a 429's Retry-After) before asking `model` again."""
        log.info("%s %s: every replica waits %.2fs (Retry-After)", self._endpoint, model, seconds)
        await self._ledger.execute(BLOCK, self._endpoint, model, seconds)
