"""Exponential backoff with full jitter, honouring a server's Retry-After."""

from __future__ import annotations

import random


def delay(attempt: int, *, base: float, cap: float, retry_after: float | None = None) -> float:
    """Seconds to wait before retry number `attempt` (1 for the first retry).

    Full jitter (uniform in [0, min(cap, base * 2**(attempt-1))]) spreads retries of many
    clients apart; a Retry-After from the server is a floor, never shortened.
    """
    ceiling = min(cap, base * 2 ** max(0, attempt - 1))
    jittered = random.uniform(0, ceiling)  # noqa: S311 - jitter, not cryptography
    if retry_after is not None:
        return max(retry_after, jittered)
    return jittered
