"""Podium's errors. Handlers raise them; only the run loop decides retry, dead letter or commit.

    PodiumError                 retriable = False
    ├── PoisonRecord            a record no handler can take: to `<topic>.dlq`
    │   ├── UndecodableRecord   not an Avro event we can read
    │   ├── UnknownSchema       a schema fingerprint no kept schema has
    │   └── UnexpectedEvent     a valid event that does not belong on this topic
    ├── LLMError
    │   ├── LLMUnavailable      retriable: 429, 5xx, timeouts, connection faults
    │   ├── LLMRejected         the endpoint refused the request (4xx): permanent
    │   │   └── BudgetExhausted the goal's token budget has no room for the call
    │   └── LLMMalformed        retriable: the reply was not what was asked (e.g. bad JSON)
    ├── Unavailable             retriable until it ends: a dependency (PostgreSQL, Kafka) is down
    └── ConfigError             a setting is missing or wrong: the service refuses to start

An error carries what the retry policy (`podium_common.backoff.RetryPolicy`) needs, as
Temporal's `ApplicationError(non_retryable=…, next_retry_delay=…)` does: whether it is
`retriable`, its `kind`, and a `next_retry_delay` when the failure says when to try again
(a Retry-After). The policy alone decides how often and how long. Every error reads well
in one log line and carries what identifies its subject.
"""

from __future__ import annotations


class PodiumError(Exception):
    retriable = False
    kind = "error"

    # Seconds to wait before the next attempt, when the failure says so (a Retry-After).
    next_retry_delay: float | None = None

    def __init__(self, message: str, **context: object) -> None:
        self.message = message
        self.context = {key: value for key, value in context.items() if value is not None}
        details = " ".join(f"{key}={value}" for key, value in self.context.items())
        super().__init__(f"{message} ({details})" if details else message)


class PoisonRecord(PodiumError):
    kind = "poison"


class UndecodableRecord(PoisonRecord):
    kind = "undecodable"


class UnknownSchema(PoisonRecord):
    kind = "unknown_schema"


class UnexpectedEvent(PoisonRecord):
    kind = "unexpected_event"


class LLMError(PodiumError):
    kind = "llm_error"


class LLMUnavailable(LLMError):
    retriable = True
    kind = "llm_unavailable"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        served: bool = False,
        **context: object,
    ) -> None:
        super().__init__(message, **context)
        self.next_retry_delay = retry_after
        # The request may have been served (and billed) though no reply was read: it timed
        # out or lost its connection after it was sent, or its reply was unusable.
        self.served = served

    @property
    def retry_after(self) -> float | None:
        """The endpoint's Retry-After, in seconds: the next retry waits at least this long."""
        return self.next_retry_delay


class LLMRejected(LLMError):
    kind = "llm_rejected"


# The planner's rejection of a goal whose budget has no room for its plan.
BUDGET_SPENT = "the goal's token budget is spent"


class BudgetExhausted(LLMRejected):
    """The call would take the goal past its token budget: it was not made."""

    kind = "budget"


class LLMMalformed(LLMError):
    retriable = True
    kind = "llm_malformed"


class Unavailable(PodiumError):
    retriable = True
    kind = "unavailable"


class ConfigError(PodiumError):
    kind = "config"


def kind_of(error: BaseException) -> str:
    """The error's kind: ours, or the exception's class name (e.g. aiokafka's)."""
    return error.kind if isinstance(error, PodiumError) else type(error).__name__


def is_retriable(error: BaseException) -> bool:
    """Ours and aiokafka's errors say whether they are worth retrying; others are not."""
    return bool(getattr(error, "retriable", False))


def next_retry_delay(error: BaseException) -> float | None:
    """The delay the error asks for before the next attempt, if it carries one."""
    value = getattr(error, "next_retry_delay", None)
    return float(value) if isinstance(value, int | float) else None
