"""The one retry policy: when a failed attempt is tried again, after how long, and when not.

Shaped like Temporal's `RetryPolicy`: the error carries what only the failure knows (is it
`retriable`, its `kind`, a `next_retry_delay` such as a Retry-After; see `errors.py`), and
the policy holds the limits (first interval, backoff coefficient, longest interval, most
attempts, kinds never retried). `next_delay` is the whole decision.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from podium_common.errors import ConfigError, is_retriable, kind_of, next_retry_delay


@dataclass(frozen=True)
class RetryPolicy:
    initial_interval_s: float = 0.2
    backoff_coefficient: float = 2.0
    maximum_interval_s: float = 10.0
    # Attempts in all, the first one included; 0 sets no limit.
    maximum_attempts: int = 5
    non_retryable_kinds: frozenset[str] = frozenset()
    # Kinds retried with no attempt limit, until they succeed or the caller stops: a
    # dependency that is down (PostgreSQL, Kafka) fails every record alike and no record
    # is at fault; giving up on them would only move the outage into the dead letters.
    unlimited_kinds: frozenset[str] = frozenset({"unavailable"})

    def __post_init__(self) -> None:
        rules = {
            "initial_interval_s > 0": self.initial_interval_s > 0,
            "backoff_coefficient >= 1": self.backoff_coefficient >= 1,
            "maximum_interval_s >= initial_interval_s": (
                self.maximum_interval_s >= self.initial_interval_s
            ),
            "maximum_attempts >= 0 (0: no limit)": self.maximum_attempts >= 0,
        }
        broken = [rule for rule, holds in rules.items() if not holds]
        if broken:
            raise ConfigError(f"invalid retry policy, needs {'; '.join(broken)}", policy=self)

    def next_delay(self, error: BaseException, attempt: int) -> float | None:
        """Seconds to wait before trying again after `error` ended attempt number `attempt`
        (1 for the first), or None: not retriable, or its attempts are used up."""
        kind = kind_of(error)
        if not is_retriable(error) or kind in self.non_retryable_kinds:
            return None
        limited = self.maximum_attempts > 0 and kind not in self.unlimited_kinds
        if limited and attempt >= self.maximum_attempts:
            return None
        return self.interval(attempt, error)

    def interval(self, attempt: int, error: BaseException | None = None) -> float:
        """The wait after attempt number `attempt`, whatever the limits: full jitter under
        `initial * coefficient**(attempt-1)` (capped), which spreads many clients' retries
        apart. A delay the error asks for (a Retry-After) is a floor, never shortened."""
        ceiling = min(
            self.maximum_interval_s,
            self.initial_interval_s * self.backoff_coefficient ** max(0, attempt - 1),
        )
        jittered = random.uniform(0, ceiling)  # noqa: S311 - jitter, not cryptography
        asked = next_retry_delay(error) if error is not None else None
        return jittered if asked is None else max(asked, jittered)
