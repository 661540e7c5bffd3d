"""Podium's errors. Handlers raise them; only the run loop decides retry, dead letter or commit.

    PodiumError                 retriable = False
    ├── PoisonRecord            a record no handler can take: to `<topic>.dlq`
    │   ├── UndecodableRecord   not an Avro event we can read
    │   ├── UnknownSchema       a schema fingerprint no kept schema has
    │   └── UnexpectedEvent     a valid event that does not belong on this topic
    ├── LLMError
    │   ├── LLMUnavailable      retriable: 429, 5xx, timeouts, connection faults
    │   ├── LLMRejected         the endpoint refused the request (4xx): permanent
    │   └── LLMMalformed        retriable: the reply was not what was asked (e.g. bad JSON)
    ├── Unavailable             retriable: a dependency (PostgreSQL, Kafka) is down
    └── ConfigError             a setting is missing or wrong: the service refuses to start

A `retriable` error is retried with exponential backoff and jitter; a permanent one is
final. Every error reads well in one log line and carries what identifies its subject.
"""

from __future__ import annotations


class PodiumError(Exception):
    retriable = False
    kind = "error"

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
        self, message: str, *, retry_after: float | None = None, **context: object
    ) -> None:
        super().__init__(message, **context)
        self.retry_after = retry_after


class LLMRejected(LLMError):
    kind = "llm_rejected"


class LLMMalformed(LLMError):
    retriable = True
    kind = "llm_malformed"


class Unavailable(PodiumError):
    retriable = True
    kind = "unavailable"


class ConfigError(PodiumError):
    kind = "config"
