"""Prometheus metrics every service exports on `/metrics` (`podium_common.health`).

The run loop counts what each consumer group does with its records; the LLM client times
its calls and counts tokens under the OpenTelemetry GenAI metric names
(`gen_ai.client.operation.duration`, `gen_ai.client.token.usage`, written the Prometheus
way with `_` and the unit) and their cost (`podium_llm_cost_total`); the aggregator counts
goals by final status.

On the hot path a record costs a few increments of label children bound once per topic
(`TopicMetrics`), and an LLM call those bound once per model: never a label lookup per
record or call.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from podium_common.events import Event, GoalCompleted, GoalFailed

# Seconds: from a millisecond up to an LLM call's timeout.
_SECONDS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
# Tokens, the buckets the GenAI semantic conventions advise.
_TOKENS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576)

RECORDS = Counter(
    "podium_records_handled_total",
    "Records a consumer group finished, by topic and outcome (handled | dead_lettered).",
    ["group", "topic", "outcome"],
)
HANDLER_SECONDS = Histogram(
    "podium_handler_seconds",
    "Time to handle a record and publish what it produced, per attempt.",
    ["group", "topic"],
    buckets=_SECONDS,
)
IN_FLIGHT = Gauge(
    "podium_records_in_flight",
    "Records a consumer group is handling right now in this process.",
    ["group"],
)
RETRIES = Counter(
    "podium_retries_total",
    "Attempts of a record that failed and were tried again, by error kind.",
    ["group", "topic", "kind"],
)
DEAD_LETTERS = Counter(
    "podium_dead_letters_total",
    "Records parked in `<topic>.dlq`, by error kind.",
    ["group", "topic", "kind"],
)
LAG = Gauge(
    "podium_consumer_lag",
    "Records on a partition past this consumer's position (high watermark minus position).",
    ["group", "topic", "partition"],
)
LLM_SECONDS = Histogram(
    "gen_ai_client_operation_duration_seconds",
    "Duration of an LLM call (GenAI semantic conventions), retries within the call included.",
    ["gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "error_type"],
    buckets=_SECONDS,
)
LLM_TOKENS = Histogram(
    "gen_ai_client_token_usage",
    "Tokens one LLM call used, by type (input | output).",
    ["gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "gen_ai_token_type"],
    buckets=_TOKENS,
)
LLM_COST = Counter(
    "podium_llm_cost_total",
    "What LLM calls cost, by model, in the currency of PODIUM_PRICES (priced models only).",
    ["gen_ai_request_model"],
)
GOALS = Counter(
    "podium_goals_total",
    "Goal runs that ended, by final status (completed | failed) and failure kind.",
    ["status", "kind"],
)
GOAL_SECONDS = Histogram(
    "podium_goal_duration_seconds",
    "End-to-end time of a goal run, from its submission to its outcome.",
    ["status"],
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
GC_PAUSE_SECONDS = Histogram(
    "podium_gc_pause_seconds",
    "Time the cyclic garbage collector held the process, by generation collected.",
    ["generation"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)


@dataclass(frozen=True)
class TopicMetrics:
    """A consumer group's counters for one topic, bound once."""

    group: str
    topic: str
    handled: Counter
    parked: Counter
    seconds: Histogram

    def retried(self, kind: str) -> None:
        RETRIES.labels(self.group, self.topic, kind).inc()

    def dead_lettered(self, kind: str) -> None:
        self.parked.inc()
        DEAD_LETTERS.labels(self.group, self.topic, kind).inc()


@cache
def topic_metrics(group: str, topic: str) -> TopicMetrics:
    return TopicMetrics(
        group=group,
        topic=topic,
        handled=RECORDS.labels(group, topic, "handled"),
        parked=RECORDS.labels(group, topic, "dead_lettered"),
        seconds=HANDLER_SECONDS.labels(group, topic),
    )


PROVIDER = "openai"  # any OpenAI-compatible endpoint: the API spoken, as the conventions say


@cache
def _llm_seconds(model: str, error: str) -> Histogram:
    return LLM_SECONDS.labels("chat", PROVIDER, model, error)


@cache
def _llm_tokens(model: str, kind: str) -> Histogram:
    return LLM_TOKENS.labels("chat", PROVIDER, model, kind)


@cache
def _llm_cost(model: str) -> Counter:
    return LLM_COST.labels(model)


def llm_call(model: str, seconds: float, error: str = "") -> None:
    _llm_seconds(model, error).observe(seconds)


def llm_tokens(
    model: str, input_tokens: int, output_tokens: int, cost: float | None = None
) -> None:
    _llm_tokens(model, "input").observe(input_tokens)
    _llm_tokens(model, "output").observe(output_tokens)
    if cost is not None:
        _llm_cost(model).inc(cost)


def goals_ended(events: Iterable[Event]) -> None:
    """Counts the outcomes among events the aggregator has published."""
    for event in events:
        if isinstance(event, GoalCompleted):
            status, kind = "completed", ""
        elif isinstance(event, GoalFailed):
            status, kind = "failed", event.kind
        else:
            continue
        GOALS.labels(status, kind).inc()
        GOAL_SECONDS.labels(status).observe(event.totals.wall_ms / 1000)


class GcPauses:
    """Times each collection of the cyclic garbage collector into `GC_PAUSE_SECONDS`
    (`gc.callbacks`): a pause holds every record and LLM call of the process, so a tail
    that every hop shares at once shows here if the collector caused it. About a
    microsecond a collection, with the generations' children bound once."""

    def __init__(self) -> None:
        self._by_generation = [GC_PAUSE_SECONDS.labels(str(n)) for n in range(3)]
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self._by_generation[info["generation"]].observe(time.perf_counter() - self._started)

    def install(self) -> None:
        """Once per process: a second install would count every pause twice."""
        if not any(isinstance(callback, GcPauses) for callback in gc.callbacks):
            gc.callbacks.append(self)
