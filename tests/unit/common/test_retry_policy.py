"""The one retry policy: what is tried again, how long it waits, and when it gives up."""

from __future__ import annotations

import pytest
from aiokafka.errors import RequestTimedOutError

from podium_common.backoff import RetryPolicy
from podium_common.errors import (
    ConfigError,
    LLMMalformed,
    LLMRejected,
    LLMUnavailable,
    Unavailable,
    UndecodableRecord,
)

POLICY = RetryPolicy(initial_interval_s=0.5, maximum_interval_s=4.0, maximum_attempts=4)


def test_an_ask_again_error_is_retried_only_within_the_attempts() -> None:
    error = LLMMalformed("not JSON")
    assert all(POLICY.next_delay(error, attempt) is not None for attempt in (1, 2, 3))
    assert POLICY.next_delay(error, 4) is None
    assert POLICY.next_delay(error, 5) is None


def test_a_dependency_outage_has_no_attempt_limit() -> None:
    wait = POLICY.next_delay(Unavailable("PostgreSQL is down"), 1000)
    assert wait is not None
    assert 0 <= wait <= POLICY.maximum_interval_s


def test_zero_attempts_sets_no_limit() -> None:
    unlimited = RetryPolicy(maximum_attempts=0)
    assert unlimited.next_delay(LLMMalformed("not JSON"), 1000) is not None


def test_permanent_errors_and_non_retryable_kinds_are_never_retried() -> None:
    assert POLICY.next_delay(LLMRejected("400"), 1) is None
    assert POLICY.next_delay(UndecodableRecord("garbage"), 1) is None
    assert POLICY.next_delay(ValueError("a bug"), 1) is None
    strict = RetryPolicy(non_retryable_kinds=frozenset({"llm_malformed"}))
    assert strict.next_delay(LLMMalformed("not JSON"), 1) is None
    assert strict.next_delay(LLMUnavailable("503"), 1) is not None


def test_aiokafka_errors_say_themselves_whether_they_are_retriable() -> None:
    assert POLICY.next_delay(RequestTimedOutError(), 1) is not None
    assert POLICY.next_delay(RequestTimedOutError(), 4) is None  # bounded like any other


def test_the_wait_grows_by_the_coefficient_up_to_the_cap_with_full_jitter() -> None:
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (9, 4.0)]:
        waits = [POLICY.interval(attempt) for _ in range(200)]
        assert all(0 <= wait <= ceiling for wait in waits), attempt
        assert max(waits) > ceiling / 2  # jittered over the range, not pinned at 0


def test_a_retry_after_is_a_floor_even_above_the_cap() -> None:
    error = LLMUnavailable("LLM answered 429", retry_after=7.0)
    assert error.retry_after == error.next_retry_delay == 7.0
    waits = [POLICY.next_delay(error, 1) for _ in range(50)]
    assert all(wait is not None and wait >= 7.0 for wait in waits)


@pytest.mark.parametrize(
    ("fields", "rule"),
    [
        ({"initial_interval_s": 0}, "initial_interval_s > 0"),
        ({"backoff_coefficient": 0.5}, "backoff_coefficient >= 1"),
        ({"initial_interval_s": 2, "maximum_interval_s": 1}, "maximum_interval_s >= initial"),
        ({"maximum_attempts": -1}, "maximum_attempts >= 0"),
    ],
)
def test_a_policy_that_makes_no_sense_is_refused_saying_why(
    fields: dict[str, float], rule: str
) -> None:
    with pytest.raises(ConfigError, match=rule):
        RetryPolicy(**fields)  # type: ignore[arg-type]
