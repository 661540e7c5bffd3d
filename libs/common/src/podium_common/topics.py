"""Every Kafka topic Podium uses, in flow order: the one place their names live.

goals → plans → tasks.<type> → results → approvals → outputs, each with a dead-letter twin
`<topic>.dlq`.

`goals`, `plans`, `results`, `approvals` and `outputs` are keyed by goal id, so one goal's
events stay in order and `goals`/`plans`/`results`/`approvals` are co-partitioned for the
aggregator's join. `approvals` holds what waits for a person and the people's decisions.
`tasks.<type>` is keyed by task id, so one goal's independent tasks spread over the whole
consumer group.

A `Topics` carries an optional prefix, so that tests and parallel environments can share
one broker without sharing topics or consumer groups.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class TaskType(StrEnum):
    """The kinds of worker; each has its own topic and consumer group."""

    RESEARCHER = "researcher"
    SPECIALIST = "specialist"
    VALIDATOR = "validator"
    SYNTHESIZER = "synthesizer"


GOALS = "goals"
PLANS = "plans"
TASKS = tuple(f"tasks.{task_type.value}" for task_type in TaskType)
RESULTS = "results"
APPROVALS = "approvals"
OUTPUTS = "outputs"
DLQ_SUFFIX = ".dlq"

# Flow order; every one of these has a dead-letter twin.
ALL: tuple[str, ...] = (GOALS, PLANS, *TASKS, RESULTS, APPROVALS, OUTPUTS)

# Not part of the goal log: each consumer process's latest heartbeat, keyed by worker id,
# compacted (`podium_common.heartbeat`). No dead-letter twin; the recorder does not read it.
HEARTBEATS = "heartbeats"

# Keyed by goal id and joined by the aggregator: their partition counts must match.
CO_PARTITIONED: tuple[str, ...] = (GOALS, PLANS, RESULTS, APPROVALS)


def task_topic(task_type: TaskType) -> str:
    return f"tasks.{task_type.value}"


def dlq(topic: str) -> str:
    return topic + DLQ_SUFFIX


@dataclass(frozen=True)
class Topics:
    """Topic and consumer-group names under one prefix (empty in production)."""

    prefix: str = ""

    @property
    def goals(self) -> str:
        return self.prefix + GOALS

    @property
    def plans(self) -> str:
        return self.prefix + PLANS

    @property
    def results(self) -> str:
        return self.prefix + RESULTS

    @property
    def approvals(self) -> str:
        return self.prefix + APPROVALS

    @property
    def outputs(self) -> str:
        return self.prefix + OUTPUTS

    @property
    def heartbeats(self) -> str:
        return self.prefix + HEARTBEATS

    def tasks(self, task_type: TaskType) -> str:
        return self.prefix + task_topic(task_type)

    def dlq(self, topic: str) -> str:
        """The dead-letter topic of an already prefixed topic name."""
        return dlq(topic)

    def all(self, *, with_dlq: bool = True) -> list[str]:
        names = [self.prefix + name for name in ALL]
        if with_dlq:
            names += [dlq(name) for name in names]
        return names

    def created(self) -> list[str]:
        """Every topic `podium topics create` makes: the goal log, its dead letters, and
        the heartbeats."""
        return [*self.all(), self.heartbeats]

    def group(self, service: str) -> str:
        """The consumer group of a service, e.g. `worker-researcher`."""
        return f"{self.prefix}podium-{service}"

    def unprefixed(self, topic: str) -> str:
        """The contract name of a prefixed topic (`t1.tasks.researcher` → `tasks.researcher`)."""
        return topic.removeprefix(self.prefix)
