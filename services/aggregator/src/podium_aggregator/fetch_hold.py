"""How long the broker may hold each of the aggregator's fetches, chosen per fetch.

The broker answers a fetch as soon as a record arrives on any partition it asks for, else
after the hold. A fetch that asks for every partition the agent reads can therefore be held
long: whatever arrives ends it at once. Only a fetch that leaves one of them out (its
records fetched and not yet taken, paused, its position being reset) must end soon, for a
record on the partition left out waits for it: aiokafka sends one fetch at a time to a
broker. Held 20 ms always, an idle aggregator fetched 50 times a second, at about 1 ms of
CPU each; held `IDLE_HOLD_MS` when nothing is left out, a few times a second.

What the hold does not see: a partition sought back while a long fetch is in flight (the
consumer's rewind after a stall, rare and slow itself) is fetched from its new position
only after that fetch, at most `IDLE_HOLD_MS` later. A partition paused or awaiting an
offset reset is left out, so the fetch is short; a new assignment cancels the fetches in
flight. The table's changelog partitions are not read by the agent: faust fetches them
and never takes their records, so they are left out of most fetches and do not count.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

# The hold while a partition the agent reads is left out of the fetch (aiokafka's
# `fetch_max_wait_ms`, which faust fixes at 1.5 s).
SHORT_HOLD_MS = 20
# The hold of a fetch that asks for every partition the agent reads.
IDLE_HOLD_MS = 500


def asked_by(request: Any) -> set[tuple[str, int]]:
    """The partitions a fetch request asks for (aiokafka's `FetchRequest.topics`)."""
    return {(topic, entry[0]) for topic, entries in request.topics for entry in entries}


def hold_per_fetch(fetcher: Any, ignored_topics: Collection[str]) -> None:
    """Makes a started aiokafka consumer's fetcher choose each fetch's hold: `IDLE_HOLD_MS`
    unless the fetch leaves out a partition of its broker that the agent reads (one not of
    `ignored_topics`, the changelogs), then `SHORT_HOLD_MS`."""
    plan: Callable[[Any], tuple[Any, ...]] = fetcher._get_actions_per_node

    def planned(assignment: Any) -> tuple[Any, ...]:
        requests, *rest = plan(assignment)
        for node_id, request in requests:
            asked = asked_by(request)
            left_out = any(
                (tp.topic, tp.partition) not in asked
                and tp.topic not in ignored_topics
                and fetcher._select_read_replica(tp) == node_id
                for tp in assignment.tps
            )
            request._max_wait_ms = SHORT_HOLD_MS if left_out else IDLE_HOLD_MS
        return (requests, *rest)

    fetcher._get_actions_per_node = planned
