"""Incremental fetch sessions (KIP-227) for aiokafka's consumers.

aiokafka sends every fetch whole: each of the consumer's partitions is in the request,
and in the response, whether it brought records or not. Encoding and decoding those cost a
consumer of 24 partitions about 0.4 ms of CPU a fetch (the broker its own share again),
paid for every record at moderate rates, where each fetch brings one. With a session the
broker keeps the partitions and their fetch offsets: a request names only the partitions
new to it or with another offset (and those to forget), a response only the partitions
with something new.

The client's side, as Kafka's own (`FetchSessionHandler` of the Java client):
- a session's first request is whole, with epoch 0; the broker answers with the session's
  id (0: it made none, and the next request is whole again);
- each request after it carries the id and the next epoch, the partitions new or moved,
  and as forgotten those no longer fetched (paused, records still waiting to be taken,
  revoked): the broker answers for exactly the partitions the consumer asked for;
- the broker holds each partition at the offset last sent for it, so a partition whose
  position moved (records taken, a seek) is sent again;
- an error of the session, or a request that failed or was cancelled (its answer unknown),
  makes the next request whole.

`install()` makes every aiokafka consumer the process starts from then on (faust's too)
fetch this way; `install(False)` puts aiokafka's own fetcher back.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiokafka.consumer.consumer
from aiokafka.consumer.fetcher import Fetcher
from aiokafka.protocol.fetch import FetchRequest, FetchRequestStruct

log = logging.getLogger(__name__)
T = TypeVar("T")

# (topic, partition) → (fetch offset, max bytes): what a fetch asks of each partition.
Partitions = dict[tuple[str, int], tuple[int, int]]
Topics = list[tuple[str, list[tuple[int, int, int]]]]

FIRST_SESSION_VERSION = 7  # FetchRequest v7 brought sessions
SESSION_ID_NOT_FOUND = 70
MAX_EPOCH = 2**31 - 1


@dataclass(frozen=True)
class Ask:
    """One request's session fields: what goes on the wire."""

    session_id: int
    epoch: int
    send: Partitions
    forget: list[tuple[str, int]]


@dataclass
class FetchSession:
    """One broker's fetch session, as this consumer keeps it."""

    id: int = 0
    epoch: int = 0  # 0: the next request is whole
    # The partitions the broker holds for the session, as the last answered request left them.
    held: Partitions = field(default_factory=dict)
    # The partitions of the request in flight; held once it is answered.
    asked: Partitions | None = None

    def ask(self, wanted: Partitions) -> Ask:
        self.asked = wanted
        if self.epoch == 0:
            return Ask(self.id, 0, wanted, [])
        send = {tp: fetch for tp, fetch in wanted.items() if self.held.get(tp) != fetch}
        forget = [tp for tp in self.held if tp not in wanted]
        return Ask(self.id, self.epoch, send, forget)

    def answered(self, error_code: int, session_id: int) -> None:
        """The broker's answer to the request in flight (its top-level error and session id)."""
        asked, self.asked = self.asked, None
        if asked is None:  # restarted while the request was in flight
            return
        if error_code:
            log.info("fetch session %d ended by the broker (error %d)", self.id, error_code)
            self.restart(forget_id=error_code == SESSION_ID_NOT_FOUND)
            return
        if self.epoch == 0:
            self.id = session_id
            self.epoch = 1 if session_id else 0
        else:
            self.epoch = 1 if self.epoch == MAX_EPOCH else self.epoch + 1
        self.held = asked if self.id else {}

    def restart(self, *, forget_id: bool = False) -> None:
        """The next request is whole: with the session's id, it closes that session on the
        broker and opens another; without (the broker no longer knows it), it opens one."""
        self.epoch, self.held, self.asked = 0, {}, None
        if forget_id:
            self.id = 0


def partitions_of(topics: Topics) -> Partitions:
    return {
        (topic, partition): (offset, max_bytes)
        for topic, partitions in topics
        for partition, offset, max_bytes in partitions
    }


def by_topic(items: Iterable[tuple[str, T]]) -> list[tuple[str, list[T]]]:
    """(topic, item) pairs as the protocol lists them: each topic once, with its items."""
    grouped: dict[str, list[T]] = defaultdict(list)
    for topic, item in items:
        grouped[topic].append(item)
    return list(grouped.items())


def topics_of(partitions: Partitions) -> Topics:
    return by_topic(
        (topic, (partition, offset, max_bytes))
        for (topic, partition), (offset, max_bytes) in partitions.items()
    )


class SessionFetchRequest(FetchRequest):  # type: ignore[misc]  # aiokafka: untyped here
    """aiokafka's fetch request, sent within a session. `topics` stays every partition
    asked for (aiokafka reads the response against it); the wire carries the session's
    changes."""

    def __init__(self, whole: FetchRequest, session: FetchSession) -> None:
        super().__init__(
            whole._max_wait_ms,
            whole._min_bytes,
            whole._max_bytes,
            whole._isolation_level,
            whole.topics,
            rack_id=whole._rack_id,
        )
        self.session = session
        self.ask = session.ask(partitions_of(whole.topics))

    def build(self, request_struct_class: type[FetchRequestStruct]) -> FetchRequestStruct:
        if request_struct_class.API_VERSION < FIRST_SESSION_VERSION:
            return super().build(request_struct_class)  # a broker without sessions
        ask = self.ask
        changes = FetchRequest(
            self._max_wait_ms,
            self._min_bytes,
            self._max_bytes,
            self._isolation_level,
            topics_of(ask.send),
            rack_id=self._rack_id,
        )
        struct = changes.build(request_struct_class)
        fields = struct.__dict__
        fields["session_id"] = ask.session_id
        fields["session_epoch"] = ask.epoch
        fields["forgotten_topics_data"] = by_topic(ask.forget)
        return struct


class SessionClient:
    """The consumer's client as its fetcher sees it: a fetch's answer (or its failure)
    reaches the fetch's session before aiokafka reads it."""

    def __init__(self, client: Any) -> None:
        self._client = client
        # Read for every partition of every fetch: bound here, not looked up through
        # `__getattr__` each time (the client makes it once).
        self.cluster = client.cluster

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def send(self, node_id: int, request: Any, **kwargs: Any) -> Any:
        if not isinstance(request, SessionFetchRequest):
            return await self._client.send(node_id, request, **kwargs)
        try:
            response = await self._client.send(node_id, request, **kwargs)
        except BaseException:
            request.session.restart()
            raise
        if response.API_VERSION < FIRST_SESSION_VERSION:
            request.session.restart(forget_id=True)
        else:
            request.session.answered(response.error_code, response.session_id)
        return response


class SessionFetcher(Fetcher):  # type: ignore[misc]  # aiokafka's fetcher is untyped
    """aiokafka's fetcher, each broker's fetches in one session."""

    def __init__(self, client: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(client, *args, **kwargs)
        # Before the fetch task, made above, first runs.
        self._client = SessionClient(client)
        self._sessions: defaultdict[int, FetchSession] = defaultdict(FetchSession)

    def _get_actions_per_node(self, assignment: Any) -> tuple[Any, ...]:
        requests, *rest = super()._get_actions_per_node(assignment)
        in_sessions = [
            (node_id, SessionFetchRequest(request, self._sessions[node_id]))
            for node_id, request in requests
        ]
        return (in_sessions, *rest)


def install(enabled: bool = True) -> None:
    """Every aiokafka consumer started from now on fetches in sessions (or, `enabled=False`,
    as aiokafka does)."""
    aiokafka.consumer.consumer.Fetcher = SessionFetcher if enabled else Fetcher
