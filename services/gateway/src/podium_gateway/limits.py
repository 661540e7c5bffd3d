"""The request limit per API key: a moving window per key in this gateway process, answered
429 with `Retry-After` once spent. Each replica keeps its own windows, so N replicas let a
key make up to N times the limit; the limit is set per replica."""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from podium_gateway.models import ApiError


class KeyLimit:
    def __init__(self, per_minute: int | None) -> None:
        self.item = RateLimitItemPerMinute(per_minute) if per_minute else None
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    async def spend(self, key_id: str) -> None:
        """Counts one request of `key_id`; 429 when its window is full."""
        if self.item is None or await self.limiter.hit(self.item, key_id):
            return
        stats = await self.limiter.get_window_stats(self.item, key_id)
        wait_s = max(1, math.ceil(stats.reset_time - time.time()))
        message = f"key {key_id} made {self.item.amount} requests in the last minute"
        raise ApiError(429, "rate_limited", message, headers={"Retry-After": str(wait_s)})
